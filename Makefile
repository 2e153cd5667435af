# One entry point for people and CI. `make run` and `make test` install what they need first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
BUN := $(TOOLS)/node_modules/@oven/bun-linux-x64/bin/bun
# axe-core (accessibility rules) for the e2e suite, from the npm registry; its own prefix so it never
# touches the bun install.
AXE := $(TOOLS)/axe/node_modules/axe-core/axe.min.js
# Reflex downloads bun from a host we cannot reach: use the npm registry's bun build instead.
export REFLEX_USE_SYSTEM_BUN := 1
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false
export PATH := $(abspath $(TOOLS)/node_modules/@oven/bun-linux-x64/bin):$(abspath $(VENV)/bin):$(PATH)

.PHONY: run dev setup deps bun axe browser test test-fast lint format bench clean

run: setup ## install everything, then serve the app on http://localhost:3000
	$(PY) -m app.cli run

dev: setup
	$(PY) -m app.cli run --dev

setup: deps bun

deps: $(VENV)/.synced

$(VENV)/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet 'uv>=0.5'
	uv sync --frozen --python python3
	@touch $@

bun: $(BUN)

$(BUN):
	mkdir -p $(TOOLS)
	npm install --prefix $(TOOLS) --no-audit --no-fund --silent @oven/bun-linux-x64@1.4.5

axe: $(AXE)

$(AXE):
	mkdir -p $(TOOLS)/axe
	npm install --prefix $(TOOLS)/axe --no-audit --no-fund --silent axe-core@4.14.1

browser: ## Debian chromium for the end-to-end tests
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

test: setup axe browser ## the whole suite: unit, integration (PostgreSQL, Redis), e2e (Chromium)
	$(PY) -m pytest -q

test-fast: deps
	$(PY) -m pytest -q -m "not e2e"

lint: deps ## ruff (lint + format) and mypy (pydantic plugin; configured in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: deps ## benchmarks: print numbers (see docs/benchmarks.md); BENCH_ARGS passes options through
	$(PY) -m tests.bench.bench_import $(BENCH_ARGS)
	$(PY) -m tests.bench.bench_workspace $(BENCH_ARGS)
	$(PY) -m tests.bench.bench_latency $(BENCH_ARGS)
	$(PY) -m tests.bench.bench_campaigns $(BENCH_ARGS)
	$(PY) -m tests.bench.bench_campaign_read $(BENCH_ARGS)
	$(PY) -m tests.bench.bench_campaign_lists $(BENCH_ARGS)
	$(PY) -m tests.bench.bench_governor $(BENCH_ARGS)
	$(PY) -m tests.bench.bench_outbox $(BENCH_ARGS)
	$(PY) -m tests.bench.bench_scheduled $(BENCH_ARGS)
	$(PY) -m tests.bench.bench_profile_paint $(BENCH_ARGS)  # takes /tmp/crm-e2e.lock itself (shared .web)
	$(PY) -m tests.bench.bench_kanban $(BENCH_ARGS)
	$(PY) -m tests.bench.bench_kanban_paint $(BENCH_ARGS)  # after bench_kanban (its tenant); takes /tmp/crm-e2e.lock

clean:
	rm -rf .web .states $(TOOLS)
