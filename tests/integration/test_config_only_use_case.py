"""Adding a use case is a YAML file plus an expectation suite: no code change.

The test writes a third use case (``toy_loans``), its suite and its sample data into a temporary
configuration folder and runs replay → bronze → silver → gold on it with the unchanged jobs.
"""
from __future__ import annotations

import random

import pytest

from tests.conftest import configured
from tests.integration.conftest import conf_folder, run_layers

USE_CASE = {
    "name": "toy_loans",
    "description": "A use case that exists only in this test's configuration.",
    "source": {"format": "csv", "sample": "toy_loans.csv", "delimiter": ";"},  # sample and landing files alike
    "schema": {"loan_id": "string", "applied_on": "date", "borrower": "string", "amount": "double",
               "term_months": "int", "region": "string"},
    "primary_key": ["loan_id"],
    "event_timestamp": "applied_on",
    "entity": "borrower",
    "label": {"column": "defaulted", "positive": "yes", "negative": "no", "maturity_days": 1},
    "pii": ["borrower"],
    "protected_attributes": ["region"],
    "required": ["loan_id", "applied_on", "amount"],
    "outlier_columns": ["amount"],
    "features": {
        "numeric": ["amount", "term_months"],
        "categorical": ["region"],
        "derived": [
            {"name": "monthly_amount", "fn": "ratio", "params": {"numerator": "amount", "denominator": "term_months"}},
            {"name": "prior_loans_7d", "fn": "prior_event_count", "params": {"window_days": 7}},
        ],
    },
    "expectations": {"silver": "toy_loans_silver"},
    "thresholds": {"max_quarantine_share": 0.5},
}
SUITE = {
    "name": "toy_loans_silver",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "loan_id"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "min_value": 0,
                                                                   "max_value": 100000}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "region",
                                                                  "value_set": ["north", "south"]}},
    ],
    "meta": {},
}


@pytest.fixture(scope="module")
def toy_conf(tmp_path_factory, lakehouse):

    root = tmp_path_factory.mktemp("toy_conf")
    conf = conf_folder(root, {"toy_loans": USE_CASE}, {"toy_loans_silver": SUITE}, samples=str(root / "samples"))
    (root / "samples").mkdir()
    rng = random.Random(3)
    lines = ["amount;term_months;region;defaulted"]
    for i in range(40):
        amount = 250000 if i == 7 else round(rng.uniform(500, 20000), 2)  # one out-of-range row
        lines.append(f"{amount};{rng.choice([12, 24, 36])};{rng.choice(['north', 'south'])};{rng.choice(['yes', 'no'])}")
    (root / "samples" / "toy_loans.csv").write_text("\n".join(lines) + "\n")
    with configured(RISKPIPE_CONF_DIR=str(conf)):
        yield conf


def test_a_use_case_defined_only_in_configuration_runs_end_to_end(toy_conf, lakehouse, spark):
    from jobs.lib import lake, tables
    from jobs.lib.config import load_use_case, use_case_names
    from jobs.replay import replay

    assert use_case_names() == ["toy_loans"]
    use_case = load_use_case("toy_loans")
    replay(use_case, "2026-05-01", 2, label_delay_days=1, customers_share=0.3, history=False,
           landing_root=str(lakehouse / "landing"))
    for ds in ("2026-05-01", "2026-05-02"):
        run_layers(spark, use_case, ds)
    gold = lake.read(tables.gold_features("toy_loans"))
    assert {"monthly_amount", "prior_loans_7d", "amount", "region"} <= set(gold.columns)
    assert gold.count() == 39  # 40 replayed rows, the out-of-range one quarantined
    row = gold.where("term_months = 12").first()
    assert row.monthly_amount == pytest.approx(row.amount / 12)
    quarantined = lake.read(tables.quarantine("toy_loans")).collect()
    assert [r.reason for r in quarantined] == ["expect_column_values_to_be_between(amount)"]
    training = lake.read(tables.gold_training("toy_loans")).where("ds = '2026-05-02'")
    assert training.count() > 0 and set(training.toPandas()["label"]) <= {0, 1}
    assert all(r.reconciled for r in lake.read(tables.quality("toy_loans")).collect())
