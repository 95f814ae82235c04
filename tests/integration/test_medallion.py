"""The medallion pipeline on replayed real data (German credit): counts reconcile, reruns change nothing,
PII is hashed, features are point-in-time correct, labels join only once matured."""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest

from tests.integration.conftest import run_layers

START = dt.date(2026, 1, 1)
DAYS = [(START + dt.timedelta(days=i)).isoformat() for i in range(4)]
LABEL_DELAY = 2


@pytest.fixture(scope="module")
def credit(lakehouse, spark):
    """Replay 4 days of German credit with malformed lines, then run bronze → silver → gold for each."""
    from jobs.lib.config import load_use_case
    from jobs.replay import replay

    use_case = load_use_case("credit_default")
    summary = replay(use_case, START, len(DAYS), malformed_rate=0.05, label_delay_days=LABEL_DELAY,
                     landing_root=str(lakehouse / "landing"))
    records = {ds: run_layers(spark, use_case, ds) for ds in DAYS}
    return use_case, summary, records


def _read(table: str, ds: str | None = None):
    from jobs.lib import lake

    df = lake.read(table)
    return df.where(f"ds = '{ds}'") if ds else df


def _landing_lines(root: Path, stream: str, ds: str) -> int:
    folder = root / "landing" / "credit_default" / stream / f"ds={ds}"
    return sum(len(p.read_bytes().splitlines()) - 1 for p in folder.glob("*.csv"))


def test_counts_reconcile_every_day_and_layer(credit, lakehouse):
    from jobs.lib import tables

    use_case, summary, _ = credit
    for ds in DAYS:
        received = _landing_lines(lakehouse, "events", ds)
        bronze = _read(tables.bronze("credit_default", "events"), ds).count()
        quarantine = _read(tables.quarantine("credit_default"), ds).where("stream = 'events'")
        q_bronze = quarantine.where("layer = 'bronze'").count()
        q_silver = quarantine.where("layer = 'silver'").count()
        silver = _read(tables.silver("credit_default", "events"), ds).count()
        quality = {(r.layer, r.stream): r for r in _read(tables.quality("credit_default"), ds).collect()}
        duplicates = quality[("silver", "events")].duplicates
        assert received == summary.events[ds]
        assert received == bronze + q_bronze, ds
        assert bronze == silver + q_silver + duplicates, ds
        assert all(r.reconciled for r in quality.values()), ds
        assert quality[("bronze", "events")].rows_in == received
        assert quality[("silver", "events")].rows_out == silver


def test_every_malformed_line_is_accounted_for_by_its_kind(credit):
    from pyspark.sql import functions as F

    from jobs.lib import tables

    _, summary, _ = credit
    injected = summary.malformed_by_kind()
    assert all(injected[k] > 0 for k in ("truncated", "non_numeric", "empty_required", "duplicate", "out_of_range"))
    quarantine = _read(tables.quarantine("credit_default")).where("stream = 'events'")
    rules = {(r.layer, r.rule): r["count"] for r in quarantine.groupBy("layer", "rule").count().collect()}
    assert rules.get(("bronze", "field_count"), 0) == injected["truncated"]
    assert rules.get(("silver", "type"), 0) == injected["non_numeric"]
    expectation_rows = quarantine.where("layer = 'silver' AND rule = 'expectation'")
    assert expectation_rows.count() == injected["empty_required"] + injected["out_of_range"]
    assert expectation_rows.where(F.col("reason").contains("not_be_null")).count() == injected["empty_required"]
    assert expectation_rows.where(F.col("reason").contains("between")).count() == injected["out_of_range"]
    duplicates = sum(r.duplicates for r in _read(tables.quality("credit_default")).where("layer = 'silver'").collect())
    assert duplicates == injected["duplicate"]
    # Quarantine rows point back at the file and line they came from, with the raw content.
    for row in quarantine.collect():
        assert row.source_file.startswith("credit_default/events/ds=") and row.row_number >= 2
        assert row.reason and row.raw


def test_pii_is_hashed_and_never_a_feature(credit, lakehouse):
    from jobs.lib import tables

    use_case, _, _ = credit
    raw_ids = set()
    for path in (lakehouse / "landing" / "credit_default" / "events").rglob("*.csv"):
        with path.open() as f:
            raw_ids |= {row["customer_id"] for row in csv.DictReader(f) if row.get("customer_id")}
    silver_ids = {r.customer_id for r in _read(tables.silver("credit_default", "events")).select("customer_id").collect()}
    assert silver_ids and all(re.fullmatch(r"[0-9a-f]{64}", i) for i in silver_ids)
    assert not silver_ids & raw_ids
    gold = _read(tables.gold_features("credit_default"))
    assert "customer_id" not in use_case.features.names
    assert not {r.customer_id for r in gold.select("customer_id").collect()} & raw_ids


def test_features_are_point_in_time(credit):
    """prior_applications_90d and credit_amount_vs_30d_mean only see events dated before the row's."""
    from jobs.lib import tables

    silver = [r.asDict() for r in _read(tables.silver("credit_default", "events")).select(
        "application_id", "customer_id", "application_date", "credit_amount").collect()]
    gold = {r.application_id: r.asDict() for r in _read(tables.gold_features("credit_default")).collect()}
    assert len(gold) == len(silver)
    dates_of: dict[str, list[dt.date]] = {}
    amounts_on: dict[dt.date, list[float]] = {}
    for r in silver:
        dates_of.setdefault(r["customer_id"], []).append(r["application_date"])
        amounts_on.setdefault(r["application_date"], []).append(r["credit_amount"])
    for r in silver:
        day = r["application_date"]
        earlier = [d for d in dates_of[r["customer_id"]] if day - dt.timedelta(days=90) <= d < day]
        g = gold[r["application_id"]]
        assert g["prior_applications_90d"] == len(earlier), r["application_id"]
        history = [a for d, amounts in amounts_on.items() if day - dt.timedelta(days=30) <= d < day for a in amounts]
        if history:
            assert g["credit_amount_vs_30d_mean"] == pytest.approx(r["credit_amount"] / (sum(history) / len(history)))
        else:
            assert g["credit_amount_vs_30d_mean"] is None
    assert any(g["prior_applications_90d"] > 0 for g in gold.values()), "replay should produce repeat customers"


def test_labels_join_only_once_matured(credit, lakehouse, spark):
    from jobs import gold
    from jobs.lib import tables

    use_case, summary, records = credit
    label_day = DAYS[LABEL_DELAY]  # labels of DAYS[0] land here
    gold_labels = {r.stream: r for r in records[label_day]["gold"]}["labels"]
    labels_file = lakehouse / "landing" / "credit_default" / "labels" / f"ds={label_day}" / "part-00000.csv"
    with labels_file.open() as f:
        expected = {row["application_id"]: int(row["creditability"] == "bad") for row in csv.DictReader(f)}
    features = {r.application_id for r in _read(tables.gold_features("credit_default"), DAYS[0]).collect()}
    with_features = sum(1 for k in expected if k in features)
    # Maturity is 10 days in the use case: a label 2 days after its event is not joined yet; labels of
    # quarantined events have no features (orphans). Both are counted, neither joined.
    assert gold_labels.rows_in == summary.labels[label_day] == len(expected) > 0
    assert gold_labels.rows_out == 0
    assert gold_labels.quarantined_by_reason == {"immature_label": with_features,
                                                  "orphan_label": len(expected) - with_features}
    # With a 2-day maturity the same labels join their events' features.
    quick = dataclasses.replace(use_case, label=dataclasses.replace(use_case.label, maturity_days=LABEL_DELAY))
    gold.publish(spark, quick, label_day)
    training = _read(tables.gold_training("credit_default"), label_day).collect()
    assert {r.application_id: r.label for r in training} == {k: v for k, v in expected.items() if k in features}
    assert all(r.application_date == START for r in training)
    gold.publish(spark, use_case, label_day)  # back to the configured maturity


def test_rerun_of_a_date_changes_nothing(credit, spark):
    from jobs.lib import lake, tables

    ds = DAYS[1]
    paths = [tables.bronze("credit_default", "events"), tables.silver("credit_default", "events"),
             tables.gold_features("credit_default"), tables.quarantine("credit_default"),
             tables.quality("credit_default")]
    volatile = {"quarantined_by_reason"}  # JSON text: compare parsed below instead

    def snapshot():
        out = {}
        for p in paths:
            df = lake.read(p)
            cols = [c for c in df.columns if c not in volatile]
            out[p] = (df.count(), sorted(map(tuple, df.where(f"ds = '{ds}'").select(cols).collect()), key=repr))
        return out

    before = snapshot()
    run_layers(spark, credit[0], ds)
    assert snapshot() == before


def test_outlier_flags_are_those_of_exact_quartiles_mean_and_std_of_the_published_rows(credit, spark, monkeypatch):
    """Silver's quartiles (jobs.lib.quantiles) with a sample small enough that a day's rows take the sampled
    brackets, not Spark's percentile straight away: the flags are those Spark's exact percentile gives."""
    from pyspark.sql import functions as F

    from jobs import silver
    from jobs.lib import quantiles, tables

    use_case, _, _ = credit
    ds = DAYS[1]
    monkeypatch.setattr(quantiles, "SAMPLE_ROWS", 60)
    silver.refine(spark, use_case, ds)
    rows = _read(tables.silver("credit_default", "events"), ds)
    columns = list(use_case.outlier_columns)
    stats = rows.agg(*[F.percentile(F.col(c).cast("double"), F.array(F.lit(0.25), F.lit(0.75))).alias(f"{c}_q")
                       for c in columns], *[F.avg(c).alias(f"{c}_mean") for c in columns],
                     *[F.stddev_pop(c).alias(f"{c}_std") for c in columns]).first()
    k, z = use_case.thresholds.outlier_iqr_k, use_case.thresholds.outlier_z
    flagged = 0
    for row in rows.select(*columns, *[f"outlier_{kind}_{c}" for c in columns for kind in ("iqr", "z")]).collect():
        for c in columns:
            q1, q3 = stats[f"{c}_q"]
            value = row[c]
            expected_iqr = None if value is None else (value < q1 - k * (q3 - q1) or value > q3 + k * (q3 - q1))
            expected_z = None if value is None else abs(value - stats[f"{c}_mean"]) / stats[f"{c}_std"] > z
            assert (row[f"outlier_iqr_{c}"], row[f"outlier_z_{c}"]) == (expected_iqr, expected_z), (c, value)
            flagged += bool(expected_iqr)
    assert rows.count() > 60 and flagged  # more rows than the sample; some values are outliers
