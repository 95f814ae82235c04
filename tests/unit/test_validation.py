"""jobs.lib.validation: GX suites on Spark frames, failing rows by _row_id, table-level failures.

Frames are built here, shaped like silver: typed columns, hashed customer_id, unique string _row_id.
"""
from __future__ import annotations

import gc
import hashlib
import json
import weakref
from datetime import date, timedelta

import pandas as pd
import pytest

from jobs.lib.config import PROJECT_ROOT, load_use_case
from jobs.lib.validation import SuiteError, load_suite, validate

SAMPLES = PROJECT_ROOT / "data" / "samples"
NOT_NULL_AMOUNT = "expect_column_values_to_not_be_null(credit_amount)"
AMOUNT_RANGE = "expect_column_values_to_be_between(credit_amount)"
AGE_RANGE = "expect_column_values_to_be_between(age_in_years)"
PURPOSE_SET = "expect_column_values_to_be_in_set(purpose)"


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def silver_frame(spark, use_case_name: str, n: int):
    """The first ``n`` rows of the use case's real sample, as silver would hand them to validation."""
    uc = load_use_case(use_case_name)
    sample = pd.read_csv(SAMPLES / uc.source.sample, dtype=str, keep_default_na=False, nrows=n)
    sample = sample.rename(columns=uc.source.rename).drop(columns=uc.source.drop)
    key, day, entity = uc.primary_key[0], uc.event_timestamp, uc.entity
    prefix = "".join(part[0] for part in uc.name.split("_")).upper()
    sample[key] = [f"{prefix}-20260101-{i:06d}" for i in range(1, len(sample) + 1)]
    sample[day] = [(date(2026, 1, 1) + timedelta(days=i % 30)).isoformat() for i in range(len(sample))]
    sample[entity] = [_sha(f"C{i % 150:06d}") for i in range(len(sample))]
    sample["_row_id"] = [f"r{i:06d}" for i in range(len(sample))]
    columns = [*uc.schema, "_row_id"]
    raw = spark.createDataFrame(sample[columns].astype(object), schema=", ".join(f"`{c}` string" for c in columns))
    return raw.selectExpr(*(f"CAST(`{c}` AS {t}) AS `{c}`" for c, t in uc.schema.items()), "_row_id")


def failed_pairs(outcome) -> set[tuple[str, str]]:
    return {(r["_row_id"], r["expectation"]) for r in outcome.failed_rows.collect()}


def with_values(df, column: str, values: dict[str, object], cast: str):
    """``df`` with ``column`` set to ``values[_row_id]`` on those rows (None = null)."""
    from pyspark.sql import functions as F

    expr = F.col(column)
    for row_id, value in values.items():
        expr = F.when(F.col("_row_id") == row_id, F.lit(value).cast(cast)).otherwise(expr)
    return df.withColumn(column, expr)


# ------------------------------------------------------------------------------------------ real suites
def test_both_real_suites_load_with_the_expected_checks():
    for name in ("credit_default", "lead_scoring"):
        uc = load_use_case(name)
        suite = load_suite(uc.expectation_suite)
        assert suite.name == uc.expectation_suite
        configs = [e.configuration for e in suite.expectations]
        by_type: dict[str, list] = {}
        for c in configs:
            by_type.setdefault(c.type, []).append(c.kwargs)
        not_null = {k["column"] for k in by_type["expect_column_values_to_not_be_null"]}
        assert set(uc.required) | {uc.event_timestamp} <= not_null
        assert [k["column"] for k in by_type["expect_column_values_to_be_unique"]] == uc.primary_key
        assert [(k["column"], k["regex"]) for k in by_type["expect_column_values_to_match_regex"]] == [
            (c, "^[0-9a-f]{64}$") for c in uc.pii]
        in_set = {k["column"] for k in by_type["expect_column_values_to_be_in_set"]}
        assert in_set == set(uc.categorical_columns) - set(uc.pii)
        ranged = {k["column"] for k in by_type["expect_column_values_to_be_between"]}
        assert ranged == {c for c, t in uc.schema.items() if t in {"int", "bigint", "double", "float"}}
        (match_set,) = by_type["expect_table_columns_to_match_set"]
        assert match_set["column_set"] == list(uc.schema) and match_set["exact_match"] is False
        assert by_type["expect_table_row_count_to_be_between"] == [{"min_value": 1}]
        assert all(e.meta.get("notes") for e in suite.expectations
                   if e.configuration.type not in {"expect_column_values_to_not_be_null"})


def test_real_credit_sample_passes(spark):
    outcome = validate(silver_frame(spark, "credit_default", 200), "credit_default_silver")
    assert outcome.success, outcome.summary()
    assert outcome.rows == 200
    assert outcome.failed_rows.count() == 0
    assert outcome.table_failures == []
    assert "all 30 expectations passed on 200 rows" in outcome.summary()


def test_real_lead_sample_passes(spark):
    outcome = validate(silver_frame(spark, "lead_scoring", 200), "lead_scoring_silver")
    assert outcome.success, outcome.summary()
    assert outcome.rows == 200 and outcome.failed_rows.count() == 0


# ---------------------------------------------------------------------------------------- dirty rows
@pytest.fixture(scope="module")
def dirty(spark):
    """One validation of a 40-row credit frame with known bad rows (validating costs a few seconds)."""
    df = silver_frame(spark, "credit_default", 40)
    df = with_values(df, "credit_amount", {"r000003": None, "r000007": None, "r000011": -50.0}, "double")
    df = with_values(df, "age_in_years", {"r000005": 150, "r000011": 12}, "int")
    df = with_values(df, "purpose", {"r000009": "space travel"}, "string")
    df = with_values(df, "application_id", {"r000013": "CD-20260101-000015"}, "string")  # r000014's key
    return validate(df, "credit_default_silver")


def test_clean_frame_passes(spark):
    outcome = validate(silver_frame(spark, "credit_default", 20), "credit_default_silver")
    assert outcome.success
    assert all(o.success for o in outcome.outcomes) and len(outcome.outcomes) == 30
    assert outcome.failed_rows.columns == ["_row_id", "expectation"]


def test_nulls_in_required_column_blame_exactly_those_rows(dirty):
    (o,) = [o for o in dirty.outcomes if o.name == NOT_NULL_AMOUNT]
    assert (o.success, o.row_level, o.unexpected_count) == (False, True, 2)
    assert {r for r, e in failed_pairs(dirty) if e == NOT_NULL_AMOUNT} == {"r000003", "r000007"}
    # nulls are not range failures too: GX ignores nulls outside not-null expectations
    assert ("r000003", AMOUNT_RANGE) not in failed_pairs(dirty)


def test_out_of_range_value_blames_that_row(dirty):
    assert {r for r, e in failed_pairs(dirty) if e == AGE_RANGE} == {"r000005", "r000011"}
    (o,) = [o for o in dirty.outcomes if o.name == AGE_RANGE]
    assert o.unexpected_count == 2 and "150" in o.observed


def test_value_not_in_set_blames_that_row(dirty):
    assert {r for r, e in failed_pairs(dirty) if e == PURPOSE_SET} == {"r000009"}
    (o,) = [o for o in dirty.outcomes if o.name == PURPOSE_SET]
    assert "space travel" in o.observed


def test_row_failing_two_expectations_appears_once_per_expectation(dirty):
    rows = [r for r in dirty.failed_rows.collect() if r["_row_id"] == "r000011"]
    assert sorted(r["expectation"] for r in rows) == [AGE_RANGE, AMOUNT_RANGE]


def test_duplicate_key_blames_every_row_of_the_key(dirty):
    unique = "expect_column_values_to_be_unique(application_id)"
    assert {r for r, e in failed_pairs(dirty) if e == unique} == {"r000013", "r000014"}


def test_dirty_rows_are_row_level_not_table_failures(dirty):
    assert not dirty.success
    assert dirty.table_failures == []
    assert dirty.failed_rows.count() == 2 + 2 + 1 + 1 + 2  # nulls, ages, purpose, negative amount, duplicate key
    assert dirty.failed_rows.dtypes == [("_row_id", "string"), ("expectation", "string")]
    summary = dirty.summary()
    assert f"{NOT_NULL_AMOUNT}: 2 of 40 rows, e.g. null" in summary
    assert f"{PURPOSE_SET}: 1 of 40 rows, e.g. space travel (rows r000009)" in summary


def test_one_pass_listing_equals_gx_complete_row_ids(spark):
    """The rows listed from GX's own unexpected conditions (one pass) are exactly the ids GX's COMPLETE result
    lists, expectation by expectation, on a frame with nulls, ranges, sets, a bad hash and a duplicate key."""
    from jobs.lib import validation as V

    df = silver_frame(spark, "credit_default", 60)
    df = with_values(df, "credit_amount", {"r000003": None, "r000011": -50.0, "r000020": 2e6}, "double")
    df = with_values(df, "age_in_years", {"r000005": 150, "r000011": 12, "r000030": None}, "int")
    df = with_values(df, "purpose", {"r000009": "space travel", "r000031": None}, "string")
    df = with_values(df, "customer_id", {"r000040": "not-a-hash", "r000041": None}, "string")
    df = with_values(df, "application_id", {"r000013": "CD-20260101-000015"}, "string")  # r000014's key
    df = df.cache()
    try:
        outcome = validate(df, "credit_default_silver")
        suite = load_suite("credit_default_silver")
        entries = list(zip(suite.expectations, V._unique_names(suite.expectations)))
        complete = V._run(df, suite, V._result_format("_row_id"), suite.name, entries)
    finally:
        df.unpersist()
    expected = set()
    for _exp, name in entries:
        result = complete[name]
        if not result.success:
            expected |= {(str(i), name) for i in V._index_ids(result.result["unexpected_index_list"], "_row_id")}
    assert len({e for _, e in expected}) >= 7  # several kinds of failure
    assert failed_pairs(outcome) == expected
    assert outcome.table_failures == []
    by_name = {o.name: o for o in outcome.outcomes}
    for name in {e for _, e in expected}:
        assert by_name[name].unexpected_count == complete[name].result["unexpected_count"]


def test_fallback_to_gx_complete_lists_the_same_rows(dirty, spark, monkeypatch):
    """If GX's conditions cannot be had (or disagree with its counts), GX's COMPLETE result lists the rows."""
    from jobs.lib import validation as V

    monkeypatch.setattr(V, "_conditions", lambda *a, **k: (None, {}))
    df = silver_frame(spark, "credit_default", 40)
    df = with_values(df, "credit_amount", {"r000003": None, "r000007": None, "r000011": -50.0}, "double")
    df = with_values(df, "age_in_years", {"r000005": 150, "r000011": 12}, "int")
    df = with_values(df, "purpose", {"r000009": "space travel"}, "string")
    df = with_values(df, "application_id", {"r000013": "CD-20260101-000015"}, "string")
    fallback = validate(df, "credit_default_silver")
    assert failed_pairs(fallback) == failed_pairs(dirty)
    assert [(o.name, o.success, o.unexpected_count) for o in fallback.outcomes] == [
        (o.name, o.success, o.unexpected_count) for o in dirty.outcomes]


def test_missing_column_is_a_table_failure(spark):
    df = silver_frame(spark, "credit_default", 20).drop("purpose")
    outcome = validate(df, "credit_default_silver")
    assert not outcome.success
    names = {o.name for o in outcome.table_failures}
    assert names == {"expect_table_columns_to_match_set", PURPOSE_SET}
    (in_set,) = [o for o in outcome.table_failures if o.name == PURPOSE_SET]
    assert "purpose" in in_set.observed and in_set.observed.startswith("error:")
    (columns,) = [o for o in outcome.table_failures if o.name == "expect_table_columns_to_match_set"]
    assert "missing" in columns.observed and "purpose" in columns.observed
    assert "_row_id" not in columns.observed.split(";")[0]  # extra columns are allowed, not reported
    summary = outcome.summary()
    assert "expect_table_columns_to_match_set [table-level]" in summary and PURPOSE_SET in summary
    assert outcome.failed_rows.count() == 0


# ------------------------------------------------------------------------------- many rows, small suite
def _write_suite(directory, name: str, expectations: list[dict]) -> None:
    (directory / f"{name}.json").write_text(json.dumps({"name": name, "expectations": expectations}))


def test_5000_failing_rows_are_all_reported(spark, tmp_path):
    from pyspark.sql import functions as F

    _write_suite(tmp_path, "big", [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": 0, "max_value": 999}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "y"}},
    ])
    df = spark.range(0, 6000).select(
        F.concat(F.lit("row-"), F.col("id").cast("string")).alias("_row_id"),
        F.col("id").alias("x"),  # ids 1000..5999 are out of range: 5,000 rows
        F.when(F.col("id") % 2 == 0, F.lit(None)).otherwise(F.col("id")).alias("y"),  # 3,000 nulls
    )
    outcome = validate(df, "big", directory=tmp_path)
    by_name = {o.name: o for o in outcome.outcomes}
    assert by_name["expect_column_values_to_be_between(x)"].unexpected_count == 5000
    assert by_name["expect_column_values_to_not_be_null(y)"].unexpected_count == 3000
    got = outcome.failed_rows.groupBy("expectation").agg(F.count("*").alias("n"), F.countDistinct("_row_id").alias("d"))
    assert {r["expectation"]: (r["n"], r["d"]) for r in got.collect()} == {
        "expect_column_values_to_be_between(x)": (5000, 5000),
        "expect_column_values_to_not_be_null(y)": (3000, 3000),
    }
    between = {r["_row_id"] for r in outcome.failed_rows.filter("expectation LIKE '%between%'").collect()}
    assert between == {f"row-{i}" for i in range(1000, 6000)}
    assert outcome.table_failures == []


def test_frame_cache_state_is_left_as_found(spark, tmp_path):
    _write_suite(tmp_path, "tiny", [{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}])
    df = spark.range(0, 10).selectExpr("CAST(id AS STRING) AS _row_id")
    assert validate(df, "tiny", directory=tmp_path).success and not df.is_cached
    cached = df.cache()
    try:
        assert validate(cached, "tiny", directory=tmp_path).success and cached.is_cached
    finally:
        cached.unpersist()


def test_a_validated_frame_is_freed_once_the_caller_lets_go_of_it(spark, tmp_path):
    """GX's execution engine (one per process) used to keep the last frame it validated until the next
    validation. A local checkpoint is released on the Spark Connect server by its client frame's finaliser, so a
    frame GX still held when the task's process ended was never released: the warm server kept every silver
    task's rows in its shared session."""
    _write_suite(tmp_path, "tiny", [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "_row_id", "value_set": ["1", "2"]}}])
    df = spark.range(0, 10).selectExpr("CAST(id AS STRING) AS _row_id").localCheckpoint()
    outcome = validate(df, "tiny", directory=tmp_path, persist=False)
    assert len(outcome.failed_row_ids) == 8  # the listing pass ran too
    frame = weakref.ref(df)
    del df
    gc.collect()
    assert frame() is None


def test_empty_frame_fails_the_row_count(spark, tmp_path):
    _write_suite(tmp_path, "tiny", [{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}])
    outcome = validate(spark.range(0, 0).selectExpr("CAST(id AS STRING) AS _row_id"), "tiny", directory=tmp_path)
    assert [o.name for o in outcome.table_failures] == ["expect_table_row_count_to_be_between"]
    assert "observed 0" in outcome.summary()


def test_missing_row_id_column_raises(spark, tmp_path):
    _write_suite(tmp_path, "tiny", [{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}])
    with pytest.raises(ValueError, match="_row_id"):
        validate(spark.range(0, 3), "tiny", directory=tmp_path)


# -------------------------------------------------------------------------------------------- load_suite
def test_load_suite_errors_name_the_file(tmp_path):
    with pytest.raises(SuiteError, match=r"nope\.json.*not found"):
        load_suite("nope", tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(SuiteError, match=r"broken\.json.*JSON"):
        load_suite("broken", tmp_path)
    _write_suite(tmp_path, "typo", [{"type": "expect_column_values_to_be_betwen", "kwargs": {"column": "x"}}])
    with pytest.raises(SuiteError, match=r"typo\.json: expectations\[0\] \(expect_column_values_to_be_betwen\)"):
        load_suite("typo", tmp_path)
    _write_suite(tmp_path, "badkw", [{"type": "expect_column_values_to_be_between",
                                       "kwargs": {"column": "x", "min_value": "low"}}])
    with pytest.raises(SuiteError, match=r"badkw\.json: expectations\[0\]"):
        load_suite("badkw", tmp_path)
    _write_suite(tmp_path, "empty", [])
    with pytest.raises(SuiteError, match=r"empty\.json.*non-empty"):
        load_suite("empty", tmp_path)
    (tmp_path / "renamed.json").write_text(json.dumps({"name": "other", "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}]}))
    with pytest.raises(SuiteError, match=r"renamed\.json: key 'name'"):
        load_suite("renamed", tmp_path)
