"""Governance report of a real XGBoost model trained on the German credit sample."""
from __future__ import annotations

import dataclasses
import hashlib
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

xgb = pytest.importorskip("xgboost")

from jobs.lib.governance import (  # noqa: E402
    GovernanceThresholds,
    ModelMetadata,
    append_governance_record,
    build_governance_report,
    overall_score,
    perturb_numeric,
    pii_reason,
    privacy_check,
    shap_contributions,
    shap_importance,
    trust_level,
)

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "german_credit.csv"
PROTECTED = ["age_in_years", "personal_status_and_sex", "foreign_worker"]
CREATED = dt.datetime(2026, 1, 8, 6, 0, tzinfo=dt.timezone.utc)


def _frame() -> tuple[pd.DataFrame, np.ndarray]:
    df = pd.read_csv(SAMPLE)
    y = (df.pop("creditability") == "bad").astype(int).to_numpy()
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].astype("category")
    return df, y


def _fit(X: pd.DataFrame, y: np.ndarray):
    model = xgb.XGBClassifier(
        n_estimators=40, max_depth=3, learning_rate=0.15, enable_categorical=True, tree_method="hist",
        n_jobs=1, random_state=0,
    )
    return model.fit(X, y)


@pytest.fixture(scope="module")
def credit():
    """A model on 700 rows without the protected attributes; evaluation on the other 300."""
    df, y = _frame()
    rng = np.random.default_rng(7)
    idx = rng.permutation(len(df))
    train, hold = idx[:700], idx[700:]
    features = [c for c in df.columns if c not in PROTECTED]
    model = _fit(df.iloc[train][features], y[train])
    X = df.iloc[hold][features].reset_index(drop=True)
    protected = df.iloc[hold][PROTECTED].reset_index(drop=True)
    return dict(model=model, X=X, y=y[hold], proba=model.predict_proba(X)[:, 1], protected=protected,
                available=list(df.columns) + ["customer_id"])


def _metadata(version: str = "3", **kw) -> ModelMetadata:
    return ModelMetadata(
        use_case="credit_default", model_name="credit_default_xgb", model_version=version, run_id="run-abc",
        created_at=CREATED, intended_use="Rank loan applications by default risk for manual review.",
        training_window="2026-01-01 to 2026-01-07", positive_class="bad (default)",
        limitations=("Trained on the 1994 Statlog German credit sample.",), **kw,
    )


@pytest.fixture(scope="module")
def report(credit):
    return build_governance_report(
        credit["model"], credit["X"], credit["y"], credit["proba"], 0.5, credit["protected"],
        ["customer_id"], None, credit["available"], _metadata(), metrics={"holdout_auc": 0.77},
    )


def test_shap_importance_is_mean_abs_contribution_without_bias(credit):
    X, model = credit["X"], credit["model"]
    contribs = shap_contributions(model, X)
    assert contribs.shape == (len(X), X.shape[1] + 1)
    # TreeSHAP: contributions + bias = the model's margin, row by row
    margin = model.get_booster().predict(xgb.DMatrix(X, enable_categorical=True), output_margin=True)
    np.testing.assert_allclose(contribs.sum(axis=1), margin, atol=1e-4)

    expl = shap_importance(model, X)
    names = [f for f, _ in expl.importance]
    assert sorted(names) == sorted(X.columns)  # every feature once, no bias column
    values = [v for _, v in expl.importance]
    assert values == sorted(values, reverse=True)
    expected = np.abs(contribs[:, :-1]).mean(axis=0)
    assert sum(values) == pytest.approx(expected.sum())
    assert expl.total == pytest.approx(expected.sum())
    assert dict(expl.importance)[X.columns[0]] == pytest.approx(expected[0])
    assert expl.top3_share == pytest.approx(sum(values[:3]) / expected.sum())
    assert expl.top5_share == pytest.approx(sum(values[:5]) / expected.sum())
    assert expl.mean_bias == pytest.approx(contribs[:, -1].mean())


def test_report_sections_and_json(report, credit):
    data = report.to_json()
    text = json.dumps(data, allow_nan=False)  # serialisable as is
    assert json.loads(text)["model"]["model_version"] == "3"
    assert set(data["fairness"]["attributes"]) == set(PROTECTED)
    age = data["fairness"]["attributes"]["age_in_years"]
    assert age["bucketed"] and {g["group"] for g in age["groups"]} <= {"<25", "25-34", "35-49", "50-64", ">=65"}
    assert "flagged as risky" in data["fairness"]["convention"]
    assert data["metrics"]["holdout_auc"] == 0.77 and 0.5 < data["metrics"]["auc"] <= 1
    rob = data["robustness"]
    assert len(rob["fold_aucs"]) == 3
    assert rob["cv_auc_spread"] == pytest.approx(max(rob["fold_aucs"]) - min(rob["fold_aucs"]))
    assert rob["auc_drop"] == pytest.approx(rob["base_auc"] - rob["perturbed_auc"])
    assert abs(rob["auc_drop"]) < 0.1
    assert set(rob["perturbed_columns"]) == {c for c in credit["X"].columns if credit["X"][c].dtype.kind in "if"}
    priv = data["privacy"]
    assert priv["pii_ok"] and priv["protected_used"] == []
    assert priv["n_features_used"] == credit["X"].shape[1]
    assert priv["n_columns_available"] == len(credit["available"])
    assert "customer_id" in priv["unused_columns"]
    assert 0 <= data["overall_score"] <= 100 and data["trust_level"] in {"high", "medium", "low"}
    assert data["overall_score"] == overall_score(report.component_scores, report.thresholds)


def test_overall_score_weights_and_trust_levels():
    t = GovernanceThresholds()
    perfect = {"explainability": 1.0, "fairness": 1.0, "robustness": 1.0, "privacy": 1.0}
    assert overall_score(perfect, t) == 100.0
    assert overall_score(perfect | {"fairness": 0.0}, t) == 65.0  # fairness weighs 0.35
    assert overall_score(perfect | {"privacy": 0.5, "explainability": 0.5}, t) == pytest.approx(77.5)
    clean = privacy_check(["a"], ["a", "b"], ["customer_id"], ["age"])
    leaky = privacy_check(["a", "customer_id_hash"], ["a"], ["customer_id"], ["age"])
    assert trust_level(90, True, clean, t) == "high"
    assert trust_level(90, False, clean, t) == "medium"
    assert trust_level(70, True, clean, t) == "medium"
    assert trust_level(55, True, clean, t) == "low"
    assert trust_level(95, True, leaky, t) == "low"


def test_privacy_flags_pii_hashes_identifiers_and_protected_features():
    assert pii_reason("customer_id_hash", ["customer_id"]) is not None
    assert pii_reason("hashed_customer_id", ["customer_id"]) is not None
    assert pii_reason("customer_id", ["customer_id"]) is not None
    assert pii_reason("email_sha256", []) is not None
    assert pii_reason("client_id", []) is not None
    assert pii_reason("telephone", ["customer_id"]) is None
    assert pii_reason("credit_amount", ["customer_id"]) is None
    p = privacy_check(["credit_amount", "customer_id_hash", "age_in_years"], ["credit_amount", "age_in_years", "job"],
                      ["customer_id"], PROTECTED)
    assert p.pii_features == ("customer_id_hash",)
    assert p.protected_used == ("age_in_years",)
    assert not p.ok
    assert p.n_features_used == 3 and p.n_columns_available == 4 and p.share_used == pytest.approx(0.75)


def test_hashed_pii_feature_makes_trust_low(credit):
    X = credit["X"].copy()
    # a hashed identifier, as silver stores customer_id
    X["customer_id_hash"] = [int(hashlib.sha256(f"C{i % 50}".encode()).hexdigest()[:6], 16) for i in range(len(X))]
    y = credit["y"]
    model = _fit(X, y)
    rep = build_governance_report(
        model, X, y, model.predict_proba(X)[:, 1], 0.5, credit["protected"], ["customer_id"], None,
        credit["available"], _metadata(), thresholds=dataclasses.replace(GovernanceThresholds(), cv_folds=2),
    )
    assert rep.privacy.pii_features == ("customer_id_hash",)
    assert rep.component_scores["privacy"] == 0.0
    assert rep.trust_level == "low"
    assert any("customer_id_hash" in r and "PII" in r for r in rep.recommendations)


def test_concentration_and_protected_feature_recommendations(credit):
    df, y = _frame()
    X = df[["status_of_existing_checking_account", "duration_in_month", "age_in_years", "credit_amount"]]
    model = _fit(X, y)
    rep = build_governance_report(
        model, X, y, model.predict_proba(X)[:, 1], 0.5, df[PROTECTED], ["customer_id"], None, list(df.columns),
        _metadata(), thresholds=dataclasses.replace(GovernanceThresholds(), cv_folds=2),
    )
    assert rep.explainability.top3_share > 0.6
    assert any(r.startswith("top 3 features hold") and "review concentration" in r for r in rep.recommendations)
    assert rep.privacy.protected_used == ("age_in_years",)
    assert rep.trust_level != "high"


def test_booster_input_gives_the_same_importance(credit):
    booster = credit["model"].get_booster()
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.15, "num_boost_round": 40}
    rep = build_governance_report(
        booster, credit["X"], credit["y"], credit["proba"], 0.5, credit["protected"], ["customer_id"], None,
        credit["available"], _metadata(), train_params=params,
    )
    ref = shap_importance(credit["model"], credit["X"])
    assert [f for f, _ in rep.explainability.importance] == [f for f, _ in ref.importance]
    assert len(rep.robustness.fold_aucs) == 3


def test_perturbation_is_seeded_and_scaled():
    X = pd.DataFrame({"a": np.arange(1000, dtype=float), "c": pd.Categorical(["x", "y"] * 500)})
    p1, p2 = perturb_numeric(X, 0.05, seed=1), perturb_numeric(X, 0.05, seed=1)
    pd.testing.assert_frame_equal(p1, p2)
    noise = p1["a"] - X["a"]
    assert noise.std() == pytest.approx(0.05 * X["a"].std(ddof=0), rel=0.1)
    assert (p1["c"] == X["c"]).all()


def test_html_report_and_model_card(report):
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>")
    for section in ("Summary", "Explainability", "Fairness", "Robustness", "Privacy", "Recommendations"):
        assert f"<h2>{section}</h2>" in page or f"<h3>{section}</h3>" in page
    assert "credit_default_xgb" in page and "personal_status_and_sex" in page
    assert "status_of_existing_checking_account" in page
    assert "http" not in page.split("<body>")[0]  # one file: no external resources

    card = report.model_card_markdown()
    assert card.startswith("# Model card: credit_default_xgb version 3")
    for text in ("## Intended use", "Rank loan applications", "2026-01-01 to 2026-01-07", "holdout_auc",
                 "## Fairness", "foreign_worker", "## Limitations", "Statlog"):
        assert text in card
    card_html = report.model_card_html()
    assert "<h2>Fairness</h2>" in card_html and "run-abc" in card_html


def test_governance_table_one_row_per_model_version(report, tmp_path):
    from deltalake import DeltaTable

    path = str(tmp_path / "governance")
    append_governance_record(report, path)
    append_governance_record(report, path)  # rerun of the same version
    rows = DeltaTable(path).to_pandas()
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["use_case"], row["model_name"], row["model_version"], row["run_id"]) == (
        "credit_default", "credit_default_xgb", "3", "run-abc")
    assert row["created_at"] == pd.Timestamp(CREATED)
    assert row["overall_score"] == report.overall_score and row["trust_level"] == report.trust_level
    assert bool(row["fairness_ok"]) == report.fairness_ok
    assert json.loads(row["json"])["overall_score"] == report.overall_score

    v4 = dataclasses.replace(report, metadata=_metadata("4"), overall_score=12.5)
    append_governance_record(v4, path)
    append_governance_record(dataclasses.replace(v4, overall_score=13.5), path)  # rerun replaces its row
    rows = DeltaTable(path).to_pandas().sort_values("model_version")
    assert rows["model_version"].tolist() == ["3", "4"]
    assert rows["overall_score"].tolist() == [report.overall_score, 13.5]
