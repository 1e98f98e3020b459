# Tour de rôle: the two commands (`make run`, `make test`) and a few helpers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help run test lint fmt bench clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## serve the app with demo data on http://127.0.0.1:8000
	TOURDEROLE_ENV=development $(FLASK) db upgrade
	TOURDEROLE_ENV=development $(FLASK) demo
	@echo "Tour de rôle sur http://$(HOST):$(PORT)/"
	TOURDEROLE_ENV=development $(BIN)/gunicorn --workers 2 --bind $(HOST):$(PORT) \
		--access-logfile - wsgi:app

test: $(STAMP)  ## ruff + the whole test suite (SQLite; PostgreSQL too with TEST_DATABASE_URL)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the architecture contracts in setup.cfg
	$(BIN)/pytest -n auto  # one worker per core; each worker has its own databases

lint: $(STAMP)  ## ruff check
	$(BIN)/ruff check .

fmt: $(STAMP)  ## ruff format + autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)  ## run the benchmarks (print figures)
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f; done

clean:  ## remove the virtualenv and caches (not instance/)
	rm -rf $(VENV) .pytest_cache .ruff_cache
