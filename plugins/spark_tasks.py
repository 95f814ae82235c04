"""What a Spark task of the DAGs runs when tasks are thin Spark Connect clients (``spark.connect.enabled``).

The Spark provider's ``@task.pyspark`` builds a Spark Connect session from the ``spark_connect`` connection and
passes it in; :func:`run_job` makes it the job's session and calls ``jobs/<job>.py``'s ``run(spark, use_case, ds)``
— the same function ``spark-submit jobs/<job>.py`` runs, so a task and an ad hoc run do the same work.
Heavy imports happen here, at run time, never when the DAG file is parsed.
"""
from __future__ import annotations

import importlib
import json
import os


def connection_env(host: str, port: int) -> str:
    """The ``AIRFLOW_CONN_<ID>`` value of a Spark Connect connection to ``host:port``."""
    return json.dumps({"conn_type": "spark_connect", "host": host, "port": port})


def ensure_connection() -> None:
    """Define the Spark Connect connection from the config when the environment does not (local profile)."""
    from jobs.lib.config import settings

    cfg = settings()
    variable = f"AIRFLOW_CONN_{cfg.airflow.spark_connect_conn_id.upper()}"
    os.environ.setdefault(variable, connection_env(cfg.spark.connect.host, cfg.spark.connect.port))


def run_job(spark, job: str, use_case: str, ds: str, entry: str = "run", *, as_text: bool = True, **options):
    """Run ``jobs.<job>.<entry>(spark, use_case, ds, **options)`` on ``spark`` (a Spark Connect session); its
    result as text (what the task logs and pushes to XCom), or as returned with ``as_text=False``."""
    from jobs.lib.config import load_use_case, settings
    from jobs.lib.spark import get_spark, use_session

    if settings().spark.connect.enabled:
        # The work runs in the server's shared session, not in the session the provider opened for this task
        # (released when the task ends): there the server's Python workers, and what they imported and loaded,
        # stay warm from task to task (see jobs.lib.connect_server.shared_session_id). get_spark() also starts a
        # server that died since the last task (or was never started), so a retry succeeds.
        spark = get_spark()
    use_session(spark)
    try:
        module = importlib.import_module(f"jobs.{job}")
        result = getattr(module, entry)(spark, load_use_case(use_case), ds, **options)
    finally:
        _leave_connect_mode()
    if not as_text:
        return result
    return "" if result is None else str(result)


def _leave_connect_mode() -> None:
    """Building a Connect session flips the whole process to Spark Connect (``SPARK_CONNECT_MODE_ENABLED``: every
    ``pyspark.sql.functions`` call then makes Connect columns). When the task ran inside a process that also has
    a classic session (``dag.test()`` in a test or a notebook), give that process back its classic mode."""
    from pyspark import SparkContext

    from jobs.lib import spark as spark_lib

    spark_lib.release_session()
    if SparkContext._active_spark_context is not None:
        os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
