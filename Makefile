# The two commands of the README (`make run`, `make test`) and their helpers. Each target creates
# the environment first when it is missing, so a fresh clone needs nothing else.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
INSTANCE := .dagster_home/dagster.yaml

export DAGSTER_HOME := $(CURDIR)/.dagster_home
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PYTHONPATH := $(CURDIR)

.PHONY: help env run test ui lint benchmark clean-data

help:
	@echo "make run    - materialise the whole asset graph on the defaults and print where results are"
	@echo "make test   - run the test suite"
	@echo "make ui     - start the Dagster UI on http://127.0.0.1:3000"
	@echo "make lint   - ruff"
	@echo "make benchmark - run benchmarks/ and write JSON results to benchmarks/results/"

# torch first and pinned: the CPU build on disk. Any other torch request pulls GBs of CUDA wheels.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

$(INSTANCE): orchestration/dagster.yaml
	@mkdir -p $(dir $(INSTANCE))
	cp orchestration/dagster.yaml $(INSTANCE)

env: $(STAMP) $(INSTANCE)

run: env
	$(BIN)/dagster asset materialize -m orchestration.definitions --select '*'
	$(BIN)/sap-llm summary

test: env
	$(BIN)/python -m pytest

ui: env
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

benchmark: env
	$(BIN)/python benchmarks/synthetic_generation.py
	$(BIN)/python benchmarks/model_training.py
