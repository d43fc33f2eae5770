# The two commands a newcomer needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
RUN_STAMP  := $(VENV)/.run-$(shell cksum pyproject.toml | cut -d' ' -f1)
TEST_STAMP := $(VENV)/.test-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(RUN_STAMP)

install: $(RUN_STAMP)

# Migrate, load the demo territory (once), then serve HTTP and WebSockets with Daphne and run
# the background worker that solves matching cycles. Ctrl-C stops both.
run: $(RUN_STAMP)
	$(BIN)/python backend/manage.py migrate --noinput
	$(BIN)/python backend/manage.py compile_translations
	$(BIN)/python backend/manage.py seed_demo --if-empty --print-logins
	@trap 'kill 0' INT TERM EXIT; \
	  $(BIN)/python backend/manage.py db_worker & \
	  cd backend && ../$(BIN)/daphne -b $(HOST) -p $(PORT) config.asgi:application

# The whole suite on the embedded default (SQLite, in-memory channel layer); with DATABASE_URL
# and REDIS_URL set, the same suite on PostgreSQL and Redis.
test: $(TEST_STAMP)
	$(BIN)/python backend/manage.py compile_translations
	$(BIN)/python -m pytest

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
