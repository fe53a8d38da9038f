# The make targets are the project's interface (README). Every target that needs
# Python packages creates .venv first, from pyproject.toml, with the machine's python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# aws-sam-cli pins boto3 and pydantic versions that clash with the project's,
# so it lives in a virtual environment of its own.
SAM_VENV := .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed

.PHONY: venv demo test lint types preview serve build deploy soak clean

$(STAMP): pyproject.toml devkit/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./devkit
	touch $(STAMP)

venv: $(STAMP)

$(SAM_STAMP):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli>=1.130,<2'
	touch $(SAM_STAMP)

## The weekly audit end to end on one machine: moto + the local X stand-in.
demo: $(STAMP)
	$(BIN)/followthrough-dev demo --out out

## Lint, types, template lint and the whole test suite.
test: lint types
	$(BIN)/pytest -q

lint: $(STAMP) $(SAM_STAMP)
	$(BIN)/ruff check shared devkit functions tests bench
	$(BIN)/cfn-lint template.yaml
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(SAM) validate --lint

types: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) out .aws-sam .pytest_cache .mypy_cache .ruff_cache

## Render the demo subscriber's digest to out/digest.{html,txt,eml}.
preview: $(STAMP)
	$(BIN)/followthrough-dev preview --out out

## The sign-up API on http://127.0.0.1:$${PORT:-8000}, with moto and the local X stand-in.
serve: $(STAMP)
	$(BIN)/followthrough-dev serve

## Build every function and the dependencies layer for Lambda (python3.12, arm64) without Docker.
build: $(SAM_STAMP)
	PYTHON=$(abspath $(SAM_VENV))/bin/python $(SAM) build
	@echo "Unzipped sizes:"; du -sh .aws-sam/build/*/

## Deploy to the AWS account of your credentials: guided (asks and saves the parameters) the first time.
## First checks the region (REGION=..., else samconfig.toml, AWS_REGION, AWS_DEFAULT_REGION, the profile's):
## its SSM parameters, SES identity and sandbox (devkit/followthrough_devkit/predeploy.py); sam deploys there.
deploy: $(SAM_STAMP)
	$(SAM_VENV)/bin/python devkit/followthrough_devkit/predeploy.py $(if $(REGION),--region $(REGION))
	$(MAKE) build
	region=$$($(SAM_VENV)/bin/python devkit/followthrough_devkit/predeploy.py --print-region $(if $(REGION),--region $(REGION))) && \
	if grep -q '^parameter_overrides' samconfig.toml; then $(SAM) deploy --region "$$region"; \
	else $(SAM) deploy --guided --region "$$region"; fi

## The reliability and scale run (not part of the tests): writes out/soak.json.
soak: $(STAMP)
	$(BIN)/python bench/soak.py
