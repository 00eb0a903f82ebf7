# The two commands: `make run` and `make test`. Each sets itself up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CATALOGUE := services/common/translations
PYTEST_ARGS ?=

.PHONY: run test lint format up bench translations extract clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Compiled catalogues are build output: made from the .po files, never committed.
translations: $(STAMP)
	$(BIN)/pybabel -q compile --use-fuzzy -d $(CATALOGUE) -D messages

## Embedded mode: one process, SQLite under var/, http://127.0.0.1:$${PORT:-8000}/
run: $(STAMP) translations
	$(BIN)/viche run

## The whole suite. VICHE_TEST_DB=postgres runs it on the local PostgreSQL.
test: $(STAMP) translations lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Distributed mode on loopback: one gunicorn per service, PostgreSQL.
up: $(STAMP) translations
	$(BIN)/viche up

bench: $(STAMP) translations
	$(BIN)/python bench/gateway.py

## Refresh the catalogues from the source (then translate the new entries).
extract: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _l -o $(CATALOGUE)/messages.pot .
	$(BIN)/pybabel update -i $(CATALOGUE)/messages.pot -d $(CATALOGUE) -D messages --no-fuzzy-matching

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
