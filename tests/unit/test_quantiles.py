"""jobs.lib.quantiles: the same percentiles as Spark's exact ``percentile``, whichever way they are found.

Small frames with a small ``sample_rows``, so each path runs: brackets from a sample (a column of many distinct
doubles), Spark's ``percentile`` (a column of few distinct values, one with NaN, one all null), and the fallback
where a bracket misses (``z=0``: brackets a few sample ranks wide).
"""
from __future__ import annotations

import pytest

from jobs.lib.quantiles import percentiles

PROBABILITIES = (0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)


@pytest.fixture(scope="module")
def frame(spark):
    # amount: ~4000 distinct doubles with some repeats; months: 40 distinct ints; with_nan: doubles, NaN and nulls
    return spark.range(6000).selectExpr(
        "id",
        "round(exp(rand(7) * 8) + 100, 2) AS amount",
        "cast(6 + pmod(id * 7919, 40) AS int) AS months",
        "CASE WHEN id % 97 = 0 THEN double('NaN') WHEN id % 13 = 0 THEN NULL ELSE rand(3) * 1000 END AS with_nan",
        "CAST(NULL AS double) AS empty",
    ).localCheckpoint()


def _spark_percentiles(frame, columns, probabilities=PROBABILITIES):
    from pyspark.sql import functions as F

    wanted = F.array(*[F.lit(p) for p in probabilities])
    row = frame.agg(*[F.percentile(F.col(c).cast("double"), wanted).alias(c) for c in columns]).first()
    return {c: (list(row[c]) if row[c] is not None else None) for c in columns}


COLUMNS = ["amount", "months", "with_nan", "empty"]


def _comparable(found: dict) -> dict:
    """NaN as a string (NaN != NaN): Spark's percentile is NaN where the rank falls on the NaN values."""
    return {c: None if v is None else ["NaN" if x != x else x for x in v] for c, v in found.items()}


def test_percentiles_are_spark_percentile_to_the_last_bit_on_every_path(frame):
    found, _ = percentiles(frame, COLUMNS, PROBABILITIES, rows=6000, sample_rows=1000)
    expected = _spark_percentiles(frame, COLUMNS)
    assert _comparable(found) == _comparable(expected)
    assert expected["empty"] is None and expected["amount"][0] < expected["amount"][-1]
    assert expected["with_nan"][-1] != expected["with_nan"][-1]  # the largest value is NaN, as in Spark


def test_a_bracket_that_misses_its_rank_falls_back_to_spark_percentile(frame):
    probabilities = [i / 100 for i in range(1, 100)]
    found, _ = percentiles(frame, ["amount"], probabilities, rows=6000, sample_rows=300, z=0.0)
    assert found == _spark_percentiles(frame, ["amount"], probabilities)


def test_frames_no_larger_than_the_sample_and_rows_far_off_the_truth_give_the_same_values(frame):
    small = frame.where("id < 500")
    expected = _spark_percentiles(small, COLUMNS)
    expected = _comparable(expected)
    assert _comparable(percentiles(small, COLUMNS, PROBABILITIES, rows=500)[0]) == expected  # rows <= sample_rows
    assert _comparable(percentiles(small, COLUMNS, PROBABILITIES, rows=100_000, sample_rows=1000)[0]) == expected


def test_aggregates_ridden_along_come_back_by_name(frame):
    from pyspark.sql import functions as F

    _, extra = percentiles(frame, ["amount"], (0.5,), rows=6000, sample_rows=1000,
                           extra={"amount_mean": F.avg("amount"), "rows": F.count(F.lit(1))})
    mean = frame.agg(F.avg("amount")).first()[0]
    assert extra == {"amount_mean": mean, "rows": 6000}


def test_a_sample_drawn_from_a_frame_of_more_rows_serves_as_well(frame):
    """Silver's way: the sample is drawn from all cast rows, the percentiles are of the rows kept."""
    kept = frame.where("id % 5 != 0")
    found, _ = percentiles(kept, ["amount", "with_nan"], PROBABILITIES, rows=4800, sample_of=frame, sample_rows=1000)
    assert _comparable(found) == _comparable(_spark_percentiles(kept, ["amount", "with_nan"]))
