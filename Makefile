# The two commands: `make run` (the system with a demo return) and `make test`;
# `make bench` measures it against a baseline (docs/benchmarks.md; BENCH_ARGS=--quick; BENCH_ARGS="--server
# production": the throughput phase on deploy/'s topology, Temporal on PostgreSQL);
# `make chaos` proves it under faults (docs/reliability.md; CHAOS_ARGS=--quick), with
# `make chaos-fuzz` (invalid requests at scale) and `make chaos-load` (returns at once).
# Each installs what is missing first (scripts/setup.sh; bench: also the `bench` extra); tools are
# cached outside the repo.
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: setup setup-production run test test-unit bench bench-store chaos chaos-fuzz chaos-load clean prod-up prod-down prod-status

setup:
	@bash scripts/setup.sh

# The production topology's tools (Temporal server, SQL tool, Web UI server, PostgreSQL): deploy/.
setup-production:
	@bash scripts/setup-production.sh

run: setup
	@source .tools.env && $(VENV)/python -m devstack

test: setup setup-production
	@source .tools.env && source .tools.production.env && $(VENV)/python -m pytest

# The fast tier alone (no sandbox, no vendor): rules, the workflow with in-memory activities, replay.
test-unit: setup
	@source .tools.env && $(VENV)/python -m pytest tests/unit

bench: setup .venv/.bench-installed
	@source .tools.env && $(VENV)/python -m bench $(BENCH_ARGS)

# The event store: 1,000,000 synthetic returns into SQLite and PostgreSQL, every report timed
# (docs/benchmarks.md, "The event store"; BENCH_STORE_ARGS="--returns 20000" for a quick look).
bench-store: setup
	@$(VENV)/python -m store.bench $(BENCH_STORE_ARGS)

# Each starts its own stack on free ports and writes JSON under .run/chaos/; exit 1 when an invariant broke.
chaos: setup
	@source .tools.env && $(VENV)/python -m chaos run $(CHAOS_ARGS)

chaos-fuzz: setup
	@source .tools.env && $(VENV)/python -m chaos fuzz $(CHAOS_ARGS)

chaos-load: setup
	@source .tools.env && $(VENV)/python -m chaos load $(CHAOS_ARGS)

# The `bench` extra (psutil, py-spy), installed again whenever pyproject.toml changes.
.venv/.bench-installed: pyproject.toml
	@$(VENV)/python -m pip install --quiet -e ".[dev,bench]"
	@touch $@

# Temporal on PostgreSQL, the Web UI and the app from its wheel, left running (PROD_ARGS="--mtls" ...).
prod-up: setup setup-production
	@$(VENV)/python -m deploy up $(PROD_ARGS)

prod-down:
	@$(VENV)/python -m deploy down $(PROD_ARGS)

prod-status:
	@$(VENV)/python -m deploy status $(PROD_ARGS)

clean:
	rm -rf .venv .tools.env .tools.production.env .run .pytest_cache
