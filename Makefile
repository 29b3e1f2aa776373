# EchoPilot Ops. `make run` and `make test` work on a fresh clone with nothing set up.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | cksum | cut -d' ' -f1)

.PHONY: run run-cluster test lint admin install migrate bench fuzz clean

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

.env:
	@$(PY) -m echopilot.dotenv

migrate: $(STAMP) .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py sync_schedules
	$(PY) manage.py collectstatic --noinput --verbosity 0

## Start the service on 127.0.0.1:$PORT (gunicorn + one qcluster); Ctrl-C stops it.
run: migrate
	exec $(PY) manage.py serve

## Start two web nodes (PORT and PORT+1) and two qclusters on PostgreSQL + Redis; Ctrl-C stops them all.
run-cluster: $(STAMP) .env
	@$(PY) -c 'import sys; from echopilot import settings as s; sys.exit(0 if not s.DB_IS_SQLITE and s.REDIS_URL else "make run-cluster needs DATABASE_URL=postgres://... and REDIS_URL=redis://... (environment or .env): several qclusters need PostgreSQL to lock due schedules, and Redis is the shared cache and task broker.")'
	@$(MAKE) --no-print-directory migrate
	exec $(PY) manage.py serve --web-nodes 2 --qclusters 2

## Run the whole test suite (on DATABASE_URL when set, otherwise SQLite).
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## Run the benchmarks (the fraud check and observability ones need PostgreSQL, see README "Benchmarks").
bench: $(STAMP)
	$(PY) bench/fraud_check.py
	$(PY) bench/email_batch.py
	$(PY) bench/observability.py --big 1000000
	$(PY) bench/load.py
	$(PY) bench/report.py

## Fuzz the API from its OpenAPI schema with many examples per endpoint (FUZZ_EXAMPLES, default 200).
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} $(PY) -m pytest tests/fuzz -q

## Create an admin user (asks for name and password).
admin: migrate
	$(PY) manage.py createsuperuser

clean:
	rm -rf $(VENV) var/static var/cache .pytest_cache
