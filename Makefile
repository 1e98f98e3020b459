# Tour de rôle: the two commands (`make run`, `make test`) and a few helpers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two install stamps: `make run` needs the app's own dependencies only; `make test` adds
# the test and lint tools (pytest, Playwright, Schemathesis, Hypothesis, ruff…).
RUNTIME := $(VENV)/.installed
STAMP := $(VENV)/.installed-dev
# The demo runs in development mode, and its e-mails go to the console, never to a server.
DEV := TOURDEROLE_ENV=development MAIL_BACKEND=log
FLASK := $(BIN)/flask --app wsgi
DEMO_DB := instance/tourderole.sqlite3
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help run demo demo-reset test lint fmt bench urls clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME)

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(RUNTIME) $(STAMP)

run: demo  ## serve the app with demo data on http://127.0.0.1:8000 (another port: make run PORT=8080)
	@echo "Tour de rôle sur http://$(HOST):$(PORT)/ (comptes de démonstration plus haut, avant les courriels)"
	$(DEV) $(BIN)/gunicorn --workers 2 --bind $(HOST):$(PORT) --access-logfile - wsgi:app

demo: $(RUNTIME)  ## migrate, load the demo if the database is empty, print the demo's e-mails
	$(DEV) $(FLASK) db upgrade
	$(DEV) $(FLASK) demo
	@echo "Courriels de la démo (MAIL_BACKEND=log : écrits ici, envoyés à personne) :"
	$(DEV) $(FLASK) outbox send --limit 1000

demo-reset:  ## start the demo afresh: delete the demo's SQLite database, then `make run`
	@if [ -n "$$DATABASE_URL" ]; then \
		echo "DATABASE_URL est défini : demo-reset ne supprime que la base SQLite de démonstration ($(DEMO_DB))."; \
		exit 1; \
	fi
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(MAKE) run

test: $(STAMP)  ## ruff + the whole test suite (SQLite; PostgreSQL too with TEST_DATABASE_URL)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the architecture contracts in setup.cfg
	$(BIN)/pytest -n auto --durations=25  # one worker per core, own databases; the 25 slowest printed

lint: $(STAMP)  ## ruff check
	$(BIN)/ruff check .

fmt: $(STAMP)  ## ruff format + autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)  ## run the benchmarks (print figures)
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f; done

urls: $(RUNTIME)  ## regenerate docs/urls.md, the URL → module index (tests/test_url_index.py checks it)
	$(BIN)/python scripts/url_index.py

clean:  ## remove the virtualenv and caches (not instance/)
	rm -rf $(VENV) .pytest_cache .ruff_cache
