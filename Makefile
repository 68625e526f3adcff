PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := $(wildcard plugins/*/pyproject.toml)
PLUGIN_PACKAGES := $(patsubst %/__init__.py,%,$(wildcard plugins/*/coderouter_*/__init__.py))
STAMP := $(VENV)/.installed

.PHONY: install serve test lint typecheck unit bench clean

EDITABLES := . $(dir $(PLUGINS)) contrib/example-plugin
INSTALL_LOG := $(VENV)/install.log
# pip -q does not quiet the build backend: setuptools prints a screen of warnings per editable
# package. PYTHONWARNINGS reaches the backend's subprocess; the full output goes to the log and
# is shown (less pip's notes on configured index folders that do not exist) only on failure.
PIP_QUIET := PYTHONWARNINGS=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
SHOW_LOG := { echo "failed" >&2; grep -v "is ignored: it is neither a file nor a directory" $(INSTALL_LOG) >&2; \
	echo "install failed; full log: $(INSTALL_LOG)" >&2; exit 1; }

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV)
	@$(PIP_QUIET) $(BIN)/python -m pip install -q --upgrade pip >$(INSTALL_LOG) 2>&1 || $(SHOW_LOG)

$(STAMP): $(BIN)/python pyproject.toml $(PLUGINS) contrib/example-plugin/pyproject.toml
	@printf 'installing CodeRouter, %s plugins and the example plugin into %s (editable) ... ' \
		"$(words $(PLUGINS))" "$(VENV)"
	@# A distribution named coderouter (another project on PyPI) would own coderouter/ too.
	@$(BIN)/python -m pip uninstall -y -q coderouter >/dev/null 2>&1 || true
	@$(PIP_QUIET) $(BIN)/python -m pip install -q -e '.[test]' \
		$(foreach p,$(filter-out .,$(EDITABLES)),-e $(p)) >$(INSTALL_LOG) 2>&1 || $(SHOW_LOG)
	@touch $(STAMP)
	@echo "done (log: $(INSTALL_LOG))"

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/coderouter serve $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check coderouter plugins tests contrib bench
	$(BIN)/ruff format --check coderouter plugins tests contrib bench
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy coderouter $(PLUGIN_PACKAGES) contrib/example-plugin/coderouter_example

unit: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
