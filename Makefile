# EchoPilot Ops. `make run` and `make test` work on a fresh clone with nothing set up.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP_INSTALL := $(PY) -m pip install --progress-bar on
# One stamp per requirement set, named by the checksum of the files it covers: editing either reinstalls.
# requirements.txt is what the service runs on (make run); requirements-dev.txt adds tests and tooling (make test).
RUNTIME := $(VENV)/.installed-runtime-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
DEV := $(VENV)/.installed-dev-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run run-cluster test test-fast lint admin install install-dev migrate bench bench-startup fuzz clean

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(RUNTIME): requirements.txt | $(PY)
	@echo "== installing the runtime requirements (requirements.txt)"
	$(PIP_INSTALL) -r requirements.txt
	@rm -f $(VENV)/.installed-runtime-*
	@touch $@

$(DEV): requirements.txt requirements-dev.txt | $(PY)
	@echo "== installing the runtime, test and tooling requirements (requirements.txt, requirements-dev.txt)"
	$(PIP_INSTALL) -r requirements-dev.txt
	@rm -f $(VENV)/.installed-runtime-* $(VENV)/.installed-dev-*
	@touch $@ $(RUNTIME)

install: $(RUNTIME)

install-dev: $(DEV)

.env: | $(PY)
	@$(PY) -m echopilot.dotenv

migrate: $(RUNTIME) .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py sync_schedules
	$(PY) manage.py collectstatic_if_changed

## Start the service on 127.0.0.1:$PORT (gunicorn + one qcluster); Ctrl-C stops it.
run: migrate
	exec $(PY) manage.py serve

## Start two web nodes (PORT and PORT+1) and two qclusters on PostgreSQL + Redis; Ctrl-C stops them all.
run-cluster: $(RUNTIME) .env
	@DJANGO_SETTINGS_MODULE=echopilot.settings $(PY) -c 'import sys; from echopilot.env import exit_on_configuration_error as load; load(); from django.conf import settings as s; sys.exit(0 if not s.DB_IS_SQLITE and s.REDIS_URL else "make run-cluster needs DATABASE_URL=postgres://... and REDIS_URL=redis://... (environment or .env): several qclusters need PostgreSQL to lock due schedules, and Redis is the shared cache and task broker.")'
	@$(MAKE) --no-print-directory migrate
	exec $(PY) manage.py serve --web-nodes 2 --qclusters 2

# Test processes (pytest-xdist workers, one per core here); a test module stays on one worker. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile

## Run the whole test suite (on DATABASE_URL when set, otherwise SQLite).
test: $(DEV)
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

## The suite without the tests marked slow (processes, servers, a browser, or more than about a second): the edit loop.
test-fast: $(DEV)
	$(PY) -m pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

lint: $(DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## Run the benchmarks (the fraud check and observability ones need PostgreSQL, see README "Benchmarks").
bench: $(DEV)
	$(PY) bench/startup.py
	$(PY) bench/fraud_check.py
	$(PY) bench/email_batch.py
	$(PY) bench/observability.py --big 1000000
	$(PY) bench/backtest.py
	$(PY) bench/load.py
	$(PY) bench/report.py

## Only the start-up benchmark (fresh clone and restart to /livez, against BASELINE_REF), then the report.
bench-startup: $(DEV)
	$(PY) bench/startup.py
	$(PY) bench/report.py

## Fuzz the API from its OpenAPI schema: the schemathesis CLI with every check against a server it starts
## (FUZZ_CLI_EXAMPLES per operation, default 60), then the in-process fuzz tests (FUZZ_EXAMPLES, default 200).
fuzz: $(DEV)
	$(PY) tests/fuzz/run_cli.py --examples $${FUZZ_CLI_EXAMPLES:-60}
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} $(PY) -m pytest tests/fuzz -q

## Create an admin user (asks for name and password).
admin: migrate
	$(PY) manage.py createsuperuser

clean:
	rm -rf $(VENV) var/static var/cache .pytest_cache
