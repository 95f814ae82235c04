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


def test_fairness_blocks_only_when_enforced():
    unfair = registry.FairnessResult(ok=False, reasons=("disparate impact 0.50 for age (<25 vs 35-50) below 0.8",))
    blocked = registry.decide(GATE, 0.8, fairness=unfair)
    assert not blocked.passed and blocked.reasons == ("fairness: disparate impact 0.50 for age (<25 vs 35-50) "
                                                      "below 0.8",)
    advisory = registry.decide(dataclasses.replace(GATE, enforce_fairness=False), 0.8, fairness=unfair)
    assert advisory.passed and not advisory.fairness_ok
    assert "fairness (not enforced): disparate impact 0.50" in advisory.summary


def test_numeric_protected_attributes_are_bucketed():
    groups = registry.groups_of(pd.Series([20, 25, 34, 35, 70, None]), [25, 35, 50, 65])
    assert list(groups) == ["<25", "25-35", "25-35", "35-50", ">=65", "missing"]
    assert list(registry.groups_of(pd.Series(["a", None]), [25])) == ["a", "missing"]


def test_disparate_impact_by_hand():
    groups = pd.Series(["a"] * 4 + ["b"] * 4 + ["c"] * 2)
    favourable = np.array([1, 1, 0, 0, 1, 1, 1, 1, 0, 0])
    di = registry.disparate_impact(favourable, groups, min_group_size=3)
    assert di["ratio"] == pytest.approx(0.5) and (di["worst"], di["best"]) == ("a", "b")
    assert di["rates"]["c"] == {"rate": 0.0, "n": 2, "judged": False}  # too small to judge


def test_the_default_fairness_hook_applies_the_80_percent_rule_to_the_favourable_outcome():
    credit = load_use_case("credit_default")  # risk model: favourable = not flagged (score < cutoff)
    protected = pd.DataFrame({"foreign_worker": ["yes"] * 40 + ["no"] * 40})
    scores = np.array([0.9] * 20 + [0.1] * 20 + [0.1] * 40)  # half the "yes" group flagged, none of "no"
    result = registry.disparate_impact_check(protected, np.zeros(80), scores, credit, 0.5)
    assert not result.ok and result.reasons == ("disparate impact 0.50 for foreign_worker (yes vs no) below 0.8",)
    lead = load_use_case("lead_scoring")  # propensity model: favourable = selected
    result = registry.disparate_impact_check(protected.rename(columns={"foreign_worker": "marital"}), np.zeros(80),
                                             scores, lead, 0.5)
    assert not result.ok and "(no vs yes)" in result.reasons[0]
    assert registry.disparate_impact_check(protected, np.zeros(80), np.full(80, 0.2), credit, 0.5).ok
