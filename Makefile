# One-command dev loop. `make site` = install + build the site (the main job); `make test` = install + lint + tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ASSETS := notes/assets/vendor/katex/katex.min.js
export NO_MKDOCS_2_WARNING := 1

.PHONY: venv assets site test lint format lock clean serve bench

venv: $(STAMP)

# KaTeX from the npm registry, served by the site itself (scripts/site_assets.sh copies it into notes/assets/vendor/).
assets: $(ASSETS)

$(ASSETS): package.json package-lock.json scripts/site_assets.sh
	npm ci --no-audit --no-fund --loglevel=error

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

site: venv assets
	$(BIN)/mkdocs build --strict

serve: venv assets
	$(BIN)/mkdocs serve

test: venv assets lint
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check src tests benchmarks scripts experiments
	$(BIN)/ruff format --check src tests benchmarks scripts experiments
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format src tests benchmarks scripts experiments
	$(BIN)/ruff check --fix src tests benchmarks scripts experiments

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
	rm -rf site_build .cache tests/artifacts node_modules notes/assets/vendor/katex
