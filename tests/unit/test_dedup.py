"""jobs.silver.dedup_rank, as silver ranks a batch's rows: the latest received row of a key wins (ingest time,
then file, then line), the others lose; rows with a null key never lose; a key received once always wins."""
from __future__ import annotations

import datetime as dt

T1, T2 = dt.datetime(2026, 1, 1, 8), dt.datetime(2026, 1, 1, 9)
COLUMNS = "application_id string, part string, _row_id string, _ingest_time timestamp, _source_file string, " \
          "_row_number long"


def _losers(spark, rows, keys):
    from pyspark.sql import functions as F

    from jobs.silver import dedup_rank

    df = spark.createDataFrame(rows, COLUMNS)
    ranked = df.withColumn("__rank", dedup_rank(df, keys))
    return {r["_row_id"] for r in ranked.where(F.col("__rank") > 1).collect()}


ROWS = [
    ("A", "x", "a1", T1, "f2.csv", 9), ("A", "x", "a2", T2, "f1.csv", 2), ("A", "x", "a3", T2, "f2.csv", 1),
    ("B", "x", "b1", T1, "f1.csv", 7), ("B", "x", "b2", T1, "f1.csv", 3),
    ("C", "x", "c1", T1, "f1.csv", 4),
    (None, "x", "n1", T1, "f1.csv", 5), (None, "x", "n2", T2, "f1.csv", 6),
    ("D", None, "d1", T1, "f1.csv", 8), ("D", None, "d2", T2, "f1.csv", 10), ("D", "y", "d3", T1, "f1.csv", 11),
]


def test_the_latest_received_row_of_a_key_wins_and_null_keys_never_lose(spark):
    # A: a3 wins (latest ingest time, then the later file name); B: b1 (the later line); C is alone; the null
    # keys stay; D: d2 (latest ingest time) over d1 and d3
    assert _losers(spark, ROWS, ["application_id"]) == {"a1", "a2", "b2", "d1", "d3"}


def test_a_composite_key_with_a_null_part_is_never_merged(spark):
    # (D, null) twice: a null part makes a null key, so d1 and d2 both stay; (D, y) is alone
    assert _losers(spark, ROWS, ["application_id", "part"]) == {"a1", "a2", "b2"}
