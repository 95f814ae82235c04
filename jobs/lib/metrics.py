"""Binary classification metrics of a risk model: small pure functions over ``(y_true, score)``.

``y_true`` is 0/1 (1 = the positive, risky class: default, conversion), ``score`` the predicted
probability of the positive class. Each function is checkable against a hand computation:

* ``auc``       area under the ROC curve (probability a random positive outranks a random negative)
* ``gini``      ``2 * AUC - 1`` (the accuracy ratio used for scorecards)
* ``ks``        Kolmogorov-Smirnov: the largest gap between the score CDFs of negatives and positives
                (= max over cutoffs of TPR - FPR)
* ``log_loss``  mean negative log-likelihood (probabilities clipped to [1e-15, 1 - 1e-15])
* ``brier``     mean squared error of the probability
* ``precision / recall / f1`` of the decision ``score >= cutoff``
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats
from sklearn import metrics as skm

EPS = 1e-15


def _arrays(y_true: Sequence[float], score: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(score, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} values, score has {p.size}")
    if y.size == 0:
        raise ValueError("no rows to evaluate")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must be 0/1")
    if np.isnan(p).any():
        raise ValueError("score has NaN values")
    return y, p


def _both_classes(y: np.ndarray, name: str) -> None:
    if y.min() == y.max():
        raise ValueError(f"{name} needs both classes; all {y.size} labels are {int(y[0])}")


def auc(y_true: Sequence[float], score: Sequence[float]) -> float:
    y, p = _arrays(y_true, score)
    _both_classes(y, "AUC")
    return float(skm.roc_auc_score(y, p))


def gini(y_true: Sequence[float], score: Sequence[float]) -> float:
    return 2.0 * auc(y_true, score) - 1.0


def ks(y_true: Sequence[float], score: Sequence[float]) -> float:
    """Two-sample KS statistic between the scores of positives and negatives."""
    y, p = _arrays(y_true, score)
    _both_classes(y, "KS")
    return float(stats.ks_2samp(p[y == 1], p[y == 0]).statistic)


def log_loss(y_true: Sequence[float], score: Sequence[float]) -> float:
    y, p = _arrays(y_true, score)
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def brier(y_true: Sequence[float], score: Sequence[float]) -> float:
    y, p = _arrays(y_true, score)
    return float(np.mean((p - y) ** 2))


def confusion_at(y_true: Sequence[float], score: Sequence[float], cutoff: float) -> dict[str, int]:
    """Counts of the decision ``score >= cutoff`` (predicted positive) against the labels."""
    y, p = _arrays(y_true, score)
    pred = p >= cutoff
    pos = y == 1
    return {"tp": int((pred & pos).sum()), "fp": int((pred & ~pos).sum()),
            "fn": int((~pred & pos).sum()), "tn": int((~pred & ~pos).sum())}


def precision_recall_f1(y_true: Sequence[float], score: Sequence[float], cutoff: float
                        ) -> tuple[float, float, float]:
    """Precision, recall and F1 of ``score >= cutoff``; 0.0 where a ratio has nothing to divide by."""
    c = confusion_at(y_true, score, cutoff)
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def evaluate(y_true: Sequence[float], score: Sequence[float], cutoff: float = 0.5) -> dict[str, float]:
    """All metrics of one data set, as MLflow logs them (the caller adds the ``val_`` / ``holdout_`` prefix)."""
    y, p = _arrays(y_true, score)
    precision, recall, f1 = precision_recall_f1(y, p, cutoff)
    a = auc(y, p)
    return {
        "auc": a, "gini": 2 * a - 1, "ks": ks(y, p), "log_loss": log_loss(y, p), "brier": brier(y, p),
        "precision": precision, "recall": recall, "f1": f1,
        "positive_rate": float(y.mean()), "predicted_positive_rate": float((p >= cutoff).mean()),
        "rows": float(y.size),
    }
