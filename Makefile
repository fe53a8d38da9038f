# The make targets are the project's interface (README). Every target that needs
# Python packages creates .venv first, from pyproject.toml, with the machine's python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint types preview serve bench build deploy soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## The weekly audit end to end on one machine: moto + the local X stand-in.
demo: $(STAMP)
	$(BIN)/followthrough demo --out out

## Lint, types, template lint and the whole test suite.
test: lint types
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check shared functions tests bench
	$(BIN)/cfn-lint template.yaml

types: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) out .aws-sam .pytest_cache .mypy_cache .ruff_cache

## Render the demo subscriber's digest to out/digest.{html,txt,eml}.
preview: $(STAMP)
	$(BIN)/followthrough preview --out out

## The sign-up API on http://127.0.0.1:$${PORT:-8000}, with moto and the local X stand-in.
serve: $(STAMP)
	$(BIN)/followthrough serve
