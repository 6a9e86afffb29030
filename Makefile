PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test property mutation lint clean rebuild-venv

# A .venv made with a Python older than 3.11 (made before python3 was upgraded, or with PYTHON=...)
# cannot run the bot: it is made again.
VENV_SUPPORTED := $(shell $(BIN)/python -c 'import sys; print(int(sys.version_info >= (3, 11)))' 2>/dev/null)

$(BIN)/python: $(if $(filter 1,$(VENV_SUPPORTED)),,rebuild-venv)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "incident-bot needs Python 3.11 or newer: make PYTHON=python3.11 ...")'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# A plain (non-editable) install, as a user gets it.
$(VENV)/.installed: $(BIN)/python pyproject.toml sandbox/pyproject.toml $(shell find bot templates sandbox -type f -not -name '*.pyc')
	rm -rf build sandbox/build  # setuptools' build cache would ship modules that were since removed
	$(BIN)/python -m pip install --quiet ".[test]" ./sandbox
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps . ./sandbox
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python -m sandbox.demo

# Two processes: most of the suite waits on HTTP round trips, and it is safe in parallel (free ports,
# a Redis key prefix per test, files under tmp_path).
test: $(VENV)/.installed
	$(BIN)/pytest -q -n 2

# The quick-action properties with every generated text (make test draws 3% of them).
property: $(VENV)/.installed
	PROPERTY_SCALE=1 $(BIN)/pytest -q tests/test_quick_actions_property.py

# Mutation testing (slow, not part of make test): score per module and the survivors; see docs/testing.md.
mutation: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet "mutmut>=3.8,<4"
	$(BIN)/python tools/mutation.py $(MODULES)

lint: $(VENV)/.installed
	$(BIN)/ruff check bot sandbox tests benchmarks

clean:
	rm -rf $(VENV) build sandbox/build *.egg-info sandbox/*.egg-info
