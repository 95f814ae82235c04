"""Landing files are read as RFC 4180 records, in the declared encoding, plain or gzip, under a column-change policy.

A CRM-like use case (``crm_notes``: free-text notes and addresses) lives in a temporary configuration folder.
Each test writes one day of landing files by hand and checks what reaches bronze, silver, the quarantine and
the quality table: every record intact (byte-equal field values), ``received`` counting records, nothing lost.
"""
from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import random

import pytest

from tests.conftest import configured
from tests.integration.conftest import conf_folder, run_layers, write_landing

NAME = "crm_notes"
COLUMNS = ["note_id", "noted_on", "customer_id", "amount", "city", "note"]
USE_CASE = {
    "name": NAME,
    "description": "Free-text CRM notes: quoted fields hold delimiters, doubled quotes and line breaks.",
    "source": {"format": "csv", "sample": "unused.csv"},
    "schema": {"note_id": "string", "noted_on": "date", "customer_id": "string", "amount": "double",
               "city": "string", "note": "string"},
    "primary_key": ["note_id"],
    "event_timestamp": "noted_on",
    "entity": "customer_id",
    "label": {"column": "converted", "positive": "yes", "negative": "no", "maturity_days": 1},
    "pii": ["customer_id"],
    "required": ["note_id", "noted_on", "customer_id"],
    "text_columns": ["note"],  # free text: silver keeps it byte for byte (city is normalised like any category)
    "features": {"numeric": ["amount"], "categorical": ["city"]},
    "expectations": {"silver": f"{NAME}_silver"},
    "thresholds": {"max_quarantine_share": 1.0},
}
SUITE = {"name": f"{NAME}_silver", "meta": {},
         "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "note_id"}}]}


@pytest.fixture(scope="module")
def crm(tmp_path_factory, lakehouse):
    from jobs.lib import config

    conf = conf_folder(tmp_path_factory.mktemp("crm_conf"), {NAME: USE_CASE}, {f"{NAME}_silver": SUITE})
    with configured(RISKPIPE_CONF_DIR=str(conf)):
        yield config.load_use_case(NAME)


def _csv(rows: list[list[str]], terminator: str = "\r\n", delimiter: str = ",", quoting=csv.QUOTE_MINIMAL) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=terminator, delimiter=delimiter, quoting=quoting).writerows(rows)
    return buffer.getvalue()


def _row(i: int, ds: str, note: str = "ok", city: str = "Zurich") -> list[str]:
    return [f"N-{ds}-{i:04d}", ds, f"C{i % 7:03d}", f"{100 + i}.5", city, note]


def _records_of(content: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content, newline="")))


def _quality(ds: str, layer: str = "bronze"):
    from jobs.lib import lake, tables

    return {r.stream: r for r in lake.read(tables.quality(NAME)).where(f"ds = '{ds}' AND layer = '{layer}'").collect()}


def _quarantine(ds: str):
    from jobs.lib import lake, tables

    return lake.read(tables.quarantine(NAME)).where(f"ds = '{ds}' AND layer = 'bronze'").orderBy("row_number").collect()


def _bronze(ds: str):
    from jobs.lib import lake, tables

    return lake.read(tables.bronze(NAME, "events")).where(f"ds = '{ds}'").orderBy("_row_number").collect()


def test_quoted_delimiters_doubled_quotes_and_line_breaks_land_intact_and_records_are_counted(crm, lakehouse, spark):
    from jobs.lib import lake, tables

    ds = "2026-04-01"
    rng = random.Random(11)
    pieces = ["plain", "a, b", 'she said "no"', "line one\nline two", "crlf\r\ninside", '"quoted start', "", "x;y",
              'end quote"', "trailing comma,", "\n\nblank lines inside\n"]
    rows = [_row(i, ds, note="".join(rng.choice(pieces) for _ in range(rng.randint(1, 3))) or "empty",
                 city=rng.choice(["Zurich", "Bern, Ost", 'Saint "Gallen"', "Basel\nStadt"]))
            for i in range(120)]
    plain = _csv([COLUMNS] + rows[:60])
    all_quoted = _csv([COLUMNS] + rows[60:], quoting=csv.QUOTE_ALL)  # CRM exports often quote every field
    write_landing(lakehouse, NAME, "events", ds, plain, "part-00000.csv")
    write_landing(lakehouse, NAME, "events", ds, all_quoted, "part-00001.csv")
    assert plain.count("\n") > 61 and all_quoted.count("\n") > 61  # records really span lines

    run_layers(spark, crm, ds, layers=("bronze", "silver"))

    bronze = _bronze(ds)
    assert sorted([r[c] for c in COLUMNS] for r in bronze) == sorted(rows)  # byte-equal values, every record once
    # A record's row number is the physical line it starts on.
    first_lines = {}
    for name, content in (("part-00000.csv", plain), ("part-00001.csv", all_quoted)):
        line = 2
        for record in _records_of(content)[1:]:
            first_lines[(name, record[0])] = line
            line += _csv([record], quoting=csv.QUOTE_ALL if name.endswith("1.csv") else csv.QUOTE_MINIMAL).count("\n")
    assert {(r._source_file.rsplit("/", 1)[-1], r.note_id): r._row_number for r in bronze} == first_lines
    quality = _quality(ds)["events"]
    assert (quality.rows_in, quality.rows_out, quality.quarantined) == (120, 120, 0)
    assert quality.reconciled and "2 file(s) with multi-line records" in quality.detail
    silver = lake.read(tables.silver(NAME, "events")).where(f"ds = '{ds}'").select("note_id", "city", "note").collect()
    assert sorted((r.note_id, r.city, r.note) for r in silver) == sorted((r[0], " ".join(r[4].split()), r[5])
                                                                          for r in rows)


def test_an_unterminated_quote_quarantines_the_rest_of_the_file_and_counts_reconcile(crm, lakehouse, spark):
    ds = "2026-04-02"
    good = [_row(i, ds, note="multi\nline" if i == 2 else "fine") for i in range(5)]
    broken = _csv([COLUMNS] + good, terminator="\n") + f'N-{ds}-0099,{ds},C001,1.0,Bern,"never closed\nmore\n' \
        + _csv([_row(i, ds) for i in range(100, 103)], terminator="\n")
    write_landing(lakehouse, NAME, "events", ds, broken)

    run_layers(spark, crm, ds, layers=("bronze",))

    assert [r.note_id for r in _bronze(ds)] == [r[0] for r in good]
    bad = _quarantine(ds)
    # The record opening the quote is on line 8 (header, 5 records, one of them on two lines); lines 8..12 go.
    assert [r.row_number for r in bad] == list(range(8, 13))
    assert {r.rule for r in bad} == {"unterminated_quote"}
    assert "opened on line 8" in bad[0].reason
    assert bad[0].raw.startswith(f"N-{ds}-0099") and bad[-1].raw.startswith(f"N-{ds}-0102")
    quality = _quality(ds)["events"]
    assert (quality.rows_in, quality.rows_out, quality.quarantined) == (10, 5, 5) and quality.reconciled


def test_lines_inside_a_quoted_field_that_read_as_records_of_their_own_are_stitched_back_byte_for_byte(
        crm, lakehouse, spark):
    """A line inside a quoted field can itself read as a well-formed record (no quote, the header's number of
    fields, empty ones too). It is part of its record all the same: the record lands byte for byte (CRLF, spaces,
    empty fields) and nothing lands on its own; after an unterminated quote such lines are quarantined with their
    text as it landed. (Guards a bronze that keeps less than the raw line: one that kept such a line as its parsed
    fields and joined them back lost the empty ones.)"""
    ds = "2026-04-08"
    lookalike = "A, b ,,D,E ,F"  # 6 fields, no quote: a record of its own when read alone
    notes = [f"start\r\n{lookalike}\r\nend", "before\r\n,,,,,\r\n  \r\nafter", f"{lookalike}\r\n{lookalike}"]
    good = [_row(i, ds, note=note) for i, note in enumerate(notes)]
    tail = [",,,,,", f"N-{ds}-0100,{ds},C001,1.0,Bern,{lookalike.replace(',', ';')}"]
    text = _csv([COLUMNS] + good) + f'N-{ds}-0099,{ds},C001,1.0,Bern,"never closed\r\n' + "\r\n".join(tail) + "\r\n"
    write_landing(lakehouse, NAME, "events", ds, text)

    run_layers(spark, crm, ds, layers=("bronze",))

    assert [[r[c] for c in COLUMNS] for r in _bronze(ds)] == good
    bad = _quarantine(ds)
    assert [(r.rule, r.raw) for r in bad] == [("unterminated_quote", f'N-{ds}-0099,{ds},C001,1.0,Bern,"never closed'),
                                              *[("unterminated_quote", line) for line in tail]]
    quality = _quality(ds)["events"]
    assert (quality.rows_in, quality.rows_out, quality.quarantined) == (6, 3, 3) and quality.reconciled


def test_a_quote_inside_a_field_is_text_and_a_record_it_splits_into_more_fields_is_quarantined_whole(
        crm, lakehouse, spark):
    ds = "2026-04-07"
    good = [_row(i, ds) for i in range(3)]
    # A quote that does not start a field opens nothing: "Be\"rn" is text, and in ' "Bern, Ost"' (a space first)
    # the comma splits, so that record has 7 fields: whole in quarantine, no value dropped or shifted in bronze.
    stray = f'N-{ds}-0091,{ds},C001,2.5,Be"rn,said "hi" twice'
    split = f'N-{ds}-0090,{ds},C001,1.5, "Bern, Ost",note'
    write_landing(lakehouse, NAME, "events", ds, _csv([COLUMNS] + good, terminator="\n") + stray + "\n" + split + "\n")

    run_layers(spark, crm, ds, layers=("bronze",))

    assert [[r[c] for c in COLUMNS] for r in _bronze(ds)] == good + [
        [f"N-{ds}-0091", ds, "C001", "2.5", 'Be"rn', 'said "hi" twice']]
    bad = _quarantine(ds)
    assert [(r.row_number, r.rule, r.reason, r.raw) for r in bad] == [
        (6, "field_count", "field_count: expected 6 fields, got 7", split)]
    quality = _quality(ds)["events"]
    assert (quality.rows_in, quality.rows_out, quality.quarantined) == (5, 4, 1) and quality.reconciled


def test_a_latin1_file_lands_its_accents_under_its_encoding_and_is_quarantined_per_record_under_utf8(
        crm, lakehouse, spark):
    ds_latin, ds_utf8 = "2026-04-03", "2026-04-04"
    rows = [_row(i, ds_latin, note=note, city=city) for i, (note, city) in
            enumerate([("crème brûlée", "Genève"), ("plain", "Bern"), ("Grüße, \"ß\"", "Zürich"), ("ok", "Basel")])]
    content = _csv([COLUMNS] + rows).encode("latin-1")
    latin = dataclasses.replace(crm, source=dataclasses.replace(crm.source, encoding="latin-1"))
    write_landing(lakehouse, NAME, "events", ds_latin, content)
    run_layers(spark, latin, ds_latin, layers=("bronze",))
    assert [[r[c] for c in COLUMNS] for r in _bronze(ds_latin)] == rows

    write_landing(lakehouse, NAME, "events", ds_utf8, content)
    utf8 = dataclasses.replace(crm, source=dataclasses.replace(crm.source, encoding="UTF8"))  # any spelling of it
    run_layers(spark, utf8, ds_utf8, layers=("bronze",))
    assert [r.note_id for r in _bronze(ds_utf8)] == [rows[1][0], rows[3][0]]
    bad = _quarantine(ds_utf8)
    assert [(r.row_number, r.rule) for r in bad] == [(2, "encoding"), (4, "encoding")]
    assert "\ufffd" in bad[0].raw and "not valid UTF-8" in bad[0].reason
    quality = _quality(ds_utf8)["events"]
    assert (quality.rows_in, quality.rows_out, quality.quarantined) == (4, 2, 2) and quality.reconciled


def test_cp1252_decodes_its_own_characters_and_quarantines_bytes_it_does_not_define(crm, lakehouse, spark):
    ds = "2026-04-05"
    rows = [_row(0, ds, note="price 5 € – “quoted”"), _row(1, ds, note="ok")]
    content = _csv([COLUMNS] + rows).encode("cp1252") + f"N-{ds}-0002,{ds},C002,1.0,Bern,bad \x81 byte\r\n".encode(
        "latin-1")
    cp1252 = dataclasses.replace(crm, source=dataclasses.replace(crm.source, encoding="cp1252"))
    write_landing(lakehouse, NAME, "events", ds, content)
    run_layers(spark, cp1252, ds, layers=("bronze",))
    assert [[r[c] for c in COLUMNS] for r in _bronze(ds)] == rows
    bad = _quarantine(ds)
    assert [(r.row_number, r.rule) for r in bad] == [(4, "encoding")]
    assert "not valid cp1252" in bad[0].reason and bad[0].raw.endswith("bad \ufffd byte")


def test_a_gzip_landing_file_gives_the_same_bronze_rows_as_the_plain_file(crm, lakehouse, spark):
    ds = "2026-04-06"
    content = _csv([COLUMNS] + [_row(i, ds, note="two\nlines" if i % 3 == 0 else "one") for i in range(30)])
    write_landing(lakehouse, NAME, "events", ds, content, "part-00000.csv")
    write_landing(lakehouse, NAME, "events", ds, gzip.compress(content.encode("utf-8"), mtime=0), "part-00001.csv.gz")
    run_layers(spark, crm, ds, layers=("bronze",))

    by_file = {}
    for r in _bronze(ds):
        by_file.setdefault(r._source_file.rsplit("/", 1)[-1], []).append([r[c] for c in COLUMNS] + [r._row_number])
    assert sorted(by_file) == ["part-00000.csv", "part-00001.csv.gz"]
    assert len(by_file["part-00000.csv"]) == 30 and by_file["part-00001.csv.gz"] == by_file["part-00000.csv"]
    assert _quality(ds)["events"].rows_in == 60


def _policy_day(crm, lakehouse, spark, ds: str, on_new: str, on_missing: str, headers: dict[str, list[str]]):
    """One day with a file per header, run through bronze under the policy; its bronze rows by file and quality."""
    for name, header in headers.items():
        rows = [dict(zip(COLUMNS, _row(i, ds, note="a\nb"), strict=True), channel="web") for i in range(3)]
        for i, row in enumerate(rows):
            row["note_id"] += f"-{name}-{i}"
        write_landing(lakehouse, NAME, "events", ds, _csv([header] + [[r[c] for c in header] for r in rows]),
                      f"{name}.csv")
    policy = dataclasses.replace(crm, source=dataclasses.replace(crm.source, on_new_columns=on_new,
                                                                 on_missing_columns=on_missing))
    run_layers(spark, policy, ds, layers=("bronze",))
    by_file = {}
    for r in _bronze(ds):
        by_file.setdefault(r._source_file.rsplit("/", 1)[-1][:-4], []).append(r)
    return by_file, _quality(ds)["events"]


NEW_COLUMN = COLUMNS + ["channel"]
NO_CITY = [c for c in COLUMNS if c != "city"]
NO_CUSTOMER = [c for c in COLUMNS if c != "customer_id"]


def test_the_default_column_policy_refuses_a_file_whose_header_adds_or_lacks_a_column(crm, lakehouse, spark):
    ds = "2026-05-01"
    by_file, quality = _policy_day(crm, lakehouse, spark, ds, "quarantine_file", "quarantine_file",
                                   {"same": COLUMNS, "new": NEW_COLUMN, "no_city": NO_CITY})
    assert sorted(by_file) == ["same"] and len(by_file["same"]) == 3
    reasons = {r.source_file.rsplit("/", 1)[-1]: r.reason for r in _quarantine(ds)}
    assert reasons == {"new.csv": "header: unexpected column(s) ['channel']",
                       "no_city.csv": "header: missing column(s) ['city']"}
    assert (quality.rows_in, quality.rows_out, quality.quarantined) == (9, 3, 6) and quality.reconciled
    assert quality.status != "schema_change"


def test_the_lenient_column_policy_ingests_changed_files_names_the_columns_and_never_lets_a_required_one_miss(
        crm, lakehouse, spark):
    ds = "2026-05-02"
    by_file, quality = _policy_day(crm, lakehouse, spark, ds, "ignore", "null_if_optional",
                                   {"new": NEW_COLUMN, "no_city": NO_CITY, "both": NO_CITY + ["channel"],
                                    "no_customer": NO_CUSTOMER})
    assert sorted(by_file) == ["both", "new", "no_city"]
    for rows in by_file.values():  # every record whole, in its place: the multi-line note, a null for a missing city
        assert [r.note for r in rows] == ["a\nb"] * 3 and "channel" not in rows[0].asDict()
    assert {r.city for r in by_file["no_city"] + by_file["both"]} == {None}
    assert {r.city for r in by_file["new"]} == {"Zurich"}
    assert {r.reason for r in _quarantine(ds)} == {"header: missing required column(s) ['customer_id']"}
    assert (quality.rows_in, quality.rows_out, quality.quarantined) == (12, 9, 3) and quality.reconciled
    assert quality.status == "schema_change"
    for change in (f"events/ds={ds}/both.csv: new column(s) ['channel'] ignored; missing column(s) ['city'] set to null",
                   f"events/ds={ds}/new.csv: new column(s) ['channel'] ignored",
                   f"events/ds={ds}/no_city.csv: missing column(s) ['city'] set to null"):
        assert change in quality.detail


def test_a_stream_whose_landing_folder_is_gone_loses_the_dates_rows_and_a_rerun_commits_nothing(
        crm, lakehouse, spark):
    """Labels landed for a date, then their folder was withdrawn: a rerun leaves bronze without the date's labels,
    and the rerun after it makes no commit to the labels table (nothing to change)."""
    import shutil

    from jobs import bronze
    from jobs.lib import lake, tables

    ds = "2026-04-20"
    write_landing(lakehouse, NAME, "events", ds, _csv([COLUMNS, _row(1, ds)]))
    folder = write_landing(lakehouse, NAME, "labels", ds, _csv([["note_id", "converted"], [f"N-{ds}-0001", "yes"]]))
    bronze.ingest(spark, crm, ds)
    labels = tables.bronze(NAME, "labels")
    assert lake.read(labels).where(f"ds = '{ds}'").count() == 1

    shutil.rmtree(folder.parent)
    records = bronze.ingest(spark, crm, ds)
    assert {r.stream: (r.status, r.rows_in, r.rows_out) for r in records}["labels"] == ("no_landing_folder", 0, 0)
    assert lake.read(labels).where(f"ds = '{ds}'").count() == 0
    version = lake.version(labels)
    bronze.ingest(spark, crm, ds)
    assert lake.version(labels) == version
