# One-command dev loop. `make site` = install + build the site (the main job); `make test` = install + lint + tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export NO_MKDOCS_2_WARNING := 1

.PHONY: venv site test lint format lock clean serve bench

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

site: venv
	$(BIN)/mkdocs build --strict

serve: venv
	$(BIN)/mkdocs serve

test: venv lint
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

format: venv
	$(BIN)/ruff format src tests benchmarks scripts
	$(BIN)/ruff check --fix src tests benchmarks scripts

bench: venv
	$(BIN)/python benchmarks/bench_build_cache.py

# Re-pin every package from pyproject.toml into requirements.lock (torch pinned to the CPU wheel).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet torch==2.13.0
	.venv-lock/bin/python -m pip install --quiet -e ".[experiments,test]"
	{ sed -n '1,4p' requirements.lock; .venv-lock/bin/python -m pip freeze --exclude-editable | sed 's/+cpu//'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .venv-lock

clean:
	rm -rf site_build .cache tests/artifacts
