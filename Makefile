# The two commands: `make run` (the system with a demo return) and `make test`;
# `make bench` measures it against a baseline (docs/benchmarks.md; BENCH_ARGS=--quick).
# Each installs what is missing first (scripts/setup.sh; bench: also the `bench` extra); tools are
# cached outside the repo.
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: setup run test bench bench-store clean

setup:
	@bash scripts/setup.sh

run: setup
	@source .tools.env && $(VENV)/python -m starter.local_stack

test: setup
	@source .tools.env && $(VENV)/python -m pytest

bench: setup .venv/.bench-installed
	@source .tools.env && $(VENV)/python -m bench $(BENCH_ARGS)

# The event store: 1,000,000 synthetic returns into SQLite and PostgreSQL, every report timed
# (docs/benchmarks.md, "The event store"; BENCH_STORE_ARGS="--returns 20000" for a quick look).
bench-store: setup
	@$(VENV)/python -m store.bench $(BENCH_STORE_ARGS)

# The `bench` extra (psutil, py-spy), installed again whenever pyproject.toml changes.
.venv/.bench-installed: pyproject.toml
	@$(VENV)/python -m pip install --quiet -e ".[dev,bench]"
	@touch $@

clean:
	rm -rf .venv .tools.env .run .pytest_cache
