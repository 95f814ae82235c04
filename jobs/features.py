"""Feature functions: pure ``(DataFrame, FeatureParams) -> DataFrame``, each adding one column.

A use case names them in ``features.derived`` of its YAML (``fn`` and ``params``), so a new use case
needs configuration, not code. Functions that look at other events (``prior_event_count``,
``trailing_mean_ratio``) get the history in ``params.history`` and are point-in-time correct: a row
only sees events dated strictly before its own event date.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class FeatureParams:
    """What a feature function needs: its output name, its YAML params, and the event context."""

    name: str
    params: dict[str, Any]
    event_date: str  # column with the event's date
    entity: str  # column identifying the customer (hashed)
    history: DataFrame | None = field(default=None, compare=False)  # earlier events (silver), if needed

    def param(self, key: str) -> Any:
        if key not in self.params:
            raise KeyError(f"feature '{self.name}': missing param '{key}'")
        return self.params[key]


def ratio(df: DataFrame, p: FeatureParams) -> DataFrame:
    """numerator / denominator; null when the denominator is 0 or null."""
    from pyspark.sql import functions as F

    num, den = F.col(p.param("numerator")), F.col(p.param("denominator"))
    return df.withColumn(p.name, F.when(den != 0, num.cast("double") / den))


def log1p(df: DataFrame, p: FeatureParams) -> DataFrame:
    """log(1 + x) for x >= 0; sign-preserving (−log(1 + |x|)) for negative values such as balances."""
    from pyspark.sql import functions as F

    x = F.col(p.param("column")).cast("double")
    return df.withColumn(p.name, F.signum(x) * F.log1p(F.abs(x)))


def prior_event_count(df: DataFrame, p: FeatureParams) -> DataFrame:
    """How many events the same entity had in the ``window_days`` days before this event's date.

    Counted per (entity, date) — the history is first reduced to events per entity and day — and joined back
    on (entity, date): rows with a null entity or date match nothing and get 0.
    """
    from pyspark.sql import functions as F

    window = int(p.param("window_days"))
    daily = (_history(p).groupBy(F.col(p.entity).alias("__entity"), F.col(p.event_date).alias("__date"))
             .agg(F.count(F.lit(1)).alias("__n")))
    targets = df.select(F.col(p.entity).alias("__e"), F.col(p.event_date).alias("__d")).distinct()
    counts = (targets.join(daily, (F.col("__e") == F.col("__entity"))
                           & (F.col("__date") < F.col("__d"))
                           & (F.col("__date") >= F.date_sub(F.col("__d"), window)), "inner")
              .groupBy("__e", "__d").agg(F.sum("__n").alias("__count")))
    joined = df.join(counts, (F.col(p.entity) == F.col("__e")) & (F.col(p.event_date) == F.col("__d")), "left")
    return (joined.withColumn(p.name, F.coalesce(F.col("__count"), F.lit(0)).cast("int"))
            .drop("__e", "__d", "__count"))


def trailing_mean_ratio(df: DataFrame, p: FeatureParams) -> DataFrame:
    """value / mean of the same column over all events in the ``window_days`` days before this date."""
    from pyspark.sql import functions as F

    column, window = p.param("column"), int(p.param("window_days"))
    daily = (_history(p).groupBy(F.col(p.event_date).alias("__date"))
             .agg(F.sum(column).alias("__sum"), F.count(column).alias("__n")))
    dates = df.select(F.col(p.event_date).alias("__target")).distinct()
    trailing = (dates.join(daily, (F.col("__date") < F.col("__target"))
                           & (F.col("__date") >= F.date_sub(F.col("__target"), window)), "inner")
                .groupBy("__target").agg((F.sum("__sum") / F.sum("__n")).alias("__mean")))
    return (df.join(trailing, F.col(p.event_date) == F.col("__target"), "left")
            .withColumn(p.name, F.when(F.col("__mean") != 0, F.col(column).cast("double") / F.col("__mean")))
            .drop("__target", "__mean"))


def _history(p: FeatureParams) -> DataFrame:
    if p.history is None:
        raise ValueError(f"feature '{p.name}' needs the event history (params.history)")
    return p.history


FUNCTIONS: dict[str, Callable[[DataFrame, FeatureParams], DataFrame]] = {
    "ratio": ratio,
    "log1p": log1p,
    "prior_event_count": prior_event_count,
    "trailing_mean_ratio": trailing_mean_ratio,
}
HISTORY_WINDOW = {"prior_event_count", "trailing_mean_ratio"}  # functions that read earlier events
