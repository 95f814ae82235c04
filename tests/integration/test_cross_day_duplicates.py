"""An application that comes back on a later day is quarantined, not kept twice (training sees it once).

Day 1 lands keys A and B (plus clean filler keys, so the quarantined share stays under the gate's 20%); day 2
lands B again, twice and with other values, and C. Within day 2 the latest B wins and the other is a
duplicate; the winner is then quarantined as ``duplicate_key: first seen ds=<day 1>``. Counts reconcile and a
rerun of day 2 changes nothing.
"""
from __future__ import annotations

import csv
import io
import json

import pytest

from tests.integration.conftest import run_layers, write_landing

DAY1, DAY2 = "2026-04-01", "2026-04-02"
FILLERS = 8


def _sample_rows() -> list[dict[str, str]]:
    from jobs.lib.config import PROJECT_ROOT

    with (PROJECT_ROOT / "data" / "samples" / "german_credit.csv").open() as f:
        return list(csv.DictReader(f))


def _line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _land(root, columns: list[str], ds: str, rows: list[dict[str, str]]) -> None:
    body = _line(columns) + "".join(_line([r[c] for c in columns]) for r in rows)
    write_landing(root, "credit_default", "events", ds, body)


@pytest.fixture(scope="module")
def two_days(lakehouse, spark):
    from jobs.lib.config import load_use_case

    use_case = load_use_case("credit_default")
    columns = list(use_case.schema)
    samples = iter(_sample_rows())

    def row(key: str, ds: str, customer: str) -> dict[str, str]:
        return {**next(samples), "application_id": key, "application_date": ds, "customer_id": customer}

    day1 = [row("APP-A", DAY1, "C-A"), row("APP-B", DAY1, "C-B")]
    day1 += [row(f"D1-{i}", DAY1, f"C1-{i}") for i in range(FILLERS)]
    day2 = [row("APP-B", DAY2, "C-B2"), row("APP-C", DAY2, "C-C"), row("APP-B", DAY2, "C-B3")]
    day2 += [row(f"D2-{i}", DAY2, f"C2-{i}") for i in range(FILLERS)]
    _land(lakehouse, columns, DAY1, day1)
    _land(lakehouse, columns, DAY2, day2)
    records = {ds: run_layers(spark, use_case, ds, layers=("bronze", "silver")) for ds in (DAY1, DAY2)}
    return use_case, records


def _silver_keys() -> dict[str, set[str]]:
    from jobs.lib import lake, tables

    out: dict[str, set[str]] = {}
    for r in lake.read(tables.silver("credit_default", "events")).select("application_id", "ds").collect():
        out.setdefault(r.ds, set()).add(r.application_id)
    return out


def _silver_quarantine(ds: str) -> list:
    from jobs.lib import lake, tables

    return lake.read(tables.quarantine("credit_default")).where(
        f"ds = '{ds}' AND layer = 'silver' AND stream = 'events'").collect()


def test_a_key_seen_on_an_earlier_day_is_quarantined(two_days):
    keys = _silver_keys()
    assert keys[DAY1] == {"APP-A", "APP-B"} | {f"D1-{i}" for i in range(FILLERS)}
    assert keys[DAY2] == {"APP-C"} | {f"D2-{i}" for i in range(FILLERS)}
    assert _silver_quarantine(DAY1) == []
    [quarantined] = _silver_quarantine(DAY2)
    assert quarantined.record_key == "APP-B"
    assert quarantined.rule == "duplicate_key"
    assert quarantined.reason == f"duplicate_key: first seen ds={DAY1}"
    assert quarantined.row_number == 4  # the latest B of the day (line 4 of the file) won the batch, then was refused


def test_day_two_reconciles(two_days):
    from jobs.lib import lake, tables

    _, records = two_days
    silver = {r.stream: r for r in records[DAY2]["silver"]}["events"]
    assert (silver.rows_in, silver.rows_out, silver.quarantined, silver.duplicates) == (FILLERS + 3, FILLERS + 1, 1, 1)
    assert silver.quarantined_by_reason == {"duplicate_key": 1}
    [stored] = lake.read(tables.quality("credit_default")).where(
        f"ds = '{DAY2}' AND layer = 'silver' AND stream = 'events'").collect()
    assert stored.rows_in == stored.rows_out + stored.quarantined + stored.duplicates
    assert stored.reconciled and stored.status == "ok_with_quarantine"
    assert json.loads(stored.quarantined_by_reason) == {"duplicate_key": 1}


def test_rerun_of_day_two_changes_nothing(two_days, spark):
    from jobs.lib import lake, tables

    use_case, _ = two_days

    def snapshot():
        out = {}
        for path in (tables.silver("credit_default", "events"), tables.quarantine("credit_default"),
                     tables.quality("credit_default")):
            df = lake.read(path).where(f"ds = '{DAY2}'")
            out[path] = sorted(map(tuple, df.collect()), key=repr)
        return out

    before = snapshot()
    run_layers(spark, use_case, DAY2, layers=("bronze", "silver"))
    assert snapshot() == before
