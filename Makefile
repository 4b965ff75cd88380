.PHONY: setup run test test-fast lint unit lock deploy-test

VENV := .venv/bin

setup:
	./scripts/setup.sh

run: setup
	./scripts/run.sh

lint:
	$(VENV)/ruff check .
	$(VENV)/mypy

# the whole suite with line and branch coverage of the product packages
unit:
	$(VENV)/pytest -n auto --cov --cov-report=term

test: setup lint unit

# the inner loop: every test that starts no worker or uvicorn process and trains nothing
# full-size (the machine's Redis and PostgreSQL are still used)
test-fast:
	$(VENV)/pytest -n auto -m "not gpu and not processes and not full_size"

# requirements.lock and requirements-dev.lock from pyproject.toml (UPGRADE=1: newest releases)
lock:
	./scripts/lock.sh

# the compose deployment for real: images built, the stack up and driven, then torn down
deploy-test: setup
	$(VENV)/python deploy/test/run.py
