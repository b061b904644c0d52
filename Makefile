# The two commands: `make run` (the system with a demo return) and `make test`.
# Both install what is missing first (scripts/setup.sh); tools are cached outside the repo.
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: setup run test bench clean

setup:
	@bash scripts/setup.sh

run: setup
	@source .tools.env && $(VENV)/python -m starter.local_stack

test: setup
	@source .tools.env && $(VENV)/python -m pytest

clean:
	rm -rf .venv .tools.env .run .pytest_cache
