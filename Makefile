# The two commands of the README:
#   make demo   -- install, generate the demo data, run the demo notebooks plain and with reuse, print the table
#   make test   -- install, run the whole test suite (what .ci/run calls), then the unit and kernel
#                  tests again under pandas 2.2
# Everything is installed into .venv by `make setup`; a fresh machine needs only Python, Node and npm.
# As root, `make hub-env` (part of `make test`) also builds the JupyterHub tests' single-user environment
# (jupyterhub and a wheel of collab_reuse in a venv of /usr/bin/python3) and configurable-http-proxy
# (npm), cached in /opt/collab-reuse-hub-env; see scripts/hub-env.sh and tests/hub.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: setup hub-env demo test test-fast bench clean

# (re-made when the panel's sources change too: the editable install builds the panel once)
$(VENV)/.installed: pyproject.toml labextension/package.json $(wildcard labextension/src/*.ts labextension/style/*.css)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[test]"
	bash scripts/install-browser.sh
	touch $@

setup: $(VENV)/.installed

# After setup: the wheel it builds reuses the JupyterLab panel that setup's install built.
hub-env: setup
	@if [ "$$(id -u)" = "0" ]; then bash scripts/hub-env.sh >/dev/null; \
	else echo "hub-env: not root, the JupyterHub tests (tests/hub) will be skipped"; fi

demo: setup
	$(PY) -m collab_reuse.demo $(DEMO_ARGS)

test: setup hub-env
	$(PY) -m pytest -ra $(PYTEST_ARGS)
	bash scripts/test-pandas22.sh $(PY)

test-fast: setup
	$(PY) -m pytest -ra -m "not browser and not kernel and not hub" $(PYTEST_ARGS)

bench: setup
	$(PY) -m collab_reuse.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist .pytest_cache demo-data .bench
