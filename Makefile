.PHONY: setup run test lint unit

VENV := .venv/bin

setup:
	./scripts/setup.sh

run: setup
	./scripts/run.sh

lint:
	$(VENV)/ruff check .
	$(VENV)/mypy

unit:
	$(VENV)/pytest

test: setup lint unit
