PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_BASE := $(VENV)/.installed-base
STAMP_TEST := $(VENV)/.installed-test

.PHONY: demo test lint format bench clean servers

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP_BASE): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(STAMP_TEST): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[test]"
	touch $@ $(STAMP_BASE)

demo: $(STAMP_BASE)
	$(BIN)/headwater run examples/shop.yaml --out out/shop --overwrite

servers:
	bash scripts/ensure-servers.sh

test: $(STAMP_TEST) servers
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP_TEST)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python -m mypy

format: $(STAMP_TEST)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(STAMP_TEST)
	$(BIN)/python benchmarks/generate.py

clean:
	rm -rf $(VENV) out build *.egg-info src/*.egg-info
