"""Performance of the scores once their labels matured: AUC, KS and bad rate per score-date cohort.

On date ``ds`` (the computing date):

* **cohorts**: the ``score_date`` partitions of ``scores/<uc>/daily`` (what the CRM reads: champion rows and the
  canary's challenger rows, ``model_role``) with ``score_date + label.maturity_days <= ds`` — every label of the
  rows scored that day could have arrived by ``ds`` (the replay sends each label exactly ``maturity_days`` after
  its event; a later label is picked up by the next run, since every matured cohort is recomputed each day);
* **labels**: ``gold/<uc>/training`` partitions ``ds <=`` the date. Gold only holds matured labels
  (``label_date >= event date + maturity_days``) as 0/1 ``label``, joined to the key; the partition is the date
  the label arrived, so reading up to ``ds`` never sees a label from the future. A key whose label arrived twice
  takes the latest arrival;
* scores join labels on the use case's primary key (left join: scored rows without a label yet are counted);
* one row per ``(score_date, model_name, model_version, model_role, run_id)``: ``scored_rows``, ``rows`` (with a
  label), ``positives``, ``bad_rate`` (positive rate), ``auc`` and ``ks`` (null when the labels hold one class),
  ``holdout_auc`` — the model version's training holdout AUC, metric ``holdout_auc`` of its MLflow run (the
  scores' ``run_id``, else the registered version's run) — ``auc_drop`` (holdout - cohort), ``label_coverage``;
* written to ``monitoring/<uc>/performance`` partition ``ds`` (``replaceWhere``): each date's partition is the
  full picture as known on that date, so a rerun gives the same rows.

Metrics are computed on the driver with :mod:`jobs.lib.metrics` (numpy / scikit-learn) on the collected
``(score, label)`` pairs of the matured cohorts: a few hundred rows per cohort, a few hundred thousand after a
year of daily scoring. Past that, the join's aggregation should move to Spark (AUC by rank sums per cohort).

No scores table yet (nothing scored), no gold training table or no matured cohort: says so and writes nothing.

Run: ``python -m jobs.performance --use-case credit_default --ds 2026-01-20``.
"""
from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jobs.lib import lake, metrics, tables
from jobs.lib.cli import run_job
from jobs.lib.config import UseCase

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

HOLDOUT_METRIC = "holdout_auc"  # logged by jobs/train.py: holdout_ + jobs.lib.metrics.evaluate's "auc"
GROUP = ["score_date", "model_name", "model_version", "model_role", "run_id"]
#: The performance table's columns but ``computed_at`` (TIMESTAMP, added when written).
PERFORMANCE_COLUMNS = ("use_case STRING, ds DATE, score_date DATE, model_name STRING, model_version STRING, "
                       "model_role STRING, run_id STRING, scored_rows BIGINT, `rows` BIGINT, positives BIGINT, "
                       "bad_rate DOUBLE, auc DOUBLE, ks DOUBLE, holdout_auc DOUBLE, auc_drop DOUBLE, "
                       "label_coverage DOUBLE")


def matured_until(use_case: UseCase, ds: str) -> dt.date:
    """The newest score date whose labels have matured by ``ds``."""
    return dt.date.fromisoformat(ds) - dt.timedelta(days=use_case.label.maturity_days)


def matured_pairs(spark: SparkSession, use_case: UseCase, ds: str):
    """pandas frame of every scored row of the matured cohorts with its label (NaN: none yet): ``GROUP`` columns,
    ``score``, ``label``."""
    from pyspark.sql import functions as F

    keys = list(use_case.primary_key)
    scores = lake.read(tables.scores(use_case.name), spark=spark).where(
        F.col("score_date") <= F.lit(matured_until(use_case, ds).isoformat()).cast("date"))
    optional = {c: (F.col(c) if c in scores.columns else F.lit(None)).cast("string").alias(c)
                for c in ("model_name", "model_version", "model_role", "run_id")}
    scores = scores.select(*keys, "score_date", F.col("score").cast("double").alias("score"), *optional.values())
    training = lake.read(tables.gold_training(use_case.name), spark=spark).where(F.col("ds") <= F.lit(ds))
    labels = training.groupBy(*keys).agg(F.max_by("label", "ds").cast("double").alias("label"))
    frame = scores.join(labels, keys, "left").select(*GROUP, "score", "label").toPandas()
    frame.attrs = {}  # Spark Connect's plan metrics
    return frame


class HoldoutAuc:
    """Training holdout AUC per model version, from MLflow (looked up once per run / version)."""

    def __init__(self) -> None:
        self._client = None
        self._cache: dict[tuple, float | None] = {}
        self.problems: list[str] = []

    def client(self):
        if self._client is None:
            from jobs.lib import registry

            self._client = registry.client()
        return self._client

    def __call__(self, model_name: str | None, model_version: str | None, run_id: str | None) -> float | None:
        key = (model_name, model_version, run_id)
        if key not in self._cache:
            self._cache[key] = self._lookup(model_name, model_version, run_id)
        return self._cache[key]

    def _lookup(self, model_name, model_version, run_id) -> float | None:
        from mlflow.exceptions import MlflowException

        try:
            c = self.client()
            if not run_id and model_name and model_version:
                run_id = c.get_model_version(model_name, str(model_version)).run_id
            if not run_id:
                self.problems.append(f"model {model_name} v{model_version}: no run id to read {HOLDOUT_METRIC} from")
                return None
            value = c.get_run(run_id).data.metrics.get(HOLDOUT_METRIC)
            if value is None:
                self.problems.append(f"run {run_id}: no metric {HOLDOUT_METRIC}")
            return None if value is None else float(value)
        except MlflowException as exc:
            self.problems.append(f"model {model_name} v{model_version} run {run_id}: {exc}"[:300])
            return None


def _none(value: Any) -> Any:
    """pandas' NaN group keys back to None."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def cohort_rows(frame, use_case: UseCase, ds: str, holdout: HoldoutAuc) -> list[tuple]:
    """Pure but for ``holdout``: one row (in ``PERFORMANCE_COLUMNS`` order) per cohort of ``frame``."""
    day = dt.date.fromisoformat(ds)
    out = []
    for key, group in frame.groupby(GROUP, dropna=False, sort=True):
        score_date, model_name, model_version, model_role, run_id = (_none(k) for k in key)
        if isinstance(score_date, dt.datetime):  # a pandas Timestamp (datetime64 column): the date
            score_date = score_date.date()
        labelled = group[group["label"].notna()]
        y, p = labelled["label"].to_numpy(), labelled["score"].to_numpy()
        n, positives = int(len(labelled)), int(labelled["label"].sum())
        both = 0 < positives < n
        auc = metrics.auc(y, p) if both else None
        ks = metrics.ks(y, p) if both else None
        reference = holdout(model_name, model_version, run_id)
        out.append((use_case.name, day, score_date, model_name, model_version, model_role, run_id, int(len(group)),
                    n, positives, positives / n if n else None, auc, ks, reference,
                    reference - auc if reference is not None and auc is not None else None,
                    n / len(group) if len(group) else None))
    return out


def run(spark: SparkSession, use_case: UseCase, ds: str) -> str:
    from pyspark.sql import functions as F

    name = use_case.name
    head = f"performance {name} {ds}"
    scores = tables.scores(name)
    if not lake.exists(scores):
        return f"{head}: no scores table {scores} yet (nothing scored); nothing written"
    training = tables.gold_training(name)
    if not lake.exists(training):
        return f"{head}: no gold training table {training} yet (no labels); nothing written"
    frame = matured_pairs(spark, use_case, ds)
    until = matured_until(use_case, ds)
    if frame.empty:
        return f"{head}: no score date matured by {ds} (score dates <= {until}); nothing written"
    holdout = HoldoutAuc()
    rows = cohort_rows(frame, use_case, ds, holdout)
    df = spark.createDataFrame(rows, PERFORMANCE_COLUMNS).withColumn("computed_at", F.current_timestamp())
    table = tables.performance(name)
    lake.write(df, table, mode="overwrite", partition_by=["ds"], replace_where=f"ds = '{ds}'")

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    lines = [f"{head}: {len(rows)} cohort(s) of score dates <= {until} -> {table}"]
    for r in rows:
        lines.append(f"  {r[2]} {r[3]} v{r[4]} {r[5]}: {r[8]} of {r[7]} rows labelled, bad rate {fmt(r[10])}, "
                     f"AUC {fmt(r[11])} (holdout {fmt(r[13])}), KS {fmt(r[12])}")
    lines += [f"  note: {p}" for p in holdout.problems]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("Per score-date cohort whose labels matured by the date: AUC, KS and bad rate of the scores "
                   "against the model's training holdout AUC.", run, argv)


if __name__ == "__main__":
    sys.exit(main())
