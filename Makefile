# riskpipe — the single entry point. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SITE := $(VENV)/lib/python3.11/site-packages

# Embedded default: local profile, everything under this folder.
export RISKPIPE_PROFILE ?= local
export PYSPARK_PYTHON := $(CURDIR)/$(PY)
export PYSPARK_DRIVER_PYTHON := $(CURDIR)/$(PY)
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export GX_ANALYTICS_ENABLED := false
export AIRFLOW_CONN_SPARK_DEFAULT ?= {"conn_type": "spark", "host": "local[2]"}
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# What `make run` replays and runs (override: make run DAYS=20 START=2026-01-01).
START ?= 2026-01-01
DAYS ?= 60
RUN_DAYS ?= 21
USE_CASES ?= credit_default lead_scoring

.PHONY: help setup java run replay onboard pipeline smoke test test-fast bench lint spark-up spark-down spark-status up down clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP) ## create .venv with the pinned packages (and Java 17 if missing); a no-op when done
$(STAMP): requirements.lock pyproject.toml
	@$(MAKE) --no-print-directory java
	@command -v $(PYTHON) >/dev/null || { echo "setup: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@echo "$(CURDIR)" > $(SITE)/riskpipe.pth   # the project's packages (jobs, plugins) on the venv's path
	$(PY) -m pip check
	@touch $@
	@echo "setup: done ($(PY))"

java: ## install a Java 17 runtime with apt when `java` is missing
	@if command -v java >/dev/null 2>&1; then :; else \
	  echo "setup: java not found, installing openjdk-17-jre-headless"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
	fi

run: setup spark-up ## set up, replay the sample data and run the whole pipeline end to end
	$(PY) -m jobs.run_pipeline --start $(START) --replay-days $(DAYS) --days $(RUN_DAYS) --use-cases $(USE_CASES)

replay: setup ## turn the sample data sets into daily landing files (DAYS from START)
	@for uc in $(USE_CASES); do $(PY) -m jobs.replay --use-case $$uc --start $(START) --days $(DAYS) || exit 1; done

onboard: setup ## draft a use case + its GX suite from a sample: make onboard SAMPLE=<file> NAME=<uc> LABEL=<col> POSITIVE=<value>
	@missing="$(if $(SAMPLE),,SAMPLE )$(if $(NAME),,NAME )$(if $(LABEL),,LABEL )$(if $(POSITIVE),,POSITIVE )"; \
	if [ -n "$$missing" ]; then echo "onboard: missing $$missing(usage: make onboard SAMPLE=<file> NAME=<use_case> LABEL=<column> POSITIVE=<value>)" >&2; exit 2; fi
	$(PY) -m jobs.onboard --sample "$(SAMPLE)" --name "$(NAME)" --label "$(LABEL)" --positive "$(POSITIVE)"

smoke: setup ## write, read, merge and time-travel a Delta table through Spark; print its history
	$(PY) -m jobs.smoke

spark-up: setup ## start the warm local Spark Connect server (tasks are its thin clients); a no-op when it runs
	@$(PY) -m jobs.spark_server up

spark-down: ## stop the local Spark Connect server this project started (and nothing else)
	@if [ -x $(PY) ]; then $(PY) -m jobs.spark_server down; fi

spark-status: ## is the local Spark Connect server up? (exit 3 when not)
	@$(PY) -m jobs.spark_server status

# Test processes (pytest-xdist workers; each takes whole test files). They share the session's one Spark Connect
# server: with one process, the client and the server wait on each other and a core idles. TEST_WORKERS=0: one.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test: setup ## run the whole test suite
	$(PYTEST) --durations=20

test-fast: setup ## the tests without the slow ones (extra processes, DAG runs)
	$(PYTEST) -m "not slow"

bench: setup ## run the benchmarks (not tests): lake I/O vs Parquet, medallion layers, task overhead, DAG parse time, scoring and drift
	$(PY) benchmarks/lake_write_read.py
	$(PY) benchmarks/scoring_drift.py
	$(PY) benchmarks/medallion.py
	$(PY) benchmarks/task_overhead.py
	$(PY) benchmarks/dag_parse.py

lint: setup ## ruff over the code
	$(PY) -m pip install --quiet ruff==0.17.6 && $(VENV)/bin/ruff check jobs dags plugins tests benchmarks

up: spark-up ## start the local Spark Connect server, then the reference cluster stack (docker compose)
	docker compose -f docker/compose.yaml up -d --build

down: ## stop the reference cluster stack
	docker compose -f docker/compose.yaml down

clean: spark-down ## stop the Spark Connect server; remove generated data (lakehouse, landing, MLflow, Airflow); keeps .venv
	rm -rf lakehouse landing .mlflow .airflow spark-warehouse .bench .spark-connect
