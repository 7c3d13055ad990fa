# Partyline: `make run` serves the product, `make test` runs the tests.
# Both create the virtualenv (.venv) and install the locked dependencies (every package of the tree,
# pinned with its hashes: requirements.txt, requirements-dev.txt) on first use.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: run demo-login test bench bench-quick lint format check audit messages install install-dev lock \
	upgrade clean

run: $(VENV)/.runtime
	DEBUG=$${DEBUG:-true} ./scripts/run

# The demo organizer's login, as `make run` printed it.
demo-login: $(VENV)/.runtime
	@DEBUG=$${DEBUG:-true} $(PY) manage.py demo_organizer --show

test: $(VENV)/.dev
	$(BIN)/pytest $(PYTEST_ARGS)

# The stack a user runs at scale (a PostgreSQL cluster of its own, Redis db 11, gunicorn, two
# workers, the sandbox Klaviyo in its own process), started and stopped by `python -m bench`.
bench: $(VENV)/.dev
	$(PY) -m bench $(BENCH_ARGS)

# The quick in-process benchmark (SQLite in a temporary directory, no servers).
bench-quick: $(VENV)/.dev
	$(PY) -m bench.quick $(BENCH_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Everything short of the test suites, cheapest first (CI runs it before them): lint and
# format, the import contracts ([tool.importlinter]), types ([tool.mypy]), migrations that
# match the models (the sandbox's too, asked for by name), and Django's deployment checks,
# warnings included, with what a production deployment sets (README "Settings"; the values
# are placeholders: nothing is signed or stored).
CHECK_MIGRATIONS_ENV := DEBUG=false SECRET_KEY=ci SALT_KEY=ci KLAVIYO_SANDBOX=true
CHECK_DEPLOY_ENV := DEBUG=false KLAVIYO_SANDBOX=false \
	SECRET_KEY=placeholder-for-make-check-only-never-a-real-secret-key-0123456789 \
	SALT_KEY=placeholder-salt ALLOWED_HOSTS=partyline.example.com SECURE_PROXY_SSL=true \
	KLAVIYO_CLIENT_ID=placeholder-client-id KLAVIYO_CLIENT_SECRET=placeholder-client-secret \
	KLAVIYO_REDIRECT_URI=https://partyline.example.com/integrations/klaviyo/callback/

check: lint
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(CHECK_MIGRATIONS_ENV) $(PY) manage.py makemigrations --check --dry-run
	$(CHECK_DEPLOY_ENV) $(PY) manage.py check --deploy --fail-level WARNING

# bandit on the code, pip-audit on the pinned dependencies (scripts/audit.py).
audit: $(VENV)/.dev
	$(PY) scripts/audit.py

# The public pages' translations (README "Languages"): collect the strings marked in the
# project's own code and templates into locale/<language>/LC_MESSAGES/django.po, then compile
# the .mo files, which are committed (CI has no gettext tools; tests/test_translations.py
# checks they match). Needs GNU gettext: `apt-get install gettext`.
MESSAGES_IGNORE := --ignore='.venv/*' --ignore='staticfiles/*' --ignore='tests/*' \
	--ignore='bench/*' --ignore='docs/*' --ignore='scripts/*' \
	--ignore='klaviyo_sandbox/*' --ignore='templates/admin/*'

messages: $(VENV)/.runtime
	DEBUG=true $(PY) manage.py makemessages --locale de --add-location file $(MESSAGES_IGNORE)
	DEBUG=true $(PY) manage.py compilemessages --locale de $(MESSAGES_IGNORE)

install: $(VENV)/.runtime

install-dev: $(VENV)/.dev

$(VENV)/bin/python:
	./scripts/bootstrap-venv $(PYTHON) $(VENV)

# --require-hashes: only the exact files the lock names install, whatever an index serves today.
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check -q --require-hashes --no-deps

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PIP_INSTALL) -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PIP_INSTALL) -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# The lock files come from the .in files (the packages asked for by name). `make lock` after
# editing a .in file keeps every other pin; `make upgrade` moves every package to its newest
# release that the .in files allow. Commit the .in and .txt files together.
PIP_COMPILE := $(BIN)/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links

lock: $(VENV)/.dev
	$(PIP_COMPILE) -o requirements.txt requirements.in
	$(PIP_COMPILE) -o requirements-dev.txt requirements-dev.in

upgrade: $(VENV)/.dev
	$(PIP_COMPILE) --upgrade -o requirements.txt requirements.in
	$(PIP_COMPILE) --upgrade -o requirements-dev.txt requirements-dev.in

clean:
	rm -rf $(VENV)
