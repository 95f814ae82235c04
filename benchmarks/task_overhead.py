"""Benchmark: what one Airflow Spark task costs, cold (a JVM per task) and warm (a Spark Connect client).

    python benchmarks/task_overhead.py [--rows 100] [--repeat 3] [--modes submit,submit-remote,connect]

One DAG with one task — ``bronze`` for ``credit_default`` on a date of ``--rows`` replayed rows — built by the
project's DAG factory (``plugins.dag_factory.spark_task``) in each mode, run with ``dag.test()`` ``--repeat``
times (the job is idempotent per date, so every run does the same work); the task's duration is taken from
its task instance. Modes:

* ``submit``         — ``SparkSubmitOperator``, a classic session: a JVM and Python workers per task (cold);
* ``submit-remote``  — ``SparkSubmitOperator``, the submitted Python a Connect client (``RISKPIPE_SPARK_CONNECT=1``;
  spark-submit refuses ``SPARK_REMOTE`` next to the ``--master`` the provider always passes): the launcher JVM
  still starts;
* ``connect``        — ``@task.pyspark`` on the ``spark_connect`` connection: a thin client, no JVM (warm).

Uses the running local Spark Connect server, or starts its own and stops it at the end. Prints a table and
writes ``.bench/task_overhead.json`` with ``{"cold_s": best submit, "warm_s": best connect, ...}``.
Goal: warm <= 3 s and <= 0.15x cold. Not a test: run it on demand (``make bench``).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
RESULTS = PROJECT_ROOT / ".bench" / "task_overhead.json"
DS = "2026-01-01"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100, help="rows in the date (default 100)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode; the best is reported (default 3)")
    parser.add_argument("--modes", default="submit,submit-remote,connect")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]

    work = Path(tempfile.mkdtemp(prefix="riskpipe-bench-tasks-"))
    os.environ.update({
        "RISKPIPE_LAKEHOUSE": str(work / "lakehouse"), "RISKPIPE_LANDING": str(work / "landing"),
        "AIRFLOW_HOME": str(work / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(work / "dags"), "GX_ANALYTICS_ENABLED": "false",
        "AIRFLOW_CONN_SPARK_DEFAULT": '{"conn_type": "spark", "host": "local[2]"}',
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from jobs.lib import connect_server
    from jobs.lib.config import load_use_case, settings
    from jobs.replay import replay
    from plugins.spark_tasks import ensure_connection

    started_here = False
    (work / "dags").mkdir(parents=True)
    (work / "dags" / "bench_task_overhead.py").write_text(DAG_FILE.format(modes=modes))
    try:
        replay(load_use_case("credit_default"), DS, 1, history=False, rows_per_day=args.rows,
               landing_root=str(work / "landing"))
        subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        state = connect_server.status()
        if not (state.ours and state.listening):
            connect_server.ensure_running()
            started_here = True
        ensure_connection()
        print(f"server: {connect_server.status().describe()}; {args.rows} rows; best of {args.repeat}")

        results: dict[str, list[float]] = {}
        for mode in modes:
            results[mode] = [run_once(mode) for _ in range(args.repeat)]
            print(f"  {mode:14s} " + "  ".join(f"{s:6.1f}s" for s in results[mode]), flush=True)

        best = {mode: min(seconds) for mode, seconds in results.items()}
        cold, warm = best.get("submit"), best.get("connect")
        print(f"\n{'mode':14s} {'best s':>8s} {'x cold':>8s}")
        for mode, seconds in best.items():
            ratio = f"{seconds / cold:7.2f}x" if cold else "      -"
            print(f"{mode:14s} {seconds:8.2f} {ratio}")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({
            "cold_s": cold, "warm_s": warm, "best_s": best, "runs_s": results, "rows": args.rows,
            "spark_master": settings().spark.connect.master,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_average": os.getloadavg()}}, indent=2))
        print(f"\nwritten to {RESULTS}")
    finally:
        if started_here:
            connect_server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


DAG_FILE = """
import datetime as dt
from airflow.sdk import DAG
from jobs.lib.config import load_use_case
from plugins.dag_factory import default_args, spark_task

for mode in {modes!r}:
    with DAG("bench_" + mode.replace("-", "_"), schedule=None, default_args=default_args(),
             start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)) as dag:
        spark_task("bronze", load_use_case("credit_default"), mode=mode)
    globals()[dag.dag_id] = dag
"""


def run_once(mode: str) -> float:
    """Run the one-task DAG of ``mode`` with dag.test(); the task instance's duration in seconds."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["bench_" + mode.replace("-", "_")]
    t0 = time.perf_counter()
    run = dag.test(logical_date=dt.datetime.fromisoformat(DS).replace(tzinfo=dt.timezone.utc))
    wall = time.perf_counter() - t0
    (ti,) = run.get_task_instances()
    if ti.state != "success":
        raise SystemExit(f"{mode}: the task ended {ti.state}")
    seconds = (ti.end_date - ti.start_date).total_seconds()
    return seconds if seconds > 0 else wall


if __name__ == "__main__":
    sys.exit(main())
