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
export SAM_CLI_TELEMETRY := 0

help:
	@echo "make run    - start the whole API locally on http://127.0.0.1:3000 (moto, no AWS, no Docker)"
	@echo "make test   - set up and run every check and test"

$(VENV)/.installed: pyproject.toml
	@test -n "$(PY313)" || { echo "Python 3.13 not found (install python3.13 or pyenv install 3.13.0)"; exit 1; }
	$(PY313) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

.PHONY: help venv
