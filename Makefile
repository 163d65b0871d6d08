# Newsroom — two commands: `make run` (site on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432
REDIS_HOST ?= 127.0.0.1
REDIS_PORT ?= 6379

.PHONY: run test bench venv dev-venv migrate demo services-check lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

NATIVE_STAMP := $(VENV)/.installed-native

$(STAMP): requirements.txt $(NATIVE_STAMP) | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

# The text pipeline's compiled kernels (native/): built with the machine's C compiler.
# Without one the site still runs, on the Python versions (same results, slower ingest).
$(NATIVE_STAMP): native/newsroom_speedups.c native/setup.py native/pyproject.toml | $(BIN)/python
	@echo "building native/ (the text pipeline's compiled kernels)"
	@$(BIN)/pip install -q ./native || echo "warning: native/ did not build (no C compiler?): the text pipeline runs its Python versions"
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt $(STAMP)
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

venv: $(STAMP)
dev-venv: $(DEV_STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py load_demo

## make run: install, migrate, load the demo, start web + worker + beat on http://127.0.0.1:8000
run: demo
	$(BIN)/python manage.py collectstatic --noinput -v 0
	./scripts/run-embedded.sh

services-check:
	@$(BIN)/python scripts/check_services.py

## make test: the whole suite against real PostgreSQL and Redis (and headless Chromium)
test: $(DEV_STAMP) services-check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench: benchmarks, results in bench/results.json and printed as ratios
bench: $(DEV_STAMP) services-check
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf var staticfiles .pytest_cache
