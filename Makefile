PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# A plain (non-editable) install, as a user gets it.
$(VENV)/.installed: $(BIN)/python pyproject.toml $(shell find bot templates -type f -not -name '*.pyc')
	rm -rf build  # setuptools' build cache would ship modules that were since removed
	$(BIN)/python -m pip install --quiet ".[test]"
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps .
	touch $@

demo: $(VENV)/.installed
	$(BIN)/incident-bot demo

test: $(VENV)/.installed
	$(BIN)/pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check bot tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
