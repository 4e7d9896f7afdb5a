# Canyu: the two commands of the README are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo run test test-postgres lint format i18n migrations install clean bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3-venv is missing: installing it"; bash scripts/ensure-system-packages.sh venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## Run the app with demo data on SQLite at http://127.0.0.1:8000
demo: $(STAMP)
	$(BIN)/canyu demo
	$(BIN)/canyu serve --host 127.0.0.1 --port 8000

run: $(STAMP)
	$(BIN)/canyu serve

## Run the whole test suite (SQLite; also PostgreSQL when CANYU_TEST_POSTGRES_URL is set)
test: $(STAMP)
	bash scripts/ensure-system-packages.sh browser
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	CANYU_TEST_POSTGRES_URL=$${CANYU_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test} $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

## Extract UI strings into locale/en/*.po (new ones untranslated)
i18n: $(STAMP)
	$(BIN)/python -m canyu.core.i18n_extract

## Generate migrations after a model change: make migrations APP=openmonth
migrations: $(STAMP)
	CANYU_DATABASE_URL=sqlite://$$(mktemp -d)/mk.sqlite3 $(BIN)/tortoise makemigrations $(APP)

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
