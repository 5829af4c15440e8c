# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: run test lint setup migrate demo messages clean bench

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)

# Compiled catalogues are committed; refresh them when gettext's msgfmt is available.
messages: $(STAMP)
	@if command -v msgfmt >/dev/null; then \
		$(PY) manage.py compilemessages --ignore=.venv -v 0 --settings=loyalty.settings.test; fi

migrate: setup messages
	DEBUG=true $(PY) manage.py migrate --noinput -v 0

# Demo data is loaded once; seed_demo itself refuses to load twice.
demo: migrate
	DEBUG=true $(PY) manage.py seed_demo --if-empty

# The web server and a worker cluster together; Ctrl-C stops both.
run: demo
	DEBUG=true $(PY) manage.py setup_schedules
	@DEBUG=true $(PY) manage.py qcluster & qcluster=$$!; \
	trap 'kill -TERM $$qcluster 2>/dev/null; wait $$qcluster' EXIT INT TERM; \
	DEBUG=true $(PY) manage.py runserver 127.0.0.1:8000

test: setup messages
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles

# Figures for BENCHMARKS.md, on a scratch PostgreSQL database that is dropped and recreated.
BENCH_SERVER ?= postgres://postgres@127.0.0.1:5432
bench: setup
	psql "$(BENCH_SERVER)/postgres" -q -c "DROP DATABASE IF EXISTS loyalty_bench" -c "CREATE DATABASE loyalty_bench"
	DATABASE_URL=$(BENCH_SERVER)/loyalty_bench $(PY) manage.py migrate -v 0
	DATABASE_URL=$(BENCH_SERVER)/loyalty_bench $(PY) manage.py benchmark $(BENCH_ARGS)
