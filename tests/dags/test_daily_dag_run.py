"""A real Airflow run of ``credit_default_daily`` (``dag.test()``): the sensor finds the landing folder,
the ``@task.pyspark`` tasks run bronze, silver and gold as clients of the test session's Spark Connect server,
and the tables hold the day."""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import conf_with_own_mlflow, configured
from tests.dags.dag_runner import BackgroundDagRun

pytestmark = pytest.mark.slow
DS = "2026-01-03"


def run_env(root: Path) -> dict[str, str]:
    """Landing for one day, an empty lakehouse and MLflow store under ``root``; the run is recorded in the test
    session's Airflow DB."""
    return {
        "RISKPIPE_LAKEHOUSE": str(root / "lakehouse"),
        "RISKPIPE_LANDING": str(root / "landing"),
        "AIRFLOW_CONN_SPARK_DEFAULT": '{"conn_type": "spark", "host": "local[2]"}',
        "PYSPARK_PYTHON": sys.executable,
        "RISKPIPE_CONF_DIR": str(conf_with_own_mlflow(root)),  # an empty MLflow store: no champion yet
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


@contextlib.contextmanager
def three_days_landed(root: Path) -> Iterator[dict]:
    """In the run's process, before the run: three days of events (5% malformed) in its landing folder."""
    from jobs.lib.config import load_use_case
    from jobs.replay import replay

    summary = replay(load_use_case("credit_default"), "2026-01-01", 3, malformed_rate=0.05,
                     landing_root=str(root / "landing"))
    yield {"received": summary.events[DS]}


RUN = BackgroundDagRun("credit_default_daily", DS, run_env, around=f"{__name__}:three_days_landed")


def test_daily_dag_run_lands_one_day_through_every_layer(tmp_path_factory, airflow_db, spark, spark_connect_server):
    from jobs.lib import lake, tables

    run = RUN.result(tmp_path_factory.mktemp("dagrun"))
    assert run["state"] == "success"
    # No champion yet: score, drift and performance say so and write nothing; decide records "no retrain".
    assert run["tasks"] == {"land": "success", "bronze": "success", "silver": "success", "gold": "success",
                            "score": "success", "drift": "success", "performance": "success", "decide": "success",
                            "retrain_branch": "success", "no_retrain": "success", "trigger_train": "skipped"}
    with configured(**RUN.env):
        received = run["extra"]["received"]
        assert not lake.exists(tables.scores("credit_default"))
        decision = lake.read(tables.decisions("credit_default")).collect()
        assert [(r.retrain, r.reason) for r in decision] == [(False, f"no drift results for {DS} (no champion yet?)")]

        quality = {(r.layer, r.stream): r for r in lake.read(tables.quality("credit_default")).where(f"ds = '{DS}'").collect()}
        assert quality[("bronze", "events")].rows_in == received
        assert all(r.reconciled for r in quality.values())
        gold = lake.read(tables.gold_features("credit_default")).where(f"ds = '{DS}'").count()
        assert gold == quality[("silver", "events")].rows_out > 0
        assert lake.read(tables.gold_features("credit_default")).select("ds").distinct().count() == 1  # only that date
