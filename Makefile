# The make targets are the project's interface (README). Every target that needs
# Python packages creates .venv first, exactly as uv.lock says, with the machine's python3.
PYTHON ?= python3
# uv (pinned, hash-checked, in a bootstrap venv of its own) installs from the lock; it never
# downloads a Python: the machine's is the one.
UV_VENV := .venv-uv
UV_BIN := $(abspath $(UV_VENV))/bin/uv
UV := UV_PYTHON_DOWNLOADS=never $(UV_BIN)
UV_STAMP := $(UV_VENV)/.installed
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# aws-sam-cli pins boto3 and pydantic versions that clash with the project's,
# so it lives in a virtual environment of its own, from its own hashed requirements.
SAM_VENV := .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
# `ruff format --check` is part of lint (FORMAT_CHECK= turns it off for a quick look)
FORMAT_CHECK ?= 1
# The test tiers (pytest markers, pyproject.toml), fastest first: `make test` stops at the first that fails.
UNIT := not template and not integration and not browser and not spam and not soak
# The unit tests run on every core (pytest-xdist; a module's tests stay on one worker): UNIT_WORKERS=0 for one process.
UNIT_WORKERS ?= auto
# Python's and pytest's bytecode caches (gitignored) are written even where PYTHONDONTWRITEBYTECODE is set: without
# them every test worker compiles each module it imports, and rewrites each test module, again on every run.
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -q

.PHONY: venv lock demo test lint format-check unit types template integration browser spam soak-test preview serve \
	build deploy soak clean

$(UV_STAMP): requirements/uv.txt
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet --no-deps --require-hashes -r requirements/uv.txt
	touch $(UV_STAMP)

# --compile-bytecode: the installed packages' .pyc files are written once, here. Without them every Python process
# (each test worker, each subprocess a test starts) compiles boto3, moto and the rest from source again, and where
# PYTHONDONTWRITEBYTECODE is set (as on the shared machine) it never stops doing so.
$(STAMP): $(UV_STAMP) uv.lock pyproject.toml devkit/pyproject.toml Makefile
	$(UV) sync --quiet --locked --all-packages --extra dev --compile-bytecode --python $(PYTHON)
	touch $(STAMP)

venv: $(STAMP)

$(SAM_STAMP): $(UV_STAMP) requirements/sam.txt
	$(PYTHON) -m venv --without-pip $(SAM_VENV)
	$(UV) pip sync --quiet --require-hashes --python $(SAM_VENV)/bin/python requirements/sam.txt
	touch $(SAM_STAMP)

## Refresh the lock files after a change of dependencies in a pyproject.toml or requirements/*.in.
lock: $(UV_STAMP)
	$(UV) lock --python $(PYTHON)
	$(UV) pip compile --quiet --universal --generate-hashes --python-version 3.11 requirements/uv.in -o requirements/uv.txt
	$(UV) pip compile --quiet --universal --generate-hashes --python-version 3.11 requirements/sam.in -o requirements/sam.txt

## The weekly audit end to end on one machine: moto + the local X stand-in.
demo: $(STAMP)
	$(BIN)/followthrough-dev demo --out out

## Every gate, fastest first, stopping at the first that fails.
test: $(STAMP)
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory types
	$(MAKE) --no-print-directory template
	$(MAKE) --no-print-directory integration
	$(MAKE) --no-print-directory browser
	$(MAKE) --no-print-directory spam
	$(MAKE) --no-print-directory soak-test

## Python lint (ruff), and the lock file still matching the pyproject.toml files.
lint: $(STAMP)
	$(BIN)/ruff check shared devkit functions tests bench
	$(if $(FORMAT_CHECK),$(MAKE) --no-print-directory format-check)
	$(UV) lock --check --python $(PYTHON) --quiet

format-check: $(STAMP)
	$(BIN)/ruff format --check shared devkit functions tests bench

## The unit tests: in-process, no servers, no outside programs (about 50 seconds for 672 tests on 2 cores).
unit: $(STAMP)
	$(PYTEST) -n $(UNIT_WORKERS) --dist loadscope -m "$(UNIT)"

types: $(STAMP)
	$(BIN)/mypy

## The SAM template: cfn-lint, sam validate, and its tests (translated, deployed into moto, each function's
## environment and role against the calls it makes).
template: $(STAMP) $(SAM_STAMP)
	$(BIN)/cfn-lint template.yaml
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(SAM) validate --lint
	$(PYTEST) -n $(UNIT_WORKERS) -m "template"

## Against a real moto server and the local X stand-in over HTTP.
integration: $(STAMP)
	$(PYTEST) -m "integration and not browser and not soak"

## Debian's chromium through Playwright (with CI=true a missing chromium fails, never skips).
browser: $(STAMP)
	$(PYTEST) -m "browser"

## The digest scored by Debian's spamassassin, local rules only (with CI=true a missing one fails, never skips).
spam: $(STAMP)
	$(PYTEST) -m "spam"

## The small soak run (24 subscribers, high fault rates); `make soak` is the full one.
soak-test: $(STAMP)
	$(PYTEST) -m "soak"

clean:
	rm -rf $(VENV) $(UV_VENV) out .aws-sam .pytest_cache .mypy_cache .ruff_cache

## Render the demo subscriber's digest to out/digest.{html,txt,eml}.
preview: $(STAMP)
	$(BIN)/followthrough-dev preview --out out

## The sign-up API on http://127.0.0.1:$${PORT:-8000}, with moto and the local X stand-in.
serve: $(STAMP)
	$(BIN)/followthrough-dev serve

## Build every function and the dependencies layer for Lambda (python3.12, arm64) without Docker.
build: $(UV_STAMP) $(SAM_STAMP)
	PYTHON=$(abspath $(SAM_VENV))/bin/python UV="$(UV)" $(SAM) build
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
