# The two commands of the README:
#   make demo   -- install, generate the demo data, run the demo notebooks plain and with reuse, print the table
#   make test   -- install, run the whole test suite (what .ci/run calls), then the unit and kernel
#                  tests again under pandas 2.2
# Everything is installed into .venv by `make setup`; a fresh machine needs only Python, Node and npm.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: setup demo test test-fast bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[test]"
	bash scripts/install-browser.sh
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m collab_reuse.demo $(DEMO_ARGS)

test: setup
	$(PY) -m pytest -ra $(PYTEST_ARGS)
	bash scripts/test-pandas22.sh $(PY)

test-fast: setup
	$(PY) -m pytest -ra -m "not browser and not kernel" $(PYTEST_ARGS)

bench: setup
	$(PY) -m collab_reuse.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist .pytest_cache demo-data .bench
