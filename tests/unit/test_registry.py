"""The quality gate's decision and the default fairness hook, without an MLflow store."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from jobs.lib import registry
from jobs.lib.config import Gate, load_use_case

GATE = Gate(auc_floor=0.7, min_improvement=0.005, enforce_fairness=True)


def test_the_first_model_is_judged_on_the_floor_only():
    assert registry.decide(GATE, 0.71).passed
    decision = registry.decide(GATE, 0.69)
    assert not decision.passed and decision.reasons == ("holdout AUC 0.6900 below the floor 0.7",)
    assert decision.summary == "failed: holdout AUC 0.6900 below the floor 0.7"


def test_a_challenger_must_beat_the_champion_on_the_same_holdout_by_the_margin():
    assert registry.decide(GATE, 0.785, champion_auc=0.78, champion_version="3").passed
    decision = registry.decide(GATE, 0.784, champion_auc=0.78, champion_version="3")
    assert not decision.passed and decision.required_auc == pytest.approx(0.785)
    assert "does not beat champion v3 (0.7800 on the same holdout) by 0.005" in decision.reasons[0]
    both = registry.decide(GATE, 0.6, champion_auc=0.78, champion_version="3")
    assert len(both.reasons) == 2


def test_a_champion_that_cannot_be_scored_fails_the_gate_with_the_reason():
    decision = registry.decide(GATE, 0.8, problems=["cannot compare with champion v2: needs feature(s) ['x']"])
    assert not decision.passed and decision.reasons == ("cannot compare with champion v2: needs feature(s) ['x']",)


def test_a_decision_round_trips_through_a_tag_even_with_long_reasons():
    decision = registry.decide(GATE, 0.6, 0.78, "3", registry.FairnessResult(False, tuple("x" * 900 for _ in range(20))))
    text = decision.to_tag()
    assert len(text) <= registry.TAG_LIMIT
    back = registry.GateDecision.from_tag(text)
    assert (back.passed, back.challenger_auc, back.champion_version, back.champion_auc) == (False, 0.6, "3", 0.78)
    assert registry.GateDecision.from_tag(registry.decide(GATE, 0.8).to_tag()) == registry.decide(GATE, 0.8)


def test_fairness_blocks_only_when_enforced():
    unfair = registry.FairnessResult(ok=False, reasons=("disparate impact 0.50 for age (<25 vs 35-50) below 0.8",))
    blocked = registry.decide(GATE, 0.8, fairness=unfair)
    assert not blocked.passed and blocked.reasons == ("fairness: disparate impact 0.50 for age (<25 vs 35-50) "
                                                      "below 0.8",)
    advisory = registry.decide(dataclasses.replace(GATE, enforce_fairness=False), 0.8, fairness=unfair)
    assert advisory.passed and not advisory.fairness_ok
    assert "fairness (not enforced): disparate impact 0.50" in advisory.summary


def test_the_default_fairness_hook_applies_the_use_cases_thresholds_to_the_favourable_outcome():
    credit = load_use_case("credit_default")  # risk model: favourable = not flagged (score < cutoff)
    protected = pd.DataFrame({"foreign_worker": ["yes"] * 40 + ["no"] * 40})
    scores = np.array([0.9] * 20 + [0.1] * 20 + [0.1] * 40)  # half the "yes" group flagged, none of "no"
    result = registry.fairness_check(protected, np.zeros(80), scores, credit, 0.5)
    assert not result.ok and len(result.reasons) == 1
    assert result.reasons[0].startswith("disparate impact 0.50 for foreign_worker=yes below 0.8")
    assert result.detail["foreign_worker"]["min_disparate_impact"] == pytest.approx(0.5)
    lead = load_use_case("lead_scoring")  # propensity model: favourable = selected
    result = registry.fairness_check(protected.rename(columns={"foreign_worker": "marital"}), np.zeros(80), scores,
                                     lead, 0.5)
    assert not result.ok and result.reasons[0].startswith("disparate impact 0.00 for marital=no")
    assert registry.fairness_check(protected, np.zeros(80), np.full(80, 0.2), credit, 0.5).ok


def test_the_default_fairness_hook_checks_equal_opportunity_and_buckets_ages():
    credit = load_use_case("credit_default")
    ages = pd.DataFrame({"age_in_years": [22] * 40 + [40] * 40})  # buckets <25 and 35-49
    y = np.array(([1] * 20 + [0] * 20) * 2)
    scores = np.array([0.9] * 20 + [0.1] * 20 + [0.9] * 10 + [0.1] * 30)  # TPR 1.0 for <25, 0.5 for 35-49
    result = registry.fairness_check(ages, y, scores, credit, 0.5)
    assert not result.ok
    assert any(r.startswith("equal opportunity difference 0.50 for age_in_years") for r in result.reasons)
    groups = {g["group"] for g in result.detail["age_in_years"]["groups"]}
    assert groups == {"<25", "35-49"}
