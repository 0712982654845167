import sys

from xqg_lab.runner.cli import main

sys.exit(main())
