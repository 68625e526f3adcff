PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := $(wildcard plugins/*/pyproject.toml)
PLUGIN_PACKAGES := $(patsubst %/__init__.py,%,$(wildcard plugins/*/coderouter_*/__init__.py))
STAMP := $(VENV)/.installed

.PHONY: install serve test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml $(PLUGINS) contrib/example-plugin/pyproject.toml
	@# A distribution named coderouter (another project on PyPI) would own coderouter/ too.
	@$(BIN)/python -m pip uninstall -y -q coderouter >/dev/null 2>&1 || true
	$(BIN)/python -m pip install -q -e '.[test]' $(foreach p,$(PLUGINS),-e $(dir $(p))) -e contrib/example-plugin
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/coderouter serve $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check coderouter plugins tests contrib bench
	$(BIN)/ruff format --check coderouter plugins tests contrib bench

typecheck: $(STAMP)
	$(BIN)/mypy coderouter $(PLUGIN_PACKAGES) contrib/example-plugin/coderouter_example

unit: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
