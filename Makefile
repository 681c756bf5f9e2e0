# The two commands: `make run` (all-in-one server) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
export NEXT_TELEMETRY_DISABLED := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

FRONTEND := frontend
NPM_STAMP := $(FRONTEND)/node_modules/.installed
BUILD_STAMP := $(FRONTEND)/out/.built
FRONTEND_SOURCES := $(shell find $(FRONTEND)/src $(FRONTEND)/public -type f 2>/dev/null) \
	$(wildcard $(FRONTEND)/*.json $(FRONTEND)/*.ts $(FRONTEND)/*.mjs)
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint typecheck pytest services tools install install-dev clean \
	frontend frontend-check chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,nlp]'
	touch $@ $(STAMP_RUN)

install: $(STAMP_RUN)
install-dev: $(STAMP_DEV)

run: $(STAMP_RUN) frontend
	$(BIN)/cryptodash up

# The web app: npm ci when the lock file changes, a static export when its sources change.
$(NPM_STAMP): $(FRONTEND)/package-lock.json
	cd $(FRONTEND) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(BUILD_STAMP): $(NPM_STAMP) $(FRONTEND_SOURCES)
	cd $(FRONTEND) && npm run build
	touch $@

frontend: $(BUILD_STAMP)

# After the build: tsc needs the next-env.d.ts that `next build` writes.
frontend-check: $(BUILD_STAMP)
	cd $(FRONTEND) && npm run lint && npm run typecheck && npm test

# The browser tests drive Debian's Chromium through Playwright (never `playwright install`).
chromium:
	@test -x $(CHROMIUM) || (apt-get update -q && apt-get install -y -q chromium)

services:
	@scripts/ensure-services.sh

tools: $(STAMP_DEV)
	@scripts/ensure-tools.sh

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(STAMP_DEV)
	$(BIN)/mypy

pytest: $(STAMP_DEV) services tools frontend chromium
	$(BIN)/pytest -q -n 2 --dist loadfile

test: lint typecheck frontend-check pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache \
		$(FRONTEND)/node_modules $(FRONTEND)/.next $(FRONTEND)/out
