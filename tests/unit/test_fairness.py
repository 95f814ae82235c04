"""Fairness statistics against hand computations on tiny frames."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jobs.lib.fairness import (
    FairnessThresholds,
    attribute_fairness,
    bucket_labels,
    bucket_numeric,
    demographic_parity_ratio,
    disparate_impacts,
    equal_opportunity_difference,
    fairness_by_attribute,
    predicted_positive,
)

# group A: y = 1 1 0 0, pred = 1 0 1 0 -> selection 2/4 = 0.50, TPR 1/2 = 0.5, not flagged 0.50
# group B: y = 1 0 0 0, pred = 1 0 0 0 -> selection 1/4 = 0.25, TPR 1/1 = 1.0, not flagged 0.75
GROUPS = ["A"] * 4 + ["B"] * 4
Y_TRUE = [1, 1, 0, 0, 1, 0, 0, 0]
Y_PRED = [1, 0, 1, 0, 1, 0, 0, 0]
ANY_SIZE = FairnessThresholds(min_group_size=1)


def by_group(result):
    return {g.group: g for g in result.groups}


def test_group_rates_and_measures_match_hand_computation():
    r = attribute_fairness("sex", GROUPS, Y_TRUE, Y_PRED, ANY_SIZE)
    g = by_group(r)
    assert (g["A"].n, g["A"].predicted_positive, g["A"].actual_positive) == (4, 2, 2)
    assert g["A"].selection_rate == pytest.approx(0.5)
    assert g["B"].selection_rate == pytest.approx(0.25)
    assert g["A"].tpr == pytest.approx(0.5)
    assert g["B"].tpr == pytest.approx(1.0)
    assert r.demographic_parity_ratio == pytest.approx(0.25 / 0.5)
    assert r.equal_opportunity_difference == pytest.approx(1.0 - 0.5)
    # risk model: favourable = not flagged; B is the most favoured (0.75), A gets 0.50 / 0.75
    assert g["A"].favourable_rate == pytest.approx(0.5)
    assert g["B"].favourable_rate == pytest.approx(0.75)
    assert r.reference_group == "B"
    assert g["A"].disparate_impact == pytest.approx(2 / 3)
    assert g["B"].disparate_impact == pytest.approx(1.0)
    assert (r.worst_group, r.min_disparate_impact) == ("A", pytest.approx(2 / 3))
    assert r.disparate_impact_ok is False
    assert r.equal_opportunity_ok is False
    assert not r.ok
    assert any("disparate impact 0.67 for sex=A below 0.8" in f for f in r.failures)
    assert any("equal opportunity difference 0.50 for sex" in f for f in r.failures)


def test_propensity_convention_makes_selection_the_favourable_outcome():
    r = attribute_fairness("sex", GROUPS, Y_TRUE, Y_PRED, ANY_SIZE, positive_is_favourable=True)
    g = by_group(r)
    assert r.reference_group == "A"
    assert g["B"].disparate_impact == pytest.approx(0.25 / 0.5)
    assert g["A"].disparate_impact == pytest.approx(1.0)


def test_fair_predictions_pass():
    # both groups: selection 0.5, TPR 1.0
    r = attribute_fairness("g", ["A"] * 4 + ["B"] * 4, [1, 0, 0, 0] * 2, [1, 1, 0, 0] * 2, ANY_SIZE)
    assert r.demographic_parity_ratio == pytest.approx(1.0)
    assert r.equal_opportunity_difference == pytest.approx(0.0)
    assert r.min_disparate_impact == pytest.approx(1.0)
    assert r.ok and r.failures == ()


def test_small_groups_are_reported_but_not_judged():
    groups = GROUPS + ["C", "C"]
    y_true = Y_TRUE + [1, 1]
    y_pred = Y_PRED + [1, 1]  # C: everybody flagged, would have disparate impact 0
    r = attribute_fairness("sex", groups, y_true, y_pred, FairnessThresholds(min_group_size=3))
    g = by_group(r)
    assert g["C"].n == 2 and g["C"].selection_rate == 1.0 and g["C"].judged is False
    assert g["C"].disparate_impact is None
    # the measures are those of A and B alone
    assert r.demographic_parity_ratio == pytest.approx(0.5)
    assert r.min_disparate_impact == pytest.approx(2 / 3)
    assert r.worst_group == "A"


def test_group_without_actual_positive_has_no_tpr():
    r = attribute_fairness("g", ["A", "A", "B", "B"], [1, 0, 0, 0], [1, 0, 1, 0], ANY_SIZE)
    assert by_group(r)["B"].tpr is None
    assert r.equal_opportunity_difference is None and r.equal_opportunity_ok is None


def test_pure_measures():
    assert demographic_parity_ratio([0.2, 0.4, 0.1]) == pytest.approx(0.25)
    assert demographic_parity_ratio([0.0, 0.0]) == 1.0
    assert demographic_parity_ratio([0.3]) is None
    assert equal_opportunity_difference([0.9, None, 0.6]) == pytest.approx(0.3)
    assert disparate_impacts([0.6, 0.8, 0.4]) == pytest.approx([0.75, 1.0, 0.5])
    assert predicted_positive([0.2, 0.5, 0.7], 0.5).tolist() == [0, 1, 1]


def test_age_buckets():
    assert bucket_labels([25, 35, 50, 65]) == ["<25", "25-34", "35-49", "50-64", ">=65"]
    ages = [18, 24, 25, 34, 35, 49, 50, 64, 65, 80, np.nan]
    assert bucket_numeric(ages, [25, 35, 50, 65]).tolist() == [
        "<25", "<25", "25-34", "25-34", "35-49", "35-49", "50-64", "50-64", ">=65", ">=65", "missing",
    ]


def test_fairness_by_attribute_buckets_numeric_and_applies_the_cutoff():
    protected = pd.DataFrame({"age": [22, 23, 40, 41], "foreign_worker": ["yes", "no", "yes", "no"]})
    scores = [0.9, 0.5, 0.1, 0.49]  # cutoff 0.5 -> flagged: 1, 1, 0, 0
    out = fairness_by_attribute(protected, [1, 0, 0, 1], scores, 0.5, ANY_SIZE)
    age = by_group(out["age"])
    assert out["age"].bucketed and set(age) == {"<25", "35-49"}
    assert age["<25"].selection_rate == 1.0 and age["35-49"].selection_rate == 0.0
    assert age["<25"].disparate_impact == 0.0  # not flagged: 0 vs 1
    fw = by_group(out["foreign_worker"])
    assert not out["foreign_worker"].bucketed
    assert fw["yes"].selection_rate == 0.5 and fw["no"].selection_rate == 0.5
    assert out["foreign_worker"].disparate_impact_ok is True
    # yes: the one defaulter (row 0) is flagged, TPR 1; no: the defaulter (row 3, 0.49 < 0.5) is not, TPR 0
    assert (fw["yes"].tpr, fw["no"].tpr) == (1.0, 0.0)
    assert out["foreign_worker"].equal_opportunity_difference == 1.0
    assert out["foreign_worker"].equal_opportunity_ok is False
