# Two entry points for a fresh machine; both create or reuse .venv themselves.
#   make demo   run the papermill pipeline of configs/demo.yaml into reports/demo/
#   make test   run the test suite
PYTHON ?= python3
VENV   ?= .venv
CONFIG ?= configs/demo.yaml
STAMP  := $(VENV)/.installed

.PHONY: demo test env bench
env: $(STAMP)

# torch==2.13.0 first: on the build machines it is a local CPU wheel; with it in place,
# the `torch>=2.4` requirement of the project installs nothing more.
$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet torch==2.13.0 || $(VENV)/bin/python -m pip install --quiet torch
	$(VENV)/bin/python -m pip install --quiet -e '.[test,bench,embedded-generator,scale]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/xqg-lab run $(CONFIG)

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/python bench/run_all.py
