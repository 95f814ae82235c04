"""The daily retraining decision of a use case: retrain or not, and why (logic in :mod:`jobs.lib.retrain_policy`).

Reads

* ``monitoring/<uc>/drift`` (``jobs/drift.py``): rows with ``ds <=`` the date; the last ``window_runs`` distinct
  dates are the window, a date alerting when ``min_alert_features`` distinct features (``__score__`` included)
  have status ``alert``; the date's PSI per feature gives the top drifting features;
* ``monitoring/<uc>/decisions`` (this job): the decisions of earlier dates, for the cooldown;
* ``monitoring/<uc>/performance`` (``jobs/performance.py``): the latest partition ``<=`` the date, its newest
  matured score-date cohort of the ``champion`` rows (the partition of an earlier date when the job did not run
  on this one);

and writes one row to ``monitoring/<uc>/decisions`` partition ``ds`` (``replaceWhere``: a rerun replaces the
date's decision): ``use_case, ds, retrain, reason, trigger, alerting_runs, window_runs, window_ds`` (JSON list),
``top_features`` (JSON ``[[feature, psi], ...]``), ``model_version`` (the champion the drift was measured for),
``decided_at``. No drift rows for the date (no champion yet, nothing scored): ``retrain`` false, reason
``no drift results for <ds> (no champion yet?)``, still recorded.

:func:`run` returns the decision as a dict (what the DAG's branch and Slack alert use).

Run: ``python -m jobs.decide --use-case credit_default --ds 2026-01-15``.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jobs.lib import lake, tables
from jobs.lib.cli import run_job
from jobs.lib.config import UseCase, settings
from jobs.lib.retrain_policy import CohortPerformance, PreviousDecision, decide, summarise_drift

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: The decisions table's columns but ``decided_at`` (TIMESTAMP, added when written).
DECISION_COLUMNS = ("use_case STRING, ds DATE, retrain BOOLEAN, reason STRING, `trigger` STRING, alerting_runs INT, "
                    "window_runs INT, window_ds STRING, top_features STRING, model_version STRING")


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)[:10]


def drift_rows(spark: SparkSession, use_case: UseCase, ds: str) -> list[dict[str, Any]]:
    """Drift rows of the last ``window_runs`` distinct dates up to ``ds`` (few: features x statistics x dates)."""
    from pyspark.sql import functions as F

    table = tables.drift(use_case.name)
    if not lake.exists(table):
        return []
    drift = lake.read(table, spark=spark).where(F.col("ds") <= F.lit(ds).cast("date"))
    window = use_case.monitoring.retrain.window_runs
    dates = [r["ds"] for r in drift.select("ds").distinct().orderBy(F.col("ds").desc()).limit(window).collect()]
    if not dates:
        return []
    columns = ["ds", "feature", "metric", "value", "status"] + (["model_version"] if "model_version" in drift.columns
                                                                  else [])
    picked = drift.where(F.col("ds").isin(dates)).select(*columns)
    return [{**r.asDict(), "ds": _day(r["ds"])} for r in picked.collect()]


def previous_decisions(spark: SparkSession, use_case: UseCase, ds: str) -> list[PreviousDecision]:
    from pyspark.sql import functions as F

    table = tables.decisions(use_case.name)
    if not lake.exists(table):
        return []
    rows = lake.read(table, spark=spark).where(F.col("ds") < F.lit(ds).cast("date")).select("ds", "retrain").collect()
    return [PreviousDecision(ds=_day(r["ds"]), retrain=bool(r["retrain"])) for r in rows]


def latest_performance(spark: SparkSession, use_case: UseCase, ds: str) -> list[CohortPerformance]:
    """The newest matured cohort(s) of the champion rows in the latest performance partition up to ``ds``."""
    from pyspark.sql import functions as F

    table = tables.performance(use_case.name)
    if not lake.exists(table):
        return []
    perf = lake.read(table, spark=spark).where(F.col("ds") <= F.lit(ds).cast("date"))
    latest = perf.agg(F.max("ds").alias("ds")).collect()[0]["ds"]
    if latest is None:
        return []
    # The champion's rows (a scores table without roles: every row), not the canary's challenger.
    role = F.col("model_role")
    part = perf.where((F.col("ds") == F.lit(latest)) & ((role == "champion") | role.isNull()))
    newest = part.agg(F.max("score_date").alias("d")).collect()[0]["d"]
    if newest is None:
        return []
    rows = part.where(F.col("score_date") == F.lit(newest)).collect()
    return [CohortPerformance(score_date=_day(r["score_date"]), rows=int(r["rows"]), auc=r["auc"],
                              holdout_auc=r["holdout_auc"], model_version=r["model_version"],
                              model_role=r["model_role"]) for r in rows]


def run(spark: SparkSession, use_case: UseCase, ds: str) -> dict[str, Any]:
    from pyspark.sql import functions as F

    policy = use_case.monitoring.retrain
    runs = summarise_drift(drift_rows(spark, use_case, ds))
    decision = decide(ds, runs, previous_decisions(spark, use_case, ds), latest_performance(spark, use_case, ds),
                      policy, top_n=settings().alerts.top_features)
    current = next((r for r in runs if r.ds == ds), None)
    model_version = current.model_version if current else None
    row = (use_case.name, dt.date.fromisoformat(ds), decision.retrain, decision.reason, decision.trigger,
           decision.alerting_runs, len(decision.window), json.dumps(decision.window),
           json.dumps([[f, p] for f, p in decision.top_features]), model_version)
    df = spark.createDataFrame([row], DECISION_COLUMNS).withColumn("decided_at", F.current_timestamp())
    lake.write(df, tables.decisions(use_case.name), mode="overwrite", partition_by=["ds"],
               replace_where=f"ds = '{ds}'")
    return {"use_case": use_case.name, "ds": ds, **decision.to_dict(), "model_version": model_version}


def decision_json(spark: SparkSession, use_case: UseCase, ds: str) -> str:
    """:func:`run`'s decision as JSON (what the DAG's decide task hands to the branch)."""
    return json.dumps(run(spark, use_case, ds))


def _cli(spark: SparkSession, use_case: UseCase, ds: str) -> str:
    return json.dumps(run(spark, use_case, ds), indent=1)


def recorded_decision(use_case: str, ds: str) -> dict[str, Any]:
    """The decision recorded for ``ds`` (read with delta-rs, no Spark): for a branch task whose decide step was
    spark-submitted and returned nothing. ``run_alerts`` is not recorded: it is False here."""
    from deltalake import DeltaTable

    table = tables.decisions(use_case)
    if not lake.exists(table):
        raise RuntimeError(f"no retraining decisions recorded at {table}: did the decide task run for {ds}?")
    rows = DeltaTable(table).to_pyarrow_table(partitions=[("ds", "=", ds)]).to_pylist()
    if not rows:
        raise RuntimeError(f"no retraining decision recorded for {use_case} on {ds} in {table}")
    row = rows[0]
    return {"use_case": use_case, "ds": ds, "retrain": bool(row["retrain"]), "reason": row["reason"],
            "trigger": row["trigger"], "alerting_runs": row["alerting_runs"], "run_alerts": False,
            "top_features": json.loads(row["top_features"] or "[]"), "model_version": row["model_version"]}


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("Decide whether the use case's model must be retrained on the date (drift alerts over the last "
                   "runs, matured performance, cooldown); record the decision.", _cli, argv)


if __name__ == "__main__":
    sys.exit(main())
