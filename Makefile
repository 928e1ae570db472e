# loyalty-bridge: make run | make test | make lint | make bench | make soak | make build | make deploy
SHELL := /bin/bash
.DEFAULT_GOAL := help
# Find a Python 3.13 by itself: python3.13 on PATH, else pyenv's 3.13.x.
PY313 := $(shell for c in python3.13 "$$HOME/.pyenv/versions/3.13.0/bin/python3.13"; do \
	  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; assert sys.version_info[:2]==(3,13)' 2>/dev/null; then echo $$c; exit 0; fi; done; \
	  if command -v pyenv >/dev/null 2>&1; then v=$$(pyenv versions --bare | grep -E '^3\.13(\.|$$)' | tail -1); \
	  [ -n "$$v" ] && echo "$$(pyenv root)/versions/$$v/bin/python3.13"; fi)
VENV := .venv
PY := $(VENV)/bin/python
# Tools that pin older boto3/pydantic live in their own virtualenvs, never in .venv.
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
CHECKOV_VENV := .tools/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
export SAM_CLI_TELEMETRY := 0
# `sam build` runs the python3.13 workflow: it needs a python3.13 on PATH that really is
# 3.13 (a pyenv shim may point elsewhere), so the project venv's bin goes first.
SAM_ENV := PATH="$(abspath $(VENV))/bin:$$PATH" AWS_DEFAULT_REGION="$${AWS_DEFAULT_REGION:-us-east-1}"

ARGS ?=
PYTEST_ARGS ?=

help:
	@echo "make run    - start the whole API locally on http://127.0.0.1:3000 (moto, no AWS, no Docker)"
	@echo "              options: make run ARGS='--port 3001 --param AutoJoin=false'"
	@echo "              on Talon.One (a fake one is started): make run ARGS='--platform talon-one'"
	@echo "              pages: /demo/ (storefront), /admin/ (console), /docs (Swagger UI)"
	@echo "make test   - set up and run every check and test (lint + pytest, browser tests in Chromium)"
	@echo "make lint   - ruff, ruff format --check, mypy, cfn-lint, sam validate --lint, checkov"
	@echo "make call   - one signed request: make call ARGS='GET /v1/customers/c-1/loyalty'"
	@echo "make build  - sam build (arm64 layers and functions into .aws-sam/)"
	@echo "make deploy - sam deploy --guided"
	@echo "make bench  - benchmark figures (bench/results.json)"
	@echo "make soak   - fault-injection soak through the local stack, then an audit"

$(VENV)/.installed: pyproject.toml
	@test -n "$(PY313)" || { echo "Python 3.13 not found (install python3.13 or pyenv install 3.13.0)"; exit 1; }
	$(PY313) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

$(SAM_VENV)/.installed:
	@test -n "$(PY313)" || { echo "Python 3.13 not found (install python3.13 or pyenv install 3.13.0)"; exit 1; }
	$(PY313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --upgrade pip
	$(SAM_VENV)/bin/python -m pip install -q aws-sam-cli
	touch $@

$(CHECKOV_VENV)/.installed:
	@test -n "$(PY313)" || { echo "Python 3.13 not found (install python3.13 or pyenv install 3.13.0)"; exit 1; }
	$(PY313) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q checkov
	touch $@

venv: $(VENV)/.installed
tools: $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed

# The browser tests (tests/acceptance/pages) drive Debian's Chromium and its driver, never a
# downloaded browser: installed with apt-get when missing (as root, else with sudo), silent
# when present.
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
browser:
	@if [ ! -x $(CHROMIUM) ] || [ ! -x $(CHROMEDRIVER) ]; then \
	  echo "installing Debian's chromium and chromium-driver (browser tests)"; \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# ---------------------------------------------------------------- daily use

run: venv
	$(VENV)/bin/bridge-local $(ARGS)

call: venv
	$(VENV)/bin/bridge-call $(ARGS)

# ---------------------------------------------------------------- checks

lint: venv tools
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM_ENV) $(SAM) validate --lint --template template.yaml
	@if [ -f .checkov.yaml ]; then echo "$(CHECKOV) --config-file .checkov.yaml"; \
	  $(CHECKOV) --config-file .checkov.yaml; fi

# pytest exit code 5 ("no tests collected") is a failure here too: never green on nothing.
test: lint browser
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Tests only, without the linters (quicker while developing).
pytest: venv browser
	$(PY) -m pytest -q $(PYTEST_ARGS)

# ---------------------------------------------------------------- AWS

build: venv $(SAM_VENV)/.installed
	$(SAM_ENV) $(SAM) build --template template.yaml

deploy: build
	$(SAM_ENV) $(SAM) deploy --guided

# ---------------------------------------------------------------- figures (ops: bench/)

bench: venv
	@if [ -f bench/__main__.py ]; then $(PY) -m bench $(ARGS); \
	  else echo "bench/__main__.py is not there yet"; exit 1; fi

soak: venv
	@if [ -f bench/soak.py ]; then $(PY) -m bench.soak $(ARGS); \
	  else echo "bench/soak.py is not there yet"; exit 1; fi

clean:
	rm -rf .aws-sam .local .pytest_cache .mypy_cache .ruff_cache

.PHONY: help venv tools browser run call lint test pytest build deploy bench soak clean

# ---------------------------------------------------------------- contract (ops: tools/openapi.py)

# Regenerate openapi.yaml from the route code (tests/ops/test_openapi.py fails when stale).
openapi: venv
	$(PY) tools/openapi.py

.PHONY: openapi
