"""``jobs.onboard`` (``make onboard``): profiling and drafting on the real shipped samples, no Spark."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from jobs import onboard
from tests.conftest import PROJECT_ROOT

SAMPLES = PROJECT_ROOT / "data" / "samples"
BANK = SAMPLES / "bank_marketing.csv.gz"
GERMAN = SAMPLES / "german_credit.csv"


@pytest.fixture(scope="module")
def bank():
    df, delimiter = onboard.read_sample(BANK)
    return onboard.profile_sample(df, "y", "yes", sample=str(BANK), delimiter=delimiter)


@pytest.fixture(scope="module")
def german():
    df, delimiter = onboard.read_sample(GERMAN)
    return onboard.profile_sample(df, "creditability", "bad", sample=str(GERMAN), delimiter=delimiter)


@pytest.fixture
def conf(tmp_path):
    """An empty configuration folder (profiles, base.yaml with the shipped samples and a temp expectations dir)."""
    folder = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf" / "profiles", folder / "profiles")
    base = yaml.safe_load((PROJECT_ROOT / "conf" / "base.yaml").read_text())
    base["paths"].update(samples=str(SAMPLES), expectations=str(tmp_path / "expectations"))
    (folder / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    (folder / "use_cases").mkdir()
    return folder


def _draft(profile, name="draft"):
    keys = onboard.resolve_keys(name)
    use_case = onboard.draft_use_case(profile, name, keys, sample="x.csv")
    return keys, use_case, onboard.draft_suite(profile, use_case)


def _by_type(suite, kind):
    return {e["kwargs"]["column"]: e for e in suite["expectations"] if e["type"] == kind}


# ------------------------------------------------------------------------------------------- profiling
def test_types_nulls_and_cardinality_of_the_real_samples(bank, german):
    types = {c: p.type for c, p in bank.columns.items()}
    assert types["age"] == types["balance"] == types["duration"] == types["pdays"] == "int"
    assert types["job"] == types["month"] == types["poutcome"] == "string"
    assert "y" not in bank.columns and bank.label == "y" and (bank.positives, bank.negatives) == (521, 4000)
    assert bank.negative == "no" and bank.rows == 4521
    assert (bank.columns["balance"].min, bank.columns["balance"].max) == (-3313, 71188)
    assert bank.columns["job"].distinct == 12 and len(bank.columns["job"].values) == 12
    assert all(p.nulls == 0 for p in bank.columns.values())
    assert german.columns["duration_in_month"].type == "int"
    assert german.columns["purpose"].type == "string" and german.columns["purpose"].distinct == 10
    assert (german.positives, german.negatives) == (300, 700)
    assert len(german.columns) == 20  # the label is not a column of the schema


@pytest.mark.parametrize("values, expected", [
    (["1", "-2", ""], "int"),
    (["3000000000", "1"], "bigint"),
    (["1.5", "2", "-.5", "1e3"], "double"),
    (["2026-01-31", "2025-12-01", ""], "date"),
    (["2026-01-31 10:00:00", "2026-01-31T11:30"], "timestamp"),
    (["2026-02-30"], "string"),  # not a real date
    (["00123", "00456"], "string"),  # leading zeros: a code
    (["a", "1"], "string"),
    (["", ""], "string"),
])
def test_type_inference(values, expected):
    assert onboard.infer_type(pd.Series(values, dtype=object)) == expected


def test_pii_and_protected_candidates_of_the_real_samples(bank, german):
    assert bank.pii == ["id"]  # the sample's row number: identifier-like name, unique per row
    assert "identifier-like" in bank.flagged("pii")["id"]
    assert bank.protected == ["age", "marital"]
    assert german.pii == []
    assert german.protected == ["personal_status_and_sex", "age_in_years", "foreign_worker"]
    # A name suggesting PII on a low-cardinality column is only a note: telephone (2 values) stays a feature.
    assert "telephone" in german.flagged("note")


def test_pii_by_values_and_cardinality():
    n = 60
    df = pd.DataFrame({
        "contact_email": [f"person{i}@example.com" for i in range(n)],
        "mobile": [f"+49 151 {1000000 + i}" for i in range(n)],
        "comment": [f"free text number {i}" for i in range(n)],
        "Full Name": [f"Name {i % 55}" for i in range(n)],
        "gender": ["f", "m"] * (n // 2),
        "segment": ["a", "b", "c"] * (n // 3),
        "target": ["1", "0"] * (n // 2),
    })
    p = onboard.profile_sample(df, "target", "1")
    pii = p.flagged("pii")
    assert set(pii) == {"contact_email", "mobile", "comment", "full_name"}
    assert "e-mail" in pii["contact_email"] and "phone" in pii["mobile"]
    assert "high-cardinality" in pii["comment"] and "identifier-like name" in pii["full_name"]
    assert p.protected == ["gender"] and p.negative == "0"
    assert p.rename == {"Full Name": "full_name"}
    assert p.columns["mobile"].auc is None  # PII is never a feature: no leakage figure


# ------------------------------------------------------------------------------------------- leakage
def test_leakage_catches_duration_on_bank_marketing_and_nothing_else(bank):
    assert list(bank.leakage) == ["duration"]
    assert bank.columns["duration"].auc == pytest.approx(0.815, abs=0.005)
    assert "single-feature AUC 0.815" in bank.leakage["duration"]
    others = {c: p.auc for c, p in bank.columns.items() if p.auc is not None and c != "duration"}
    assert max(others.values()) < 0.66 and others["month"] == pytest.approx(0.651, abs=0.005)
    _, use_case, _ = _draft(bank)
    assert list(use_case["forbidden_features"]) == ["duration"]
    assert "duration" not in use_case["features"]["numeric"]


def test_leakage_threshold_is_configurable(german):
    assert german.leakage == {}
    assert max(p.auc for p in german.columns.values()) == pytest.approx(0.708, abs=0.005)
    df, _ = onboard.read_sample(GERMAN)
    strict = onboard.profile_sample(df, "creditability", "bad", leakage_auc=0.7)
    assert list(strict.leakage) == ["status_of_existing_checking_account"]


def test_single_feature_auc_handles_nulls_categoricals_and_direction():
    y = pd.Series([0, 0, 0, 1, 1, 1]).to_numpy()
    assert onboard.single_feature_auc(pd.Series(["6", "5", "4", "3", "2", "1"]), y, numeric=True) == 1.0
    assert onboard.single_feature_auc(pd.Series(["", "", "1", "5", "6", "7"]), y, numeric=True) == 1.0
    # target rates a 0, b 0.5, c 1: 8 of the 9 (positive, negative) pairs ordered, one tie (b, b)
    assert onboard.single_feature_auc(pd.Series(["a", "a", "b", "b", "c", "c"]), y, numeric=False) == 8.5 / 9
    assert onboard.single_feature_auc(pd.Series(["k"] * 6), y, numeric=False) == 0.5


# ------------------------------------------------------------------------------------------- drafting
def test_use_case_draft_declares_the_replay_columns_and_features(bank):
    keys, use_case, _ = _draft(bank, "bank_draft")
    assert (keys.key, keys.event_date, keys.entity) == ("bank_draft_id", "event_date", "customer_id")
    assert list(use_case["schema"])[:3] == ["bank_draft_id", "event_date", "customer_id"]
    assert use_case["schema"]["event_date"] == "date" and use_case["schema"]["id"] == "string"
    assert use_case["pii"] == ["customer_id", "id"]
    feats = use_case["features"]
    assert feats["numeric"] == ["age", "balance", "day", "campaign", "pdays", "previous"]
    assert feats["categorical"] == ["job", "marital", "education", "default", "housing", "loan", "contact",
                                    "month", "poutcome"]
    assert use_case["label"] == {"column": "y", "positive": "yes", "negative": "no", "maturity_days": 4}
    assert {"model", "gate", "fairness", "scoring", "monitoring"} <= set(use_case)


def test_suite_draft_contents(bank):
    _, use_case, suite = _draft(bank, "bank_draft")
    assert suite["name"] == "bank_draft_silver"
    not_null = _by_type(suite, "expect_column_values_to_not_be_null")
    assert set(not_null) == set(use_case["schema"])  # no column is ever empty in the sample
    assert list(_by_type(suite, "expect_column_values_to_be_unique")) == ["bank_draft_id"]
    regex = _by_type(suite, "expect_column_values_to_match_regex")
    assert set(regex) == {"customer_id", "id"} and regex["id"]["kwargs"]["regex"] == "^[0-9a-f]{64}$"
    sets = _by_type(suite, "expect_column_values_to_be_in_set")
    assert set(sets) == set(use_case["features"]["categorical"])
    assert sets["marital"]["kwargs"]["value_set"] == ["divorced", "married", "single"]
    ranges = _by_type(suite, "expect_column_values_to_be_between")
    assert set(ranges) == {"age", "balance", "day", "duration", "campaign", "pdays", "previous"}
    # Sample range widened by its span; never-negative columns stay >= 0.
    assert ranges["age"]["kwargs"] == {"column": "age", "min_value": 0.0, "max_value": 155.0}
    assert ranges["balance"]["kwargs"]["min_value"] == -3313 - (71188 + 3313)
    assert ranges["pdays"]["kwargs"]["min_value"] == -1 - 872
    for e in ranges.values():
        assert "to be replaced by business bounds" in e["meta"]["notes"]
    tables = [e["type"] for e in suite["expectations"] if "table" in e["type"]]
    assert tables == ["expect_table_columns_to_match_set", "expect_table_row_count_to_be_between"]


# ------------------------------------------------------------------------------------------- the command
def test_onboard_writes_drafts_that_load_and_refuses_to_overwrite(conf, capsys):
    args = ["--sample", str(BANK), "--name", "bank_draft", "--label", "y", "--positive", "yes",
            "--conf-dir", str(conf)]
    assert onboard.main(args) == 0
    out = capsys.readouterr().out
    assert "leakage   duration: single-feature AUC 0.815" in out and "pii       id:" in out
    assert "protected age:" in out and "protected marital:" in out
    yaml_path = conf / "use_cases" / "bank_draft.yaml"
    suite_path = conf.parent / "expectations" / "bank_draft_silver.json"
    text = yaml_path.read_text()
    assert "# CONFIRM" in text and "# 0% empty, 875 values, 4..3,025, AUC 0.815; CONFIRM leakage" in text
    from jobs.lib.config import load_use_case
    from jobs.lib.validation import load_suite

    use_case = load_use_case("bank_draft", conf)
    assert list(use_case.forbidden_features) == ["duration"] and use_case.expectation_suite == "bank_draft_silver"
    assert len(load_suite("bank_draft_silver", suite_path.parent).expectations) == len(
        json.loads(suite_path.read_text())["expectations"])

    before = (text, suite_path.read_text())
    assert onboard.main(args) == 2
    err = capsys.readouterr().err
    assert f"refusing to overwrite {yaml_path} and {suite_path}" in err
    assert (yaml_path.read_text(), suite_path.read_text()) == before
    suite_path.unlink()  # either file is enough to refuse
    assert onboard.main(args) == 2
    assert f"refusing to overwrite {yaml_path}:" in capsys.readouterr().err
    assert not suite_path.exists()


def test_german_credit_draft_loads_with_its_protected_attributes(conf, capsys):
    assert onboard.main(["--sample", str(GERMAN), "--name", "loans", "--label", "creditability",
                         "--positive", "bad", "--conf-dir", str(conf)]) == 0
    from jobs.lib.config import load_use_case

    use_case = load_use_case("loans", conf)
    assert use_case.source.sample == "german_credit.csv"  # under paths.samples: relative
    assert use_case.protected_attributes == ["personal_status_and_sex", "age_in_years", "foreign_worker"]
    assert use_case.forbidden_features == {} and use_case.pii == ["customer_id"]
    assert use_case.label.negative == "good" and use_case.gate.auc_floor == 0.7
    assert "telephone" in use_case.features.categorical


@pytest.mark.parametrize("args, message", [
    (["--label", "target", "--positive", "yes"], "label column 'target' not found; columns: id, age, job"),
    (["--label", "y", "--positive", "maybe"], "positive value 'maybe' not in label column 'y'; values: 'no', 'yes'"),
    (["--label", "job", "--positive", "student"], "label column 'job' has 12 values"),
    (["--label", "y", "--positive", "yes", "--event-date", "age"], "--event-date 'age' is not a date"),
    (["--label", "y", "--positive", "yes", "--key", "nope"], "--key 'nope' is not a column of the sample"),
])
def test_bad_arguments_are_refused_with_a_clear_message(conf, capsys, args, message):
    assert onboard.main(["--sample", str(BANK), "--name", "x", "--conf-dir", str(conf), *args]) == 2
    assert message in capsys.readouterr().err
    assert not list((conf / "use_cases").iterdir())


def test_a_draft_the_config_refuses_is_never_written(bank):
    keys, use_case, suite = _draft(bank, "bank_draft")
    use_case["features"]["numeric"].append("duration")  # a forbidden column as a feature
    text = onboard.render_yaml(use_case, bank, keys)
    with pytest.raises(onboard.OnboardError, match="uses forbidden column 'duration'"):
        onboard.check_drafts("bank_draft", text, suite, use_case)


def test_help():
    out = subprocess.run([sys.executable, "-m", "jobs.onboard", "--help"], capture_output=True, text=True,
                         timeout=60, cwd=PROJECT_ROOT)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout
    for option in ("--sample", "--name", "--label", "--positive", "--negative", "--key", "--event-date",
                   "--entity", "--leakage-auc", "--maturity-days", "--conf-dir", "--expectations-dir"):
        assert option in out.stdout
