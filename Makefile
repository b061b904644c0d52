# The two commands: `make run` (the system with a demo return) and `make test`;
# `make bench` measures it against a baseline (docs/benchmarks.md; BENCH_ARGS=--quick).
# Each installs what is missing first (scripts/setup.sh; bench: also the `bench` extra); tools are
# cached outside the repo.
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: setup run test test-unit bench clean

setup:
	@bash scripts/setup.sh

run: setup
	@source .tools.env && $(VENV)/python -m devstack

test: setup
	@source .tools.env && $(VENV)/python -m pytest

# The fast tier alone (no sandbox, no vendor): rules, the workflow with in-memory activities, replay.
test-unit: setup
	@source .tools.env && $(VENV)/python -m pytest tests/unit

bench: setup .venv/.bench-installed
	@source .tools.env && $(VENV)/python -m bench $(BENCH_ARGS)

# The `bench` extra (psutil, py-spy), installed again whenever pyproject.toml changes.
.venv/.bench-installed: pyproject.toml
	@$(VENV)/python -m pip install --quiet -e ".[dev,bench]"
	@touch $@

clean:
	rm -rf .venv .tools.env .run .pytest_cache
