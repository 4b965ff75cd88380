.PHONY: setup run test lint unit lock deploy-test

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

# requirements.lock and requirements-dev.lock from pyproject.toml (UPGRADE=1: newest releases)
lock:
	./scripts/lock.sh

# the compose deployment for real: images built, the stack up and driven, then torn down
deploy-test: setup
	$(VENV)/python deploy/test/run.py
