PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_BASE := $(VENV)/.installed-base
STAMP_TEST := $(VENV)/.installed-test
STAMP_BENCH := $(VENV)/.installed-bench

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

$(STAMP_BENCH): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[bench]"
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

# every benchmark with short settings, to see they run and get rough figures; run a script
# alone (README, Benchmarks) for the full-size measurement
bench: $(STAMP_BENCH) servers
	$(BIN)/python benchmarks/generate.py --rows 200000 --faker-rows 2000 --soak-hours 1
	$(BIN)/python benchmarks/files.py --rows 200000
	$(BIN)/python benchmarks/templates.py --rows 100000
	$(BIN)/python benchmarks/initial_rss.py --rows 200000
	$(BIN)/python benchmarks/oltp.py --connections 2 --pgbench-seconds 2 --load-rows 50000 --minutes 1
	$(BIN)/python benchmarks/streams.py --events 20000 --repeat 1
	$(BIN)/python benchmarks/nosql.py --changes 20000 --repeat 1
	$(BIN)/python benchmarks/nosql_mongodb.py --events 5000 --repeat 1
	$(BIN)/python benchmarks/api.py --seconds 2 --connections 4

clean:
	rm -rf $(VENV) out build *.egg-info src/*.egg-info
