"""Running a config's notebooks into ``reports/<run>/`` (:func:`run_config`) and the
``xqg-lab`` command line (:mod:`xqg_lab.runner.cli`).

Modules: :mod:`.run` (a run: staging, reuse, manifest), :mod:`.notebooks` (executing one
notebook), :mod:`.provenance` (environment, fingerprints, reuse decisions), :mod:`.folders`
(staging swap, leftovers of killed runs), :mod:`.index_page` (the run's ``index.html``),
:mod:`.kernel` (the kernel launcher).
"""

from xqg_lab.runner.notebooks import (
    DEFAULT_CELL_TIMEOUT,
    NOTEBOOK_DIR,
    NotebookFailed,
    NotebookWarning,
    RunFailed,
    check_parameters,
    find_notebook,
    with_output_dir,
)
from xqg_lab.runner.run import run_config

__all__ = [
    "DEFAULT_CELL_TIMEOUT",
    "NOTEBOOK_DIR",
    "NotebookFailed",
    "NotebookWarning",
    "RunFailed",
    "check_parameters",
    "find_notebook",
    "run_config",
    "with_output_dir",
]
