# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
HOST ?= 127.0.0.1
PORT ?= 8000
# PostgreSQL for the second pass of the suite (trust auth on the local server).
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/omen
# Each pass's temporary files (pytest's --basetemp, emptied when the pass starts).
TEST_TMP ?= $(or $(TMPDIR),/tmp)/omen-tests-$(shell id -u)

.PHONY: run test lint test-sqlite test-postgres coverage setup browser migrate demo bench clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "OMEN needs Python 3.11 or newer: run make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Runtime and development requirements both: the Docker image installs requirements.txt only.
$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

# The admin tests drive Debian's Chromium; nothing downloads a browser.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then echo "==> installing Debian's chromium for the admin browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing (sudo apt-get install chromium); the browser tests will be skipped"; fi; }

migrate: setup
	$(PY) manage.py migrate --no-input

demo: migrate
	$(PY) manage.py load_demo

# Web app, one Celery worker and exactly one beat; Ctrl-C stops all three (run_all supervises them).
# The last line has no shell syntax, so make runs it without a shell and signals reach it directly.
run: migrate
	$(PY) manage.py load_demo
	$(PY) manage.py storage_report
	@echo
	$(PY) manage.py ensure_admin --url http://$(HOST):$(PORT)/admin/
	@echo
	$(PY) manage.py run_all --host $(HOST) --port $(PORT)

# The two passes run at once: the suite spends much of its time waiting on child processes
# (workers, servers, crash rounds), and the passes share nothing: each has its own database,
# Redis database (OMEN_TEST_REDIS_DB) and temporary directory. Each pass's output is printed
# when it ends; `make test-sqlite` or `make test-postgres` runs one alone.
test: lint
	@echo "==> the suite on SQLite and its database tests on PostgreSQL, at once"
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres

lint: setup
	@echo "==> lint (ruff)"
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	@echo "==> import contracts (pyproject.toml: which app may import what)"
	$(VENV)/bin/lint-imports --no-cache

# The suite never reads a developer's .env: OMEN_ENV_FILE points nowhere.
test-sqlite: setup browser
	@echo "==> test suite on SQLite"
	env -u DATABASE_URL OMEN_ENV_FILE=/dev/null OMEN_TEST_REDIS_DB=15 $(PY) -m pytest -q --durations=15 --basetemp=$(TEST_TMP)-sqlite

# The tests that touch a database, again on PostgreSQL; the rest ran on the first pass
# (tests/conftest.py: touches_the_database).
test-postgres: setup browser
	@echo "==> the database tests on PostgreSQL ($(TEST_POSTGRES_URL))"
	@$(PY) -c "import psycopg,sys; psycopg.connect('$(TEST_POSTGRES_URL)'.replace('/omen','/postgres'), connect_timeout=5).close()" \
	  || { echo "PostgreSQL is not reachable at 127.0.0.1:5432; start it: pg_ctlcluster --skip-systemctl-redirect \$$(ls /etc/postgresql) main start"; exit 1; }
	DATABASE_URL=$(TEST_POSTGRES_URL) OMEN_ENV_FILE=/dev/null OMEN_TESTS_DATABASE_ONLY=1 OMEN_TEST_REDIS_DB=14 \
	  $(PY) -m pytest -q --durations=15 --basetemp=$(TEST_TMP)-postgres

# The suite on SQLite under coverage, child processes included ([tool.coverage] in pyproject.toml):
# line and branch coverage in total, for ledger/ and signals/services/, and per file. The figures
# are printed even when a test fails; the target fails then all the same.
coverage: setup browser
	@echo "==> test suite on SQLite under coverage"
	rm -rf var/coverage && mkdir -p var/coverage
	env -u DATABASE_URL OMEN_ENV_FILE=/dev/null $(PY) -m coverage run -m pytest -q; status=$$?; \
	  $(PY) -m coverage combine --quiet && $(PY) -m coverage report \
	  && $(PY) -m coverage json --quiet -o var/coverage/coverage.json \
	  && $(PY) -m tests.support.coverage_summary var/coverage/coverage.json && exit $$status

bench: setup
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) var
