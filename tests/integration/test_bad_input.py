"""Bad landing input never loses data: a quarantine row with a reason, or a clear task error.

One day of credit_default landing files is written by hand: real German-credit rows plus one row or file
for each kind of bad input. Every kind is checked by its own reason and count, and
``received = bronze + quarantined`` and ``bronze = silver + quarantined + duplicates`` hold.
"""
from __future__ import annotations

import csv
import io
import math

import pytest

from tests.integration.conftest import run_layers, write_landing

DS = "2026-03-02"
GOOD_ROWS = 40


def _sample_rows() -> list[dict[str, str]]:
    from jobs.lib.config import PROJECT_ROOT

    with (PROJECT_ROOT / "data" / "samples" / "german_credit.csv").open() as f:
        return list(csv.DictReader(f))


def _line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bad_day(lakehouse, spark):
    from jobs.lib.config import load_use_case

    use_case = load_use_case("credit_default")
    columns = list(use_case.schema)
    rows = []
    for i, sample in enumerate(_sample_rows()[:GOOD_ROWS + 4]):
        rows.append({**sample, "application_id": f"BAD-{i:04d}", "application_date": DS, "customer_id": f"C{i:05d}"})
    good = rows[:GOOD_ROWS]
    wrong_type = {**rows[GOOD_ROWS], "duration_in_month": "twelve"}
    out_of_range = {**rows[GOOD_ROWS + 1], "age_in_years": "150"}
    null_required = {**rows[GOOD_ROWS + 2], "credit_amount": "", "age_in_years": "12"}  # fails two expectations
    duplicate = dict(good[3])  # same key as a good row: one of the two is a duplicate
    header = _line(columns)
    body = "".join(_line([r[c] for c in columns]) for r in good + [wrong_type, out_of_range, null_required, duplicate])
    truncated = _line([rows[GOOD_ROWS + 3][c] for c in columns[:8]])
    extra_field = _line([rows[GOOD_ROWS + 3][c] for c in columns] + ["surprise"])
    main = (header + body + truncated + extra_field).encode("utf-8")
    bad_bytes = _line(["BAD-ENC", DS, "C99999"] + [good[0][c] for c in columns[3:]]).encode("utf-8").replace(
        b"radio/television", b"radio/t\xe9l\xe9vision").replace(b"car (new)", b"car (n\xffw)")
    landing = lakehouse
    write_landing(landing, "credit_default", "events", DS, main + bad_bytes, "part-00000.csv")
    # A file whose header lacks a column, one with an unexpected extra column, and an empty file.
    missing_col = [c for c in columns if c != "purpose"]
    write_landing(landing, "credit_default", "events", DS,
                  _line(missing_col) + _line([good[5][c] if c in good[5] else "" for c in missing_col]), "part-00001.csv")
    extra_col = columns + ["branch_code"]
    write_landing(landing, "credit_default", "events", DS,
                  _line(extra_col) + _line([good[6].get(c, "B12") for c in extra_col]).replace("BAD-0006", "BAD-X006"),
                  "part-00002.csv")
    write_landing(landing, "credit_default", "events", DS, b"", "part-00003.csv")
    records = run_layers(spark, use_case, DS, layers=("bronze", "silver"))
    return use_case, records


def _quarantine(layer: str):
    from jobs.lib import lake, tables

    return lake.read(tables.quarantine("credit_default")).where(f"ds = '{DS}' AND layer = '{layer}'").collect()


def test_each_bad_line_has_its_reason(bad_day):
    bronze = _quarantine("bronze")
    reasons = sorted(r.reason for r in bronze)
    assert any(r.startswith("field_count: expected 23 fields, got 8") for r in reasons)
    assert any(r.startswith("field_count: expected 23 fields, got 24") for r in reasons)
    assert any(r.startswith("encoding:") for r in reasons)
    header_rows = [r for r in bronze if r.rule == "header"]
    assert {r.source_file.rsplit("/", 1)[-1] for r in header_rows} == {"part-00001.csv", "part-00002.csv"}
    assert any("missing column(s) ['purpose']" in r.reason for r in header_rows)
    assert any("unexpected column(s) ['branch_code']" in r.reason for r in header_rows)
    encoding = next(r for r in bronze if r.rule == "encoding")
    assert encoding.raw.startswith("BAD-ENC") and encoding.row_number == GOOD_ROWS + 4 + 2 + 2

    silver = {r.record_key: r for r in _quarantine("silver")}
    assert silver["BAD-0040"].rule == "type" and "duration_in_month = 'twelve' is not int" in silver["BAD-0040"].reason
    assert silver["BAD-0041"].rule == "expectation" and "age_in_years" in silver["BAD-0041"].reason
    assert "not_be_null" in silver["BAD-0042"].reason and "credit_amount" in silver["BAD-0042"].reason
    # A row failing two expectations is quarantined once, naming both (sorted, "; "-separated).
    assert silver["BAD-0042"].reason == ("expect_column_values_to_be_between(age_in_years); "
                                         "expect_column_values_to_not_be_null(credit_amount)")
    assert len(silver) == 3


def test_counts_reconcile_with_duplicates_and_empty_file(bad_day):
    _, records = bad_day
    bronze = {r.stream: r for r in records["bronze"]}["events"]
    silver = {r.stream: r for r in records["silver"]}["events"]
    received = GOOD_ROWS + 4 + 2 + 1 + 1 + 1  # main file body, bad-encoding line, one line in each header file
    assert bronze.rows_in == received
    assert bronze.quarantined == 5 and bronze.rows_out == received - 5
    assert silver.rows_in == bronze.rows_out
    assert silver.duplicates == 1
    assert silver.quarantined == 3
    assert silver.rows_out == GOOD_ROWS  # 40 good keys; the repeated line of one of them is a duplicate
    assert bronze.reconciled and silver.reconciled
    assert silver.quarantined_by_reason["type(duration_in_month)"] == 1
    # per expectation, a row failing two counts under both (BAD-0041 and BAD-0042 are out of range)
    assert silver.quarantined_by_reason["expect_column_values_to_be_between(age_in_years)"] == 2
    assert silver.quarantined_by_reason["expect_column_values_to_not_be_null(credit_amount)"] == 1


def test_missing_landing_folder_is_a_clear_error(bad_day, spark):
    from jobs.bronze import LandingError, ingest

    use_case, _ = bad_day
    with pytest.raises(LandingError, match=r"landing folder .*credit_default/events/ds=2026-03-09 does not exist"):
        ingest(spark, use_case, "2026-03-09")


def test_too_many_bad_rows_fail_the_task_and_publish_nothing(bad_day, lakehouse, spark):
    from jobs import bronze, silver
    from jobs.lib import lake, tables
    from jobs.lib.quality import QualityGateError

    use_case, _ = bad_day
    ds = "2026-03-03"
    columns = list(use_case.schema)
    rows = _sample_rows()[:10]
    lines = [_line(columns)]
    for i, r in enumerate(rows):
        age = "250" if i < 5 else r["age_in_years"]  # half the rows out of range
        values = {**r, "application_id": f"GATE-{i}", "application_date": ds, "customer_id": f"C{i}", "age_in_years": age}
        lines.append(_line([values[c] for c in columns]))
    write_landing(lakehouse, "credit_default", "events", ds, "".join(lines))
    bronze.ingest(spark, use_case, ds)
    with pytest.raises(QualityGateError, match=r"5 of 10 rows \(50.0%\).*expect_column_values_to_be_between"):
        silver.refine(spark, use_case, ds)
    assert lake.read(tables.silver("credit_default", "events")).where(f"ds = '{ds}'").count() == 0
    quarantined = lake.read(tables.quarantine("credit_default")).where(f"ds = '{ds}' AND layer = 'silver'")
    assert quarantined.count() == 5
    status = lake.read(tables.quality("credit_default")).where(f"ds = '{ds}' AND layer = 'silver' AND stream = 'events'")
    assert status.first().status == "failed_validation"


def test_cast_step_equals_normalising_every_cell_with_the_regex_then_casting(spark):
    """silver.cast_to_schema skips the per-cell regex (and skips normalising cells that cast): the typed values and
    the type errors must be those of the plain definition, ``nullif(regexp_replace(trim(v), '\\s+', ' '), '')``
    on every cell, then ``try_cast``."""
    from pyspark.sql import functions as F

    from jobs.silver import cast_to_schema

    values = ["12", " 12 ", "\t12\n", "1 2", "1  2", "", "   ", "\t", " \t ", None, "x", "3.5", " -7 ", "1e3",
              "2026-01-05", " 2026-01-05\t", "2026 -01-05", "a  b", "a\t\tb", " a \r\n b ", "\x0bv\x0c", "é  ü",
              "NaN", "true", "1\u00a02"]
    schema = {"s": "string", "i": "int", "d": "double", "dt": "date", "b": "boolean"}
    rows = [(v, v, v, v, v, f"f.csv:{n}") for n, v in enumerate(values)]
    # Mixed rows too: the guards are per row (one value's tab or double space sends the whole row down the slow
    # path), so a row must also mix values that need normalising with values that do not.
    rows += [tuple(values[(n + 7 * k) % len(values)] for k in range(5)) + (f"m.csv:{n}",) for n in range(len(values))]
    rows += [("a  b", "12", "3.5", "2026-01-05", "true", "x.csv:0"), ("a b", "\t12", " 1e3 ", "2026-01-05", "true", "x.csv:1"),
             ("é\x0bü", " 1 ", "1  2", "2026 -01-05", "x", "x.csv:2")]
    frame = spark.createDataFrame(rows, "s string, i string, d string, dt string, b string, _row_id string")
    def comparable(rows):  # NaN != NaN: compare it as text
        return {r["_row_id"]: {k: "NaN" if isinstance(v, float) and math.isnan(v) else v for k, v in r.asDict().items()}
                for r in rows}

    got = comparable(cast_to_schema(frame, schema).collect())

    def plain(column):
        cleaned = F.regexp_replace(F.trim(column), r"\s+", " ")
        return F.when(cleaned == "", F.lit(None)).otherwise(cleaned)

    raw = frame.select("*", *[plain(F.col(c)).alias(f"__n_{c}") for c in schema])
    typed = {c: F.col(f"__n_{c}") if t == "string" else F.expr(f"try_cast(__n_{c} AS {t})") for c, t in schema.items()}
    errors = [F.when(F.col(f"__n_{c}").isNotNull() & typed[c].isNull(),
                     F.format_string(f"type: {c} = '%s' is not {t}", F.col(f"__n_{c}")))
              for c, t in schema.items() if t != "string"]
    expected = raw.select(*[typed[c].alias(c) for c in schema], "_row_id", F.coalesce(*errors).alias("_type_error"))
    expected = comparable(expected.collect())
    assert got == expected
    assert expected["f.csv:2"]["i"] == 12 and expected["f.csv:18"]["s"] == "a b"  # the cases are live
    assert expected["x.csv:0"]["s"] == "a b" and expected["x.csv:1"]["i"] == 12 and expected["x.csv:2"]["s"] == "é ü"
    assert sum(r["_type_error"] is not None for r in expected.values()) > 5
