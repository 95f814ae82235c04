"""Drift of a date's features and scores against the champion model's reference statistics.

For use case ``<uc>`` and date ``ds``:

1. the **champion** (registered model ``<uc>``, alias ``champion``) and the reference statistics its training
   run logged (artifact ``reference_stats.json``, :mod:`jobs.lib.reference_stats`). No champion: nothing to
   compare with — the job says so, writes nothing and succeeds;
2. **features**: ``gold/<uc>/features`` partition ``ds`` (missing table or empty partition: an error naming both),
   every feature of the reference in one Spark aggregation pass (:func:`jobs.lib.drift.day_counts`) — numeric:
   PSI on the reference bins, KS on its percentile grid; categorical: PSI and chi-square with Cramér's V;
3. **score**: PSI of the champion's scores of the date (``scores/<uc>/daily`` partition ``score_date = ds``, rows
   with ``model_role = 'champion'`` and the champion's ``model_version``), feature ``__score__``. Skipped, saying
   why, when the table, the partition or the champion's rows are absent;
4. **new categories**: per value-set expectation (``expect_column_values_to_be_in_set`` on column ``c``) of the
   use case's suite, the share of the date's silver input rows (``rows_in`` of the silver ``events`` record in
   the quality table) that silver quarantined for it (rule ``expectation``, the expectation's name among the
   row's ``reason``), as metric ``new_category_share`` of feature ``c`` (0 when none was). Skipped, saying why,
   without the silver quality record;
5. one row per (feature, metric) into ``monitoring/<uc>/drift`` partition ``ds``, replacing the date's rows
   (a rerun gives the same rows, never doubles them). Which rows carry a status: see :mod:`jobs.lib.drift`.

Prints one line, e.g. ``drift credit_default 2026-03-01 vs champion v2: 3 alerts (duration_in_month psi 0.41,
...), 2 warnings, 27 ok``, followed by what was skipped.

Run: ``python -m jobs.drift --use-case credit_default --ds 2026-03-01``.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.lib import drift, lake, reference_stats, tables
from jobs.lib.cli import run_job
from jobs.lib.config import UseCase, settings

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from pyspark.sql import DataFrame, SparkSession

REFERENCE_ARTIFACT = "reference_stats.json"
VALUE_SET = "expect_column_values_to_be_in_set"
SILVER_STREAM = "events"


@dataclass
class DriftResult:
    use_case: str
    ds: str
    model_version: str | None  # None: no champion, nothing computed
    rows: list[drift.DriftRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        status = [r.status for r in self.rows if r.status is not None]
        return {s: status.count(s) for s in drift.STATUSES}

    def summary(self) -> str:
        head = f"drift {self.use_case} {self.ds}"
        if self.model_version is None:
            return f"{head}: " + "; ".join(self.notes)
        counts = self.counts()
        alerts = sorted((r for r in self.rows if r.status == drift.ALERT),
                        key=lambda r: (r.metric != "psi", -r.value if r.metric == "psi" else r.value, r.feature))
        listed = ", ".join(drift.describe(r, self.rows) for r in alerts)
        n_alert, n_warn = counts[drift.ALERT], counts[drift.WARN]
        text = (f"{head} vs champion v{self.model_version}: {n_alert} alert{'' if n_alert == 1 else 's'}"
                + (f" ({listed})" if listed else "")
                + f", {n_warn} warning{'' if n_warn == 1 else 's'}, {counts[drift.OK]} ok")
        return text + "".join(f"; {n}" for n in self.notes)


# --------------------------------------------------------------------------------------- reference
def champion(use_case: UseCase) -> tuple[ModelVersion, dict[str, Any]] | None:
    """The champion version of ``<uc>`` and its reference statistics; None when there is no champion."""
    import mlflow

    from jobs.lib import registry

    c = registry.client()
    version = registry.version_by_alias(c, registry.model_name(use_case.name), registry.CHAMPION)
    if version is None:
        return None
    try:
        path = mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=REFERENCE_ARTIFACT)
    except Exception as exc:
        raise FileNotFoundError(f"{use_case.name}: champion v{version.version} (run {version.run_id}) has no "
                                f"artifact {REFERENCE_ARTIFACT}: {exc}") from exc
    return version, reference_stats.loads(Path(path).read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------- features
def gold_day(spark: SparkSession, use_case: UseCase, ds: str) -> DataFrame:
    """The date's gold feature rows (lazy); the table must exist."""
    from pyspark.sql import functions as F

    path = tables.gold_features(use_case.name)
    if not lake.exists(path):
        raise FileNotFoundError(f"drift {use_case.name} {ds}: no gold features table {path}; run the gold job first")
    return lake.read(path, spark=spark).where(F.col("ds") == ds)


def feature_drift(spark: SparkSession, use_case: UseCase, ds: str, reference: dict[str, Any]) -> tuple[list[drift.DriftRow], list[str]]:
    day = gold_day(spark, use_case, ds)
    notes = []
    numeric = {f: c for f, c in drift.reference_cuts(reference).items() if f in day.columns}
    categorical = [f for f in reference.get("categorical", {}) if f in day.columns]
    absent = [f for f in [*reference.get("numeric", {}), *reference.get("categorical", {})]
              if f not in numeric and f not in categorical]
    if absent:
        notes.append(f"feature(s) of the reference not in gold, not compared: {', '.join(absent)}")
    counts = drift.day_counts(day, numeric, categorical)
    if counts.rows == 0:
        raise FileNotFoundError(f"drift {use_case.name} {ds}: gold features table "
                                f"{tables.gold_features(use_case.name)} has no rows for ds={ds}; run the gold job "
                                "for that date first")
    thresholds = use_case.monitoring.drift
    return drift.feature_rows(reference, counts, thresholds), notes


# -------------------------------------------------------------------------------------------- score
def score_drift(spark: SparkSession, use_case: UseCase, ds: str, reference: dict[str, Any], version: str
                ) -> tuple[list[drift.DriftRow], list[str]]:
    from pyspark.sql import functions as F
    from pyspark.sql.types import DateType

    path = tables.scores(use_case.name)
    if "score" not in reference:
        return [], ["score skipped: the reference has no score distribution"]
    if not lake.exists(path):
        return [], [f"score skipped: no scores table {path}"]
    scores = lake.read(path, spark=spark)
    date_type = isinstance(scores.schema["score_date"].dataType, DateType)
    day = scores.where(F.col("score_date") == (dt.date.fromisoformat(ds) if date_type else ds))
    champion_rows = day.where((F.col("model_role") == "champion") & (F.col("model_version").cast("string") == version))
    counts = drift.day_counts(champion_rows, {"score": drift.cut_points(reference["score"])})
    if counts.rows == 0:
        others = sorted({str(r["model_version"]) for r in day.where(F.col("model_role") == "champion")
                         .select("model_version").distinct().collect()})
        why = (f"the champion rows of score_date={ds} are from v{', v'.join(others)}, not v{version}" if others
               else f"no champion scores for score_date={ds}")
        return [], [f"score skipped: {why}"]
    return drift.score_rows(reference, counts.numeric["score"], use_case.monitoring.drift), []


# --------------------------------------------------------------------------------- new categories
def value_set_columns(use_case: UseCase) -> list[str]:
    """Columns with a value-set expectation in the use case's silver suite, in suite order."""
    path = Path(settings().paths.expectations) / f"{use_case.expectation_suite}.json"
    suite = json.loads(path.read_text(encoding="utf-8"))
    return list(dict.fromkeys(e["kwargs"]["column"] for e in suite.get("expectations", [])
                              if e.get("type") == VALUE_SET and "column" in e.get("kwargs", {})))


def quarantined_by_value_set(spark: SparkSession, use_case: UseCase, ds: str) -> dict[str, int]:
    """Silver rows of ``ds`` quarantined per value-set column (a row failing several counts for each)."""
    from pyspark.sql import functions as F

    path = tables.quarantine(use_case.name)
    if not lake.exists(path):
        return {}
    rows = lake.read(path, spark=spark).where((F.col("ds") == ds) & (F.col("layer") == "silver")
                                 & (F.col("stream") == SILVER_STREAM) & (F.col("rule") == "expectation"))
    pattern = r"^" + VALUE_SET + r"\((.+)\)(#\d+)?$"
    failures = (rows.select("row_id", F.explode(F.split("reason", "; ")).alias("expectation"))
                .select("row_id", F.regexp_extract("expectation", pattern, 1).alias("column"))
                .where(F.col("column") != "").distinct())
    return {r["column"]: int(r["count"]) for r in failures.groupBy("column").count().collect()}


def silver_input_rows(spark: SparkSession, use_case: UseCase, ds: str) -> int | None:
    """``rows_in`` of the date's silver events record in the quality table (None when there is none)."""
    from pyspark.sql import functions as F

    path = tables.quality(use_case.name)
    if not lake.exists(path):
        return None
    found = (lake.read(path, spark=spark).where((F.col("ds") == ds) & (F.col("layer") == "silver")
                                   & (F.col("stream") == SILVER_STREAM)).select("rows_in").collect())
    return int(found[0]["rows_in"]) if found else None


def new_category_drift(spark: SparkSession, use_case: UseCase, ds: str) -> tuple[list[drift.DriftRow], list[str]]:
    columns = value_set_columns(use_case)
    if not columns:
        return [], []
    rows_in = silver_input_rows(spark, use_case, ds)
    if rows_in is None:
        return [], [f"new_category_share skipped: no silver {SILVER_STREAM} quality record for ds={ds}"]
    return drift.new_category_rows(quarantined_by_value_set(spark, use_case, ds), columns, rows_in,
                                   use_case.monitoring.drift), []


# ------------------------------------------------------------------------------------------ the job
def compute(spark: SparkSession, use_case: UseCase, ds: str) -> DriftResult:
    """Every drift row of ``ds`` (nothing written)."""
    found = champion(use_case)
    if found is None:
        return DriftResult(use_case.name, ds, None,
                           notes=[f"no champion for model '{use_case.name}': nothing to compare with, nothing written"])
    version, reference = found
    result = DriftResult(use_case.name, ds, str(version.version))
    for rows, notes in (feature_drift(spark, use_case, ds, reference),
                        score_drift(spark, use_case, ds, reference, str(version.version)),
                        new_category_drift(spark, use_case, ds)):
        result.rows += rows
        result.notes += notes
    return result


def write(spark: SparkSession, result: DriftResult) -> None:
    """Replace the drift table's partition ``ds`` with the result's rows."""
    day = dt.date.fromisoformat(result.ds)
    now = dt.datetime.now(dt.timezone.utc)  # aware: stored as this instant whatever the machine's time zone
    records = [(result.use_case, day, r.feature, r.metric, float(r.value), None if r.threshold is None
                else float(r.threshold), r.status, result.model_version, int(r.rows), now) for r in result.rows]
    df = spark.createDataFrame(records, drift.DRIFT_SCHEMA)
    lake.write(df, tables.drift(result.use_case), mode="overwrite", partition_by=["ds"],
               replace_where=f"ds = '{result.ds}'")


def run(spark: SparkSession, use_case: UseCase, ds: str) -> str:
    result = compute(spark, use_case, ds)
    if result.model_version is not None:
        write(spark, result)
    return result.summary()


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("Drift of a date's features and champion scores against the champion's reference statistics.",
                   run, argv)


if __name__ == "__main__":
    sys.exit(main())
