"""Model metrics against hand computations."""
from __future__ import annotations

import math

import numpy as np
import pytest

from jobs.lib import metrics

Y = [0, 0, 1, 1]
P = [0.1, 0.4, 0.35, 0.8]


def test_auc_counts_correctly_ordered_pairs():
    # (pos, neg) pairs: 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes -> 3/4
    assert metrics.auc(Y, P) == pytest.approx(0.75)
    assert metrics.gini(Y, P) == pytest.approx(0.5)
    assert metrics.auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)  # a tie counts one half


def test_ks_is_the_largest_gap_between_the_class_cdfs():
    # negatives {0.1, 0.4}, positives {0.35, 0.8}: at 0.1 the CDFs are 0.5 vs 0; at 0.4 they are 1 vs 0.5
    assert metrics.ks(Y, P) == pytest.approx(0.5)
    assert metrics.ks([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(1.0)


def test_log_loss_and_brier():
    expected = -(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4
    assert metrics.log_loss(Y, P) == pytest.approx(expected)
    assert metrics.brier(Y, P) == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert math.isfinite(metrics.log_loss([1, 0], [0.0, 1.0]))  # clipped, not infinite


def test_precision_recall_f1_at_the_cutoff():
    # cutoff 0.5 flags only 0.8: tp=1, fp=0, fn=1
    assert metrics.confusion_at(Y, P, 0.5) == {"tp": 1, "fp": 0, "fn": 1, "tn": 2}
    assert metrics.precision_recall_f1(Y, P, 0.5) == pytest.approx((1.0, 0.5, 2 / 3))
    # cutoff 0.3 flags 0.4, 0.35, 0.8: tp=2, fp=1, fn=0
    assert metrics.precision_recall_f1(Y, P, 0.3) == pytest.approx((2 / 3, 1.0, 0.8))
    assert metrics.precision_recall_f1(Y, P, 0.95) == (0.0, 0.0, 0.0)  # nothing flagged
    # score >= cutoff: at 0.4 the negative scored exactly 0.4 is flagged too (tp=1, fp=1, fn=1)
    assert metrics.precision_recall_f1(Y, P, 0.4) == pytest.approx((0.5, 0.5, 0.5))


def test_evaluate_collects_everything():
    out = metrics.evaluate(Y, P, 0.5)
    assert out["auc"] == pytest.approx(0.75) and out["ks"] == pytest.approx(0.5) and out["f1"] == pytest.approx(2 / 3)
    assert out["positive_rate"] == 0.5 and out["predicted_positive_rate"] == 0.25 and out["rows"] == 4


@pytest.mark.parametrize("y, p, message", [
    ([1, 1], [0.2, 0.3], "needs both classes; all 2 labels are 1"),
    ([0, 1], [0.2], "y_true has 2 values, score has 1"),
    ([0, 2], [0.2, 0.3], "must be 0/1"),
    ([0, 1], [0.2, np.nan], "NaN"),
    ([], [], "no rows"),
])
def test_bad_input_is_refused(y, p, message):
    with pytest.raises(ValueError, match=message):
        metrics.auc(y, p)
