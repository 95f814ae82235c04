"""Run a DAG with ``dag.test()`` in a fresh interpreter, as Airflow runs tasks: in a process of their own.

The ``@task.pyspark`` tasks build their own Spark Connect session from the ``spark_connect`` connection and make it
the process's session; in the pytest process the test session's client (the ``spark`` fixture) already is. A real
worker has one task's session at a time; so does this runner.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

_CODE = """
import datetime as dt, json, sys
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).dags[sys.argv[2]]
run = dag.test(logical_date=dt.datetime.fromisoformat(sys.argv[3]).replace(tzinfo=dt.timezone.utc))
print("DAG-RESULT " + json.dumps({"state": str(run.state), "run_id": run.run_id,
                                  "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}}))
"""


def run_dag(dag_id: str, ds: str, timeout: int = 1800) -> dict:
    """``{"state", "run_id", "tasks": {task_id: state}}`` of one ``dag.test()`` run; its log on failure."""
    done = subprocess.run([sys.executable, "-c", _CODE, str(PROJECT_ROOT / "dags"), dag_id, ds], cwd=PROJECT_ROOT,
                          env=dict(os.environ), capture_output=True, text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("DAG-RESULT ")]
    if done.returncode != 0 or not lines:
        raise AssertionError(f"dag.test({dag_id}, {ds}) exited {done.returncode}:\n{done.stdout[-4000:]}\n"
                             f"{done.stderr[-4000:]}")
    return json.loads(lines[-1][len("DAG-RESULT "):])
