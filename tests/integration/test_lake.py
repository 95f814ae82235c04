"""The lake layer (jobs.lib.lake) on real Delta tables in temp dirs: outcomes, not calls.

Every table a test creates through the ``new_table`` fixture is checked at teardown against an
independent reader (``deltalake.DeltaTable(path).to_pyarrow_table()``): same columns, same rows.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.lib import lake
from tests.integration.lake_files import data_files, live_files
from jobs.lib.lake import DeltaLakeError

ROWS = "id long, name string, amount double, ds string"
UTC = dt.timezone.utc


# ----------------------------------------------------------------------------------------- helpers
def sorted_rows(rows: list[dict] | list[tuple]) -> list:
    return sorted(rows, key=repr)


def _plain(value):
    """Aware datetimes in UTC, so that values from different readers compare and sort alike."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def arrow_rows(table: pa.Table) -> list[tuple]:
    return sorted_rows([tuple(_plain(v) for v in r.values()) for r in table.to_pylist()])


def spark_rows(df) -> list[tuple]:
    return sorted_rows([tuple(r) for r in df.collect()])


def assert_independent_reader_agrees(spark, path: str) -> None:
    """``deltalake`` (delta-rs, no Spark) and ``lake.read`` see the same columns and the same rows."""
    independent = DeltaTable(path).to_pyarrow_table()
    through_spark = lake.read(path, spark=spark).toArrow()
    assert independent.column_names == through_spark.column_names, path
    assert independent.num_rows == through_spark.num_rows, path
    assert arrow_rows(independent) == arrow_rows(through_spark), path


@pytest.fixture
def new_table(spark, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """``new_table(name)`` -> a fresh table path; at teardown every such table that exists is read back
    with the independent reader and compared with ``lake.read``."""
    made: list[str] = []

    def make(name: str = "table") -> str:
        path = str(tmp_path / name)
        made.append(path)
        return path

    yield make
    for path in made:
        if lake.exists(path):
            assert_independent_reader_agrees(spark, path)


@pytest.fixture
def delta_rs(spark) -> None:
    """For tests of behaviour specific to the embedded engine (file layout, its replaceWhere rules)."""
    if lake.engine(spark) != lake.DELTA_RS:
        pytest.skip(f"delta-rs engine behaviour; this session runs {lake.engine(spark)}")


def frame(spark, rows: list[tuple], schema: str = ROWS):
    return spark.createDataFrame(rows, schema)


PEOPLE = [
    (1, "ada", 10.0, "2024-01-01"),
    (2, "bob", 20.5, "2024-01-01"),
    (3, "cy", None, "2024-01-02"),
    (4, None, 40.0, "2024-01-02"),
    (5, "eve", 50.0, "2024-01-03"),
]


# ------------------------------------------------------------------------------ append / overwrite
def test_append_adds_rows_as_new_versions(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE[:3]), t)
    assert lake.version(t) == 0
    lake.write(frame(spark, PEOPLE[3:]), t, mode="append")
    assert lake.version(t) == 1
    assertDataFrameEqual(lake.read(t), frame(spark, PEOPLE))
    assert [c.operation for c in lake.history(t)] == ["WRITE", "CREATE TABLE"]


def test_overwrite_replaces_all_rows_and_keeps_old_files_until_vacuum(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t)
    first_files = live_files(t)
    lake.write(frame(spark, [(9, "new", 9.0, "2024-02-01")]), t, mode="overwrite")
    assert lake.version(t) == 1
    assertDataFrameEqual(lake.read(t), frame(spark, [(9, "new", 9.0, "2024-02-01")]))
    assert not first_files & live_files(t)
    assert first_files <= data_files(t)  # logically removed only: time travel still works
    assertDataFrameEqual(lake.read(t, version=0), frame(spark, PEOPLE))
    removed = lake.vacuum(t, retention_hours=0)
    assert len(removed) == len(first_files)
    assert data_files(t) == live_files(t)
    assertDataFrameEqual(lake.read(t), frame(spark, [(9, "new", 9.0, "2024-02-01")]))


def test_partitioned_write_lays_out_hive_folders(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t, partition_by=["ds"])
    assert DeltaTable(t).metadata().partition_columns == ["ds"]
    folders = {Path(f).parent.as_posix() for f in data_files(t)}
    assert folders == {"ds=2024-01-01", "ds=2024-01-02", "ds=2024-01-03"}
    for f in data_files(t):  # partition values live in the path and the log, not in the files
        assert pq.read_schema(Path(t) / f).names == ["id", "name", "amount"]
    assertDataFrameEqual(lake.read(t), frame(spark, PEOPLE))
    assert lake.read(t).columns == ["id", "name", "amount", "ds"]
    # appending to a partitioned table keeps its partitioning without repeating partition_by
    lake.write(frame(spark, [(6, "fay", 6.0, "2024-01-04")]), t)
    assert DeltaTable(t).metadata().partition_columns == ["ds"]
    assert any(f.startswith("ds=2024-01-04/") for f in live_files(t))


def test_partition_by_other_columns_than_the_table_is_refused(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t, partition_by=["ds"])
    with pytest.raises(Exception, match="partition columns"):
        lake.write(frame(spark, PEOPLE), t, partition_by=["name"])
    assert lake.version(t) == 0


def test_files_have_few_large_row_groups_and_reads_use_every_core(spark, new_table, delta_rs):
    t = new_table()
    rows = 45_000  # Spark hands the writer Arrow batches of maxRecordsPerBatch rows (10,000 by default)
    lake.write(spark.range(0, rows, numPartitions=2).withColumn("v", F.col("id") * 2), t)
    files = sorted(data_files(t))
    assert len(files) == 2
    for f in files:  # each task's batches end up in one row group, not one per batch
        assert pq.read_metadata(Path(t) / f).num_row_groups == 1
    # two small files are two read splits on a 2-core session, not one
    assert lake.read(t).select(F.spark_partition_id()).distinct().count() == 2  # local[2]
    assert lake.read(t).agg(F.count("*"), F.sum("v")).first() == (rows, rows * (rows - 1))


def test_an_empty_frame_creates_an_empty_table_and_appends_an_empty_version(spark, new_table):
    t = new_table()
    lake.write(frame(spark, []), t, partition_by=["ds"])
    assert lake.exists(t) and lake.version(t) == 0
    assert lake.read(t).count() == 0
    assert lake.read(t).columns == ["id", "name", "amount", "ds"]
    lake.write(frame(spark, PEOPLE), t)
    lake.write(frame(spark, []), t)
    assert lake.version(t) == 2
    assertDataFrameEqual(lake.read(t), frame(spark, PEOPLE))


# ---------------------------------------------------------------------------------- replace_where
def test_replace_where_overwrites_one_partition_and_leaves_the_others(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t, partition_by=["ds"])
    others_before = lake.read(t).where("ds != '2024-01-02'").collect()
    replacement = [(30, "new-cy", 3.5, "2024-01-02"), (31, "new", 3.1, "2024-01-02"), (32, None, None, "2024-01-02")]

    lake.write(frame(spark, replacement), t, mode="overwrite", replace_where="ds = '2024-01-02'")

    assert lake.version(t) == 1
    assertDataFrameEqual(lake.read(t).where("ds != '2024-01-02'"), others_before)
    assertDataFrameEqual(lake.read(t).where("ds = '2024-01-02'"), frame(spark, replacement))
    latest = lake.history(t)[0]
    assert latest.operation == "WRITE"
    assert "2024-01-02" in latest.parameters.get("predicate", "")


def test_replace_where_with_in_list_and_range(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t, partition_by=["ds"])
    lake.write(frame(spark, [(7, "x", 7.0, "2024-01-01"), (8, "y", 8.0, "2024-01-03")]), t, mode="overwrite",
               replace_where="ds IN ('2024-01-01', '2024-01-03')")
    assert sorted(r.id for r in lake.read(t).collect()) == [3, 4, 7, 8]
    lake.write(frame(spark, [(9, "z", 9.0, "2024-01-03")]), t, mode="overwrite", replace_where="ds >= '2024-01-02'")
    assert sorted(r.id for r in lake.read(t).collect()) == [7, 9]


def test_replace_where_refuses_rows_outside_the_predicate_and_commits_nothing(spark, new_table, delta_rs):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t, partition_by=["ds"])
    files_before = data_files(t)
    rows = [(30, "ok", 1.0, "2024-01-02"), (31, "stray", 1.0, "2024-01-03")]

    with pytest.raises(Exception, match=r"does not conform to replaceWhere.*2024-01-03"):
        lake.write(frame(spark, rows), t, mode="overwrite", replace_where="ds = '2024-01-02'")

    assert lake.version(t) == 0
    assertDataFrameEqual(lake.read(t), frame(spark, PEOPLE))
    assert data_files(t) == files_before  # the aborted write removed the files it had written


def test_replace_where_on_a_non_partition_column_is_refused(spark, new_table, delta_rs):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t, partition_by=["ds"])
    with pytest.raises(Exception, match=r"column 'name' is not a partition column.*\['ds'\]"):
        lake.write(frame(spark, [(1, "ada", 1.0, "2024-01-01")]), t, mode="overwrite", replace_where="name = 'ada'")
    assert lake.version(t) == 0
    assertDataFrameEqual(lake.read(t), frame(spark, PEOPLE))


def test_replace_where_needs_overwrite_mode(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t, partition_by=["ds"])
    with pytest.raises(ValueError, match="replace_where needs mode='overwrite'"):
        lake.write(frame(spark, PEOPLE[:1]), t, mode="append", replace_where="ds = '2024-01-01'")
    assert lake.version(t) == 0


# ------------------------------------------------------------------------------------------ merge
def test_merge_upserts_by_key(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t, partition_by=["ds"])
    source = frame(spark, [(2, "bob-2", 21.0, "2024-01-01"), (4, "dan", None, "2024-01-02"),
                           (6, "fay", 60.0, "2024-01-04")])

    lake.merge(source, t, keys=["id"])

    assert lake.version(t) == 1
    assert lake.history(t)[0].operation == "MERGE"
    expected = [PEOPLE[0], (2, "bob-2", 21.0, "2024-01-01"), PEOPLE[2], (4, "dan", None, "2024-01-02"), PEOPLE[4],
                (6, "fay", 60.0, "2024-01-04")]
    assertDataFrameEqual(lake.read(t), frame(spark, expected))


def test_merge_with_a_composite_key(spark, new_table):
    t = new_table()
    lake.write(frame(spark, [(1, "a", 1.0, "2024-01-01"), (1, "a", 2.0, "2024-01-02")]), t)
    lake.merge(frame(spark, [(1, "a", 9.0, "2024-01-02"), (1, "b", 3.0, "2024-01-02")]), t, keys=["id", "name", "ds"])
    assertDataFrameEqual(lake.read(t), frame(spark, [(1, "a", 1.0, "2024-01-01"), (1, "a", 9.0, "2024-01-02"),
                                                     (1, "b", 3.0, "2024-01-02")]))


def test_merge_refuses_a_source_with_duplicate_keys(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t)
    source = frame(spark, [(2, "one", 1.0, "2024-01-01"), (2, "two", 2.0, "2024-01-01"), (7, "ok", 7.0, "2024-01-01")])
    with pytest.raises(DeltaLakeError, match=r"duplicate keys.*'id': 2"):
        lake.merge(source, t, keys=["id"])
    assert lake.version(t) == 0
    assertDataFrameEqual(lake.read(t), frame(spark, PEOPLE))


def test_merge_into_a_missing_table_creates_it(spark, new_table):
    t = new_table()
    assert not lake.exists(t)
    lake.merge(frame(spark, PEOPLE), t, keys=["id"])
    assert lake.exists(t)
    assert lake.version(t) == 0
    assertDataFrameEqual(lake.read(t), frame(spark, PEOPLE))


def test_merge_with_a_missing_key_column_is_refused(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t)
    with pytest.raises(DeltaLakeError, match=r"key column\(s\) \['customer_id'\]"):
        lake.merge(frame(spark, PEOPLE), t, keys=["customer_id"])
    assert lake.version(t) == 0


# ----------------------------------------------------------------- time travel, history, restore
def test_time_travel_history_and_restore(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE[:2]), t)                                       # v0
    lake.write(frame(spark, PEOPLE[2:4]), t)                                      # v1
    lake.merge(frame(spark, [(1, "ada-2", 11.0, "2024-01-01")]), t, keys=["id"])  # v2
    v2_rows = lake.read(t).collect()

    assertDataFrameEqual(lake.read(t, version=0), frame(spark, PEOPLE[:2]))
    assertDataFrameEqual(lake.read(t, version=1), frame(spark, PEOPLE[:4]))

    lake.restore(t, 0)                                                            # v3 = v0's state
    assert lake.version(t) == 3
    assertDataFrameEqual(lake.read(t), frame(spark, PEOPLE[:2]))
    assertDataFrameEqual(lake.read(t, version=2), v2_rows)  # history is kept

    commits = lake.history(t)
    assert [c.version for c in commits] == [3, 2, 1, 0]
    assert [c.operation for c in commits] == ["RESTORE", "MERGE", "WRITE", "CREATE TABLE"]
    assert [c.timestamp_ms for c in commits] == sorted((c.timestamp_ms for c in commits), reverse=True)

    lake.write(frame(spark, PEOPLE[4:]), t)  # the restored table is an ordinary table again
    assertDataFrameEqual(lake.read(t), frame(spark, PEOPLE[:2] + PEOPLE[4:]))


def test_reading_a_version_that_does_not_exist_fails_clearly(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t)
    with pytest.raises(Exception, match="version"):
        lake.read(t, version=7).collect()


def test_reading_a_missing_table_fails_clearly(spark, tmp_path):
    with pytest.raises(DeltaLakeError, match="no Delta table"):
        lake.read(str(tmp_path / "nothing"))


# ---------------------------------------------------------------------------- schema enforcement
@pytest.mark.parametrize(
    "change, message",
    [
        pytest.param(lambda df: df.drop("amount"), r"missing column\(s\) \['amount'\]", id="missing-column"),
        pytest.param(lambda df: df.withColumn("id", F.col("id").cast("string")),
                     r"column 'id' is string in the data but bigint in the table", id="retyped-column"),
        pytest.param(lambda df: df.withColumn("score", F.lit(0.5)),
                     r"new column\(s\) \['score'\].*merge_schema=True", id="new-column"),
    ],
)
def test_schema_mismatch_fails_naming_the_column_and_leaves_the_table_unchanged(spark, new_table, change, message):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t, partition_by=["ds"])
    files_before = data_files(t)
    with pytest.raises(DeltaLakeError, match=message):
        lake.write(change(frame(spark, [(9, "x", 9.0, "2024-01-09")])), t, mode="append")
    assert lake.version(t) == 0
    assertDataFrameEqual(lake.read(t), frame(spark, PEOPLE))
    assert data_files(t) == files_before


def test_schema_mismatch_is_refused_by_merge_too(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t)
    with pytest.raises(DeltaLakeError, match=r"column 'amount' is string"):
        lake.merge(frame(spark, PEOPLE).withColumn("amount", F.col("amount").cast("string")), t, keys=["id"])
    assert lake.version(t) == 0


def test_merge_schema_adds_the_new_column_with_nulls_for_old_rows(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE[:2]), t, partition_by=["ds"])
    extra = frame(spark, [(7, "gil", 7.0, "2024-01-05")]).withColumn("score", F.lit(0.75))
    lake.write(extra, t, mode="append", merge_schema=True)
    assert lake.version(t) > 0
    assert lake.read(t).columns == ["id", "name", "amount", "ds", "score"]
    assertDataFrameEqual(
        lake.read(t),
        frame(spark, [(*PEOPLE[0], None), (*PEOPLE[1], None), (7, "gil", 7.0, "2024-01-05", 0.75)],
              ROWS + ", score double"),
    )
    # the new column is now part of the schema: frames without it are refused
    with pytest.raises(DeltaLakeError, match=r"missing column\(s\) \['score'\]"):
        lake.write(frame(spark, PEOPLE[2:3]), t)


def test_columns_are_matched_by_name_not_position(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE[:1]), t)
    lake.write(frame(spark, PEOPLE[1:2]).select("ds", "amount", "id", "name"), t)
    assertDataFrameEqual(lake.read(t), frame(spark, PEOPLE[:2]))


# ------------------------------------------------------------------------------------ types
TYPES = ("s string, i int, l bigint, d double, b boolean, day date, ts timestamp")
TYPED_ROWS = [
    ("a", 1, 2**40, 1.5, True, dt.date(2024, 1, 31), dt.datetime(2024, 1, 31, 23, 59, 59, 123456, tzinfo=UTC)),
    ("é ü 漢", -2_147_483_648, -(2**63), -0.0, False, dt.date(1970, 1, 1), dt.datetime(1970, 1, 1, tzinfo=UTC)),
    ("", 2_147_483_647, 2**63 - 1, 1e300, True, dt.date(9999, 12, 31), dt.datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC)),
    (None, None, None, None, None, None, None),
]


def test_types_round_trip(spark, new_table):
    t = new_table()
    source = frame(spark, TYPED_ROWS, TYPES)
    lake.write(source, t)
    back = lake.read(t)
    assert back.schema.simpleString() == source.schema.simpleString()
    assertDataFrameEqual(back, source)
    assert spark_rows(back) == spark_rows(source)  # exact values, not approximate doubles
    assert lake.read(t).where(F.col("b").isNull()).count() == 1


def test_partition_values_of_each_type_round_trip(spark, new_table):
    t = new_table()
    at = dt.datetime(2024, 3, 1, 10, 30, 0, 250000, tzinfo=UTC)
    rows = [
        ("x", 1, dt.date(2024, 3, 1), True, at, 1.0),
        ("y", 2, dt.date(2024, 3, 2), False, at, 2.0),
        ("z", None, None, None, None, 3.0),  # null partition values -> __HIVE_DEFAULT_PARTITION__
        ("a/b=c d%", 1, dt.date(2024, 3, 1), True, at, 4.0),  # characters that must be escaped in paths
    ]
    schema = "name string, n int, day date, flag boolean, at timestamp, v double"
    source = frame(spark, rows, schema)
    lake.write(source, t, partition_by=["n", "day", "flag", "at"])
    assertDataFrameEqual(lake.read(t), source)
    assert lake.read(t).schema.simpleString() == source.schema.simpleString()
    assert any("__HIVE_DEFAULT_PARTITION__" in f for f in data_files(t))
    assertDataFrameEqual(lake.read(t).where(F.col("day") == dt.date(2024, 3, 1)),
                         source.where(F.col("day") == dt.date(2024, 3, 1)))
    assertDataFrameEqual(lake.read(t).where("n = 2"), source.where("n = 2"))
    assertDataFrameEqual(lake.read(t).where(F.col("at") == at), source.where(F.col("at") == at))
    # replace_where on a date partition column
    new_day = frame(spark, [("w", 2, dt.date(2024, 3, 2), False, at, 9.0)], schema)
    lake.write(new_day, t, mode="overwrite", replace_where="day = '2024-03-02'")
    assertDataFrameEqual(lake.read(t), source.where("name != 'y'").unionByName(new_day))


# --------------------------------------------------------------------------- partition pruning
def test_partition_filter_reads_only_that_partition(spark, new_table, monkeypatch):
    monkeypatch.setenv("RISKPIPE_DELTA_NATIVE_IO", "0")  # the data source: files are opened lazily, per split
    t = new_table()
    lake.write(frame(spark, PEOPLE), t, partition_by=["ds"])
    expected = lake.read(t).where("ds = '2024-01-02'").collect()
    assert sorted(r.id for r in expected) == [3, 4]

    # Delete another partition's data file behind the table's back: a pruned read never opens it ...
    victim = next(Path(t, f) for f in data_files(t) if f.startswith("ds=2024-01-03/"))
    victim.unlink()
    assertDataFrameEqual(lake.read(t).where("ds = '2024-01-02'"), expected)
    assertDataFrameEqual(lake.read(t).where(F.col("ds").isin("2024-01-01", "2024-01-02")),
                         frame(spark, PEOPLE[:4]))
    assert lake.read(t).where("ds < '2024-01-03'").count() == 4
    # ... while an unpruned read does, and fails
    with pytest.raises(Exception, match="(?i)no such file|not found|FileNotFound"):
        lake.read(t).collect()
    # the native reader checks every file of the snapshot when the read is defined: a lost file is an error
    # naming it, whatever the filter
    monkeypatch.setenv("RISKPIPE_DELTA_NATIVE_IO", "1")
    with pytest.raises(Exception, match="(?i)path does not exist.*" + victim.name):
        lake.read(t).where("ds = '2024-01-02'").collect()
    # restore the file so the teardown check can read the table
    lake.write(frame(spark, [PEOPLE[4]]), t, mode="overwrite", replace_where="ds = '2024-01-03'")


def test_native_and_data_source_reads_agree(spark, new_table, monkeypatch):
    """Spark's Parquet reader over the log's file list gives what the data source gives: values, types,
    null partitions, columns added later (null in older files), time travel."""
    t = new_table()
    lake.write(frame(spark, PEOPLE), t, partition_by=["ds"])
    wider = frame(spark, PEOPLE[:2]).withColumn("note", F.lit("added"))
    lake.write(wider, t, merge_schema=True)
    lake.write(frame(spark, PEOPLE[:1]).withColumn("note", F.lit(None).cast("string")).withColumn(
        "ds", F.lit(None).cast("string")), t)
    reads = {}
    for native in ("0", "1"):
        monkeypatch.setenv("RISKPIPE_DELTA_NATIVE_IO", native)
        reads[native] = (lake.read(t), lake.read(t, version=0), lake.read(t).where(F.col("ds").isNull()))
    for a, b in zip(reads["0"], reads["1"]):
        assert a.schema == b.schema
        assertDataFrameEqual(a, b)
    assert reads["1"][2].count() == 1


# ------------------------------------------------------------------------------ one write, two outputs
def _staged_parquet(path: str) -> list[Path]:
    return list((Path(path) / lake.STAGING).rglob("*.parquet"))


@pytest.mark.parametrize("native", ["1", "0"], ids=["native-io", "data-source"])
def test_write_diverting_commits_the_kept_rows_and_hands_the_diverted_ones_to_the_block(
        spark, new_table, monkeypatch, native):
    """The table gets the rows whose flag is false or null, in one commit replacing the partition; the block gets
    the flagged rows with the table's columns; no file under the table holds them once the block has ended."""
    monkeypatch.setenv("RISKPIPE_DELTA_NATIVE_IO", native)
    t = new_table()
    lake.write(frame(spark, PEOPLE), t, partition_by=["ds"])
    day = [(10, "keep", 1.0, "2024-01-02"), (11, "out", 2.0, "2024-01-02"), (12, "no flag", None, "2024-01-02")]
    flagged = frame(spark, day).withColumn("_out", F.when(F.col("id") == 11, True).when(F.col("id") == 10, False))
    with lake.write_diverting(flagged.select("_out", "name", "id", "amount", "ds"), t, "_out", mode="overwrite",
                              replace_where="ds = '2024-01-02'") as diverted:
        assert diverted.columns == ["id", "name", "amount", "ds"]
        assert spark_rows(diverted) == [(11, "out", 2.0, "2024-01-02")]
        assert lake.version(t) == 1  # committed before the block
    assertDataFrameEqual(lake.read(t), frame(spark, [*PEOPLE[:2], PEOPLE[4], day[0], day[2]]))
    for f in live_files(t):
        assert pq.read_schema(Path(t) / f).names == ["id", "name", "amount"]
    assert not _staged_parquet(t)
    assert all(11 not in pq.read_table(Path(t) / f).column("id").to_pylist() for f in data_files(t))


def test_write_diverting_with_every_row_or_none_diverted_and_a_block_that_fails(spark, new_table):
    t = new_table()
    lake.write(frame(spark, PEOPLE), t, partition_by=["ds"])
    day = frame(spark, PEOPLE[2:4])
    with lake.write_diverting(day.withColumn("_out", F.lit(True)), t, "_out", mode="overwrite",
                              replace_where="ds = '2024-01-02'") as diverted:
        assertDataFrameEqual(diverted, day)
    assert lake.version(t) == 1 and lake.read(t).where("ds = '2024-01-02'").count() == 0

    with pytest.raises(RuntimeError, match="the block failed"):
        with lake.write_diverting(day.withColumn("_out", F.lit(False)), t, "_out", mode="overwrite",
                                  replace_where="ds = '2024-01-02'") as diverted:
            assert diverted.count() == 0 and diverted.columns == day.columns
            raise RuntimeError("the block failed")
    assert lake.version(t) == 2  # the commit stands; what the block was given is gone
    assertDataFrameEqual(lake.read(t), frame(spark, PEOPLE))
    assert not _staged_parquet(t)

    retyped = day.withColumn("amount", F.col("amount").cast("string")).withColumn("_out", F.lit(False))
    with pytest.raises(DeltaLakeError, match="amount"):
        with lake.write_diverting(retyped, t, "_out", mode="overwrite", replace_where="ds = '2024-01-02'"):
            pass
    assert lake.version(t) == 2


# ---------------------------------------------------------------------------------------- interop
def test_tables_written_by_deltalake_read_through_the_lake(spark, new_table):
    plain, parted = new_table("plain"), new_table("parted")
    source = pa.table({
        "id": pa.array([1, 2, 3], pa.int64()),
        "name": pa.array(["a", None, "c"], pa.string()),
        "amount": pa.array([1.25, 2.5, None], pa.float64()),
        "day": pa.array([dt.date(2024, 1, 1), None, dt.date(1999, 12, 31)], pa.date32()),
        "at": pa.array([dt.datetime(2024, 1, 1, 12, 30, 15, 250000, tzinfo=UTC), None,
                        dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
        "ds": pa.array(["2024-01-01", "2024-01-02", "2024-01-02"], pa.string()),
    })
    write_deltalake(plain, source)
    write_deltalake(parted, source, partition_by=["ds"])

    for path in (plain, parted):
        back = lake.read(path, spark=spark)
        assert back.schema.simpleString() == (
            "struct<id:bigint,name:string,amount:double,day:date,at:timestamp,ds:string>")
        assert arrow_rows(back.toArrow()) == arrow_rows(source)
    assert sorted(r.id for r in lake.read(parted).where("ds = '2024-01-02'").collect()) == [2, 3]

    # and the lake can keep writing to them
    more = spark.createDataFrame([(4, "d", 4.0, dt.date(2024, 2, 2), dt.datetime(2024, 2, 2, tzinfo=UTC),
                                   "2024-01-03")],
                                 "id long, name string, amount double, day date, at timestamp, ds string")
    lake.write(more, parted)
    lake.merge(more.withColumn("name", F.lit("d2")), plain, keys=["id"])
    assert lake.read(parted).count() == 4
    assert [r.name for r in lake.read(plain).where("id = 4").collect()] == ["d2"]


def test_timestamp_ntz_written_by_deltalake_reads_through_the_lake(spark, new_table):
    t = new_table()
    source = pa.table({"id": pa.array([1, 2], pa.int64()),
                       "local": pa.array([dt.datetime(2024, 5, 1, 8, 0), None], pa.timestamp("us"))})
    write_deltalake(t, source)
    back = lake.read(t)
    assert back.schema.simpleString() == "struct<id:bigint,local:timestamp_ntz>"
    assert arrow_rows(back.toArrow()) == arrow_rows(source)


def test_tables_are_nullable_whatever_the_nullability_of_the_data(spark, new_table):
    """As with delta-spark: a table created from non-nullable columns still accepts nulls later, and a
    non-nullable frame appended to a table does not change the table's schema."""
    not_null = spark.range(10, 12).select(
        F.col("id"), F.lit("n").alias("name"), F.lit(1.0).alias("amount"), F.lit("2024-01-09").alias("ds"))
    assert not any(f.nullable for f in not_null.schema.fields)
    created, appended = new_table("created"), new_table("appended")

    lake.write(not_null, created)
    lake.write(frame(spark, PEOPLE), created)
    lake.write(frame(spark, PEOPLE), appended)
    lake.write(not_null, appended)

    for t in (created, appended):
        assert all(f.nullable for f in lake.read(t).schema.fields), t
        assert all(f.nullable for f in DeltaTable(t).schema().fields), t
        assert lake.read(t).where(F.col("name").isNull()).count() == 1, t
        assert lake.read(t).where(F.col("amount").isNull()).count() == 1, t


def _named_source(name: str) -> type:
    """A one-row Python data source called ``name`` (a name nothing registered yet)."""
    from pyspark.sql.datasource import DataSource, DataSourceReader

    class Reader(DataSourceReader):
        def read(self, partition):
            yield (name,)

    class Source(DataSource):
        @classmethod
        def name(cls):
            return name

        def schema(self):
            return "source string"

        def reader(self, schema):
            return Reader()

    return Source


def test_clients_registering_a_data_source_at_the_same_moment_all_succeed(spark):
    """Two tasks (or two test workers) on a server just started both register ``delta`` on the shared session at
    once. Spark lets a user data source be registered again, but the one that loses the race can be told the name
    already exists (it checks whether the name is taken while the other is taking it): ``lake.install`` must still
    succeed in both."""
    import threading
    import uuid

    rounds, clients = 6, 3
    for _ in range(rounds):
        source = _named_source(f"race_{uuid.uuid4().hex[:8]}")
        barrier, errors = threading.Barrier(clients), []

        def register(source=source, barrier=barrier, errors=errors):
            barrier.wait()
            try:
                lake._register(spark, source)
            except Exception as exc:  # noqa: BLE001 - the test reports whatever a client was told
                errors.append(exc)

        threads = [threading.Thread(target=register) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors[0]
    assert spark.read.format(source.name()).load().collect()[0]["source"] == source.name()  # the last one works
