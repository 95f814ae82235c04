"""DAG integrity: every file in dags/ imports under Airflow 3 without errors, fast, with the house rules."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))
HEAVY = ("pyspark", "pandas", "numpy", "mlflow", "xgboost", "optuna", "great_expectations", "deltalake", "scipy")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_dag_files_exist():
    assert DAG_FILES, "no DAG files in dags/"


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}, dagbag.import_errors


def test_every_use_case_has_its_daily_dag(dagbag):
    from jobs.lib.config import use_case_names

    for name in use_case_names():
        assert f"{name}_daily" in dagbag.dags


def test_make_run_finds_every_use_case_dag_it_runs():
    """make run (jobs.run_pipeline) parses the DAG folder once and runs <uc>_daily, and <uc>_train for a model."""
    from jobs.lib.config import load_use_case, use_case_names
    from jobs.run_pipeline import _dags

    dags = _dags()
    for name in use_case_names():
        assert f"{name}_daily" in dags
        if load_use_case(name).model is not None:
            assert f"{name}_train" in dags
    assert _dags() is dags  # parsed once


@pytest.mark.parametrize("dag_id", ["credit_default_daily", "lead_scoring_daily"])
def test_house_rules(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.tags, f"{dag_id} has no tags"
    for task in dag.tasks:
        assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
        assert task.retries >= 2, f"{dag_id}.{task.task_id} retries {task.retries} < 2"
    assert dag.get_task("land").downstream_task_ids == {"bronze"}
    assert dag.get_task("bronze").downstream_task_ids == {"silver"}
    assert dag.get_task("silver").downstream_task_ids == {"gold"}


def test_local_profile_spark_tasks_are_spark_connect_clients(dagbag):
    from jobs.lib.config import settings

    dag = dagbag.dags["credit_default_daily"]
    for task_id in ("bronze", "silver", "gold"):
        task = dag.get_task(task_id)
        assert task.task_type == "_PySparkDecoratedOperator"  # the Spark provider's @task.pyspark
        assert task.conn_id == settings().airflow.spark_connect_conn_id


def test_cluster_profile_spark_tasks_are_spark_submitted():
    """Under the cluster profile (spark.connect off) every Spark task spark-submits its job with the logical date."""
    from airflow.sdk import DAG

    from jobs.lib.config import load_use_case
    from plugins.dag_factory import spark_task

    with DAG("cluster_shape", schedule=None):
        for job in ("bronze", "silver", "gold"):
            task = spark_task(job, load_use_case("credit_default"), mode="submit")
            assert task.task_type == "SparkSubmitOperator"
            assert task.application.endswith(f"jobs/{job}.py")
            assert task.application_args == ["--use-case", "credit_default", "--ds", "{{ ds }}"]
            assert not task.env_vars
            # The configured driver options (spark-defaults.conf: the garbage collector) stay, under this --conf
            # that replaces them; the task's own (C1-only JIT) come last.
            options = task.conf["spark.driver.extraJavaOptions"].split()
            assert "-XX:+UseParallelGC" in options and options[-1] == "-XX:TieredStopAtLevel=1"
            remote = spark_task(job, load_use_case("credit_default"), mode="submit-remote", task_id=f"{job}_remote")
            assert remote.env_vars == {"RISKPIPE_SPARK_CONNECT": "1"}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_without_heavy_imports(path):
    """Import the file in a fresh interpreter (Airflow already loaded, as in the scheduler). How long parsing takes
    is measured by ``benchmarks/dag_parse.py``, not asserted here (a timing assertion flakes on a loaded machine)."""
    code = f"""
import json, sys, time, importlib.util
import airflow.sdk
from airflow.sdk import DAG, task
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
before = set(sys.modules)
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_under_test", {str(path)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - start
heavy = sorted({{m.split('.')[0] for m in set(sys.modules) - before}} & set({HEAVY!r}))
print(json.dumps({{"seconds": elapsed, "heavy": heavy}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], f"{path.name} imports {result['heavy']} at parse time"
