# Partyline: `make run` serves the product, `make test` runs the tests.
# Both create the virtualenv (.venv) and install the pinned dependencies on first use.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: run demo-login test bench bench-quick lint format audit install install-dev clean

run: $(VENV)/.runtime
	DEBUG=$${DEBUG:-true} ./scripts/run

# The demo organizer's login, as `make run` printed it.
demo-login: $(VENV)/.runtime
	@DEBUG=$${DEBUG:-true} $(PY) manage.py demo_organizer --show

test: $(VENV)/.dev
	$(BIN)/pytest $(PYTEST_ARGS)

# The stack a user runs at scale (PostgreSQL on 127.0.0.1:5432, Redis db 11, gunicorn, two
# workers, the sandbox Klaviyo in its own process), started and stopped by scripts/bench_stack.py.
bench: $(VENV)/.dev
	$(PY) scripts/bench_stack.py $(BENCH_ARGS)

# The quick in-process benchmark (SQLite in a temporary directory, no servers).
bench-quick: $(VENV)/.dev
	$(PY) scripts/benchmark.py $(BENCH_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# bandit on the code, pip-audit on the pinned dependencies (scripts/audit.py).
audit: $(VENV)/.dev
	$(PY) scripts/audit.py

install: $(VENV)/.runtime

install-dev: $(VENV)/.dev

$(VENV)/bin/python:
	./scripts/bootstrap-venv $(PYTHON) $(VENV)

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

clean:
	rm -rf $(VENV)
