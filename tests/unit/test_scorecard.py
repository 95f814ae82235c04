"""Credit scorecard on the German credit sample: binning, points scaling, drafts and their Delta store."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobs.lib.scorecard import (
    MISSING_BIN,
    UNSEEN_BIN,
    QualityThresholds,
    ScorecardParams,
    ScorecardStateError,
    ScorecardStore,
    bin_feature,
    build_draft,
    compare,
    odds_from_score,
    psi,
    quality_checks,
    score_from_odds,
)

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "german_credit.csv"
PROTECTED = ["age_in_years", "personal_status_and_sex", "foreign_worker"]
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    df = pd.read_csv(SAMPLE)
    assert set(df["creditability"]) == {"good", "bad"}
    return df


@pytest.fixture(scope="module")
def features(credit) -> list[str]:
    return [c for c in credit.columns if c not in ["creditability", *PROTECTED]]


@pytest.fixture(scope="module")
def split(credit):
    shuffled = credit.sample(frac=1.0, random_state=11).reset_index(drop=True)
    return shuffled.iloc[:700].reset_index(drop=True), shuffled.iloc[700:].reset_index(drop=True)


@pytest.fixture(scope="module")
def draft(split, features):
    train, valid = split
    return build_draft(train, "creditability", features, bad_value="bad", valid_df=valid)


def test_points_scaling_is_exact():
    p = ScorecardParams()  # 600 points at 50:1, 20 points to double
    assert score_from_odds(50.0, p) == pytest.approx(600.0, abs=1e-9)
    assert score_from_odds(100.0, p) - score_from_odds(50.0, p) == pytest.approx(20.0, abs=1e-9)
    assert score_from_odds(25.0, p) == pytest.approx(580.0, abs=1e-9)
    assert p.factor == pytest.approx(20 / math.log(2))
    assert p.offset == pytest.approx(600 - 20 / math.log(2) * math.log(50))
    other = ScorecardParams(base_score=500, base_odds=20, pdo=40)
    assert score_from_odds(20.0, other) == pytest.approx(500.0, abs=1e-9)
    assert score_from_odds(80.0, other) == pytest.approx(580.0, abs=1e-9)
    assert odds_from_score(620.0, p) == pytest.approx(100.0)


def test_row_points_add_up_to_the_scaled_odds(draft, split):
    _, valid = split
    row = valid.iloc[[0]]
    # shift the intercept so that this row's model odds are exactly base_odds (50:1 good:bad)
    at_base = dataclasses.replace(draft, intercept=draft.intercept + math.log(50.0) - float(draft.log_odds(row).iloc[0]))
    assert math.exp(float(at_base.log_odds(row).iloc[0])) == pytest.approx(50.0)
    assert float(at_base.score(row).iloc[0]) == pytest.approx(600.0, abs=1e-9)
    doubled = dataclasses.replace(at_base, intercept=at_base.intercept + math.log(2.0))
    assert float(doubled.score(row).iloc[0]) - float(at_base.score(row).iloc[0]) == pytest.approx(20.0, abs=1e-9)
    # every row: the sum of its bins' points is offset + factor x ln(odds)
    np.testing.assert_allclose(draft.score(valid), score_from_odds(np.exp(draft.log_odds(valid))), atol=1e-9)
    # and the points table holds exactly those points
    table = draft.points_table()
    assert list(table.columns[:2]) == ["feature", "bin_index"]
    assert {"feature", "bin", "woe", "coefficient", "points"} <= set(table.columns)
    r = valid.iloc[0]
    total = 0.0
    for f in draft.features:
        idx = int(draft.binnings[f].bin_index(pd.Series([r[f]]))[0])
        total += float(table[(table.feature == f) & (table.bin_index == idx)]["points"].iloc[0])
    assert total == pytest.approx(float(draft.score(valid.iloc[[0]]).iloc[0]), abs=1e-9)


def test_scorecard_auc_on_german_credit(draft, split):
    train, _ = split
    assert draft.auc_on == "valid" and draft.auc > 0.7
    assert draft.n_samples == 700
    assert draft.default_rate == pytest.approx((train["creditability"] == "bad").mean())
    assert not set(PROTECTED) & set(draft.features)
    assert "status_of_existing_checking_account" in draft.features
    # higher score = lower risk: the bad rate falls across score halves
    score = draft.score(train)
    bad = train["creditability"] == "bad"
    assert bad[score < score.median()].mean() > bad[score >= score.median()].mean()


def test_binning_is_monotonic_with_minimum_share(credit):
    y = (credit["creditability"] == "bad").astype(int).to_numpy()
    p = ScorecardParams()
    for feature in ("duration_in_month", "credit_amount", "age_in_years"):
        fb = bin_feature(credit[feature], y, feature, p)
        regular = [b for b in fb.bins if not (b.is_missing or b.is_unseen)]
        rates = [b.bad / b.count for b in regular]
        assert rates == sorted(rates) or rates == sorted(rates, reverse=True), feature
        assert all(b.count >= p.min_bin_share * len(credit) for b in regular)
        assert 2 <= len(regular) <= p.max_bins
        assert sum(b.count for b in regular) == len(credit)
    duration = bin_feature(credit["duration_in_month"], y, "duration_in_month", p)
    rates = [b.bad / b.count for b in duration.bins if b.count]
    assert rates[-1] > rates[0]  # longer loans default more
    # WoE = ln(share of goods / share of bads), smoothed by 0.5 per count
    b = duration.bins[0]
    k = sum(1 for x in duration.bins if x.count)
    goods, bads = (y == 0).sum(), y.sum()
    expected = math.log(((b.count - b.bad) + 0.5) / (goods + 0.5 * k) / ((b.bad + 0.5) / (bads + 0.5 * k)))
    assert b.woe == pytest.approx(expected)


def test_missing_and_unseen_values_score_neutral_points(draft, split):
    _, valid = split
    row = valid.iloc[[0]].copy()
    row["purpose"] = "space travel"  # a category never seen in training
    row["duration_in_month"] = np.nan
    table = draft.points_table()
    neutral = (draft.params.offset + draft.params.factor * draft.intercept) / len(draft.features)
    for feature, label in (("purpose", UNSEEN_BIN), ("duration_in_month", MISSING_BIN)):
        pts = table[(table.feature == feature) & (table.bin == label)]["points"].iloc[0]
        assert pts == pytest.approx(neutral)
    assert np.isfinite(draft.score(row)).all()


def test_draft_against_itself_passes_every_check(draft, split):
    _, valid = split
    c = compare(draft, draft, valid)
    assert c.score_correlation == pytest.approx(1.0)
    assert c.max_weight_change == 0.0 and set(c.weight_change.values()) == {0.0}
    assert c.band_psi == pytest.approx(0.0) and c.same_band_share == 1.0
    checks = quality_checks(draft, c)
    assert [ch.check for ch in checks] == [
        "min_samples", "default_rate", "auc_floor", "max_weight_change", "score_correlation", "band_psi"]
    assert all(ch.passed for ch in checks), checks
    check, passed, value, threshold = checks[2]  # a plain (check, passed, value, threshold) tuple
    assert (check, passed, value, threshold) == ("auc_floor", True, draft.auc, 0.7)


def test_quality_checks_fail_on_small_and_shifted_drafts(draft, split, features):
    train, valid = split
    small = build_draft(train.iloc[:150], "creditability", features[:4], bad_value="bad")
    c = compare(small, draft, valid)
    assert c.features_removed and c.max_weight_change >= 0.5
    results = {ch.check: ch for ch in quality_checks(small, c, QualityThresholds())}
    assert not results["min_samples"].passed and results["min_samples"].value == 150
    assert not results["max_weight_change"].passed
    assert 0 <= c.same_band_share < 1
    assert psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0
    assert psi(np.array([0.5, 0.5]), np.array([0.4, 0.6])) == pytest.approx(0.1 * math.log(0.6 / 0.4))


def test_activation_flow_in_delta(draft, split, features, tmp_path):
    from deltalake import DeltaTable

    train, valid = split
    store = ScorecardStore(str(tmp_path / "scorecards" / "credit_default"), "credit_default")
    assert store.active_version() is None

    v1 = store.save_draft(draft, "2026-01-08", dt.datetime(2026, 1, 8, 6, tzinfo=UTC),
                          checks=quality_checks(draft, None), model_metadata={"run_id": "r1"})
    assert v1 == 1
    assert store.save_draft(draft, "2026-01-08", dt.datetime(2026, 1, 8, 7, tzinfo=UTC)) == 1  # rerun: same version
    assert store.status(1) == "draft" and store.active_version() is None
    store.activate(1, "alice", dt.datetime(2026, 1, 8, 12, tzinfo=UTC))
    store.activate(1, "alice", dt.datetime(2026, 1, 8, 12, tzinfo=UTC))  # idempotent
    assert store.active_version() == 1

    active = store.load_active()
    np.testing.assert_allclose(active.score(valid), draft.score(valid), atol=1e-9)  # stored = built

    second = build_draft(train.iloc[:500], "creditability", features, bad_value="bad")
    comparison = compare(second, active, valid)
    v2 = store.save_draft(second, "2026-01-09", dt.datetime(2026, 1, 9, 6, tzinfo=UTC),
                          checks=quality_checks(second, comparison), comparison=comparison, compared_to_version=1)
    assert v2 == 2
    store.reject(2, "bob", "weights moved too much", dt.datetime(2026, 1, 9, 12, tzinfo=UTC))
    assert store.status(2) == "rejected" and store.active_version() == 1
    with pytest.raises(ScorecardStateError):
        store.activate(2, "carol", dt.datetime(2026, 1, 10, tzinfo=UTC))

    v3 = store.save_draft(draft, "2026-01-10", dt.datetime(2026, 1, 10, 6, tzinfo=UTC), checks=quality_checks(draft, None))
    store.activate(v3, "carol", dt.datetime(2026, 1, 10, 12, tzinfo=UTC))
    versions = store.versions().set_index("scorecard_version")
    assert versions["status"].to_dict() == {1: "retired", 2: "rejected", 3: "active"}
    assert versions.loc[2, "approved_by"] == "bob" and versions.loc[2, "decision_reason"] == "weights moved too much"
    assert versions.loc[1, "retired_at"] == pd.Timestamp("2026-01-10 12:00", tz="UTC")
    assert versions.loc[3, "decided_at"] == pd.Timestamp("2026-01-10 12:00", tz="UTC")
    assert json.loads(versions.loc[2, "comparison"])["n_rows"] == len(valid)
    assert json.loads(versions.loc[1, "model_metadata"]) == {"run_id": "r1"}
    assert {c["check"] for c in json.loads(versions.loc[2, "checks"])} >= {"auc_floor", "score_correlation"}

    points = DeltaTable(str(tmp_path / "scorecards" / "credit_default" / "points")).to_pandas()
    assert sorted(points["scorecard_version"].unique()) == [1, 2, 3]  # the rejected draft is kept
    assert {"scorecard_version", "feature", "bin", "woe", "points"} <= set(points.columns)
    assert len(points[points.scorecard_version == 1]) == len(draft.points_table())


def test_unchecked_or_failed_draft_needs_an_explicit_override(draft, tmp_path):
    store = ScorecardStore(str(tmp_path / "sc"), "credit_default")
    v = store.save_draft(draft, "2026-01-08", dt.datetime(2026, 1, 8, tzinfo=UTC))  # no checks run
    with pytest.raises(ScorecardStateError, match="quality checks"):
        store.activate(v, "alice", dt.datetime(2026, 1, 8, 12, tzinfo=UTC))
    assert store.status(v) == "draft"
    store.activate(v, "alice", dt.datetime(2026, 1, 8, 12, tzinfo=UTC), allow_failed_checks=True)
    row = store.versions().iloc[0]
    assert row["status"] == "active" and row["decision_reason"] == "activated despite failed checks"
