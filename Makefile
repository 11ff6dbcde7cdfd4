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

.PHONY: help env run test ui lint benchmark clean-data browser-deps mlflow-ui asset-graph

# MLflow's local store: the same SQLite file and artifact folder the training assets log to.
MLFLOW_DIR ?= $(CURDIR)/.mlflow
MLFLOW_PORT ?= 5000
# Debian's Chromium drives the UI test (tests/e2e); Playwright only brings the driver, no browser.
CHROMIUM ?= /usr/bin/chromium

help:
	@echo "make run    - materialise the whole asset graph on the defaults and print where results are"
	@echo "make test   - run the test suite"
	@echo "make ui     - start the Dagster UI on http://127.0.0.1:3000"
	@echo "make mlflow-ui - start the MLflow UI on http://127.0.0.1:5000 (runs and registered models)"
	@echo "make asset-graph - re-export docs/asset-graph.png from the UI (runs the browser test)"
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

RUN_CONFIG := {"loggers": {"console": {"config": {"log_level": "INFO"}}}}

run: env
	$(BIN)/dagster asset materialize -m orchestration.definitions --select '*' --config-json '$(RUN_CONFIG)'
	$(BIN)/sap-llm summary

test: env browser-deps
	$(BIN)/python -m pytest

# Installs Chromium only when it is missing, so a second `make test` does nothing here.
browser-deps:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "installing Debian chromium for the browser test"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

ui: env
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

# One worker and no job execution: 2 processes instead of 16 (about 3 GB).
mlflow-ui: env
	@mkdir -p $(MLFLOW_DIR)/artifacts
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow server --workers 1 \
	  --host 127.0.0.1 --port $(MLFLOW_PORT) \
	  --backend-store-uri sqlite:///$(MLFLOW_DIR)/mlflow.db \
	  --default-artifact-root $(MLFLOW_DIR)/artifacts

asset-graph: env browser-deps
	SAP_LLM_EXPORT_ASSET_GRAPH=docs/asset-graph.png $(BIN)/python -m pytest -q \
	  tests/e2e/test_dagster_ui.py -k materialise

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

benchmark: env
	$(BIN)/python benchmarks/synthetic_generation.py
	$(BIN)/python benchmarks/kb_retrieval.py
	$(BIN)/python benchmarks/model_training.py

# ---- corpus pipeline tool environments (issue 3) ---------------------------------------------
# DVC and the Label Studio server live in their own environments under .tools/: dvc's hydra pins
# antlr 4.9 (breaks dagster's string selections) and Label Studio is a ~1 GB Django application.
TOOLS := .tools
DVC := $(TOOLS)/dvc/bin/dvc
LABEL_STUDIO := $(TOOLS)/label-studio/bin/label-studio

.PHONY: dvc-env label-studio-env repro

$(DVC):
	$(PYTHON) -m venv $(TOOLS)/dvc
	$(TOOLS)/dvc/bin/python -m pip install -q --upgrade pip
	$(TOOLS)/dvc/bin/python -m pip install -q 'dvc>=3.50,<4'

$(LABEL_STUDIO):
	$(PYTHON) -m venv $(TOOLS)/label-studio
	$(TOOLS)/label-studio/bin/python -m pip install -q --upgrade pip
	$(TOOLS)/label-studio/bin/python -m pip install -q 'label-studio>=1.23,<1.24'

dvc-env: $(DVC)

label-studio-env: $(LABEL_STUDIO)

# `dvc repro` of the corpus stages; the stages call the sap-llm CLI of the main environment.
repro: env dvc-env
	PATH=$(CURDIR)/$(BIN):$$PATH $(DVC) repro
