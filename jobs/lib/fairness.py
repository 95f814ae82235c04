"""Fairness statistics for a binary risk or propensity model: pure functions on arrays.

Conventions (stated once here, repeated in every report that uses them):

* **prediction** — a row is *predicted positive* when its score is at or above the decision cutoff
  (``score >= cutoff``). For a risk model (credit default) the positive class is the adverse one: a
  predicted positive is an application *flagged as risky* (declined or referred). For a propensity
  model (lead scoring) a predicted positive is a lead *selected* for the offer, a favourable outcome.
* **selection rate** of a group — the share of its rows predicted positive (``P(pred = 1 | group)``),
  whatever the positive class means. **Demographic parity ratio** = min / max selection rate over the
  judged groups (1 = parity).
* **TPR** of a group — ``P(pred = 1 | y = 1, group)``: for credit, the share of the group's actual
  defaulters that the model flags. **Equal opportunity difference** = max - min TPR over the judged
  groups that have at least one actual positive (0 = parity).
* **favourable outcome** — *not flagged* for a risk model (``positive_is_favourable=False``:
  favourable rate = 1 - selection rate), *selected* for a propensity model
  (``positive_is_favourable=True``: favourable rate = selection rate).
* **disparate impact** of a group = its favourable rate / the favourable rate of the most favoured
  judged group. The **80% rule** (four-fifths rule) is applied to the favourable outcome: a group whose
  disparate impact is below ``disparate_impact_min`` (0.8) fails.
* **small groups** — a group with fewer rows than ``min_group_size`` is reported with its numbers but is
  not judged: it takes part in no ratio, difference, reference choice or pass/fail.
* **numeric attributes** (e.g. age) are bucketed with the edges ``age_buckets`` before grouping:
  edges ``[25, 35, 50, 65]`` give ``<25``, ``25-34``, ``35-49``, ``50-64``, ``>=65`` (integer ages; the
  labels name the closed integer range ``[lo, hi)``). Missing values form their own group ``missing``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MISSING_GROUP = "missing"


@dataclass(frozen=True)
class FairnessThresholds:
    """What a fair model must meet. Defaults follow the four-fifths rule and common practice."""

    disparate_impact_min: float = 0.8  # 80% rule on the favourable outcome
    equal_opportunity_max_diff: float = 0.1  # max - min TPR over judged groups
    age_buckets: tuple[float, ...] = (25, 35, 50, 65)  # bucket edges for numeric attributes
    min_group_size: int = 30  # smaller groups are reported, not judged


@dataclass(frozen=True)
class GroupStats:
    """One group of one protected attribute."""

    group: str
    n: int
    predicted_positive: int
    selection_rate: float  # P(pred = 1 | group)
    favourable_rate: float  # P(favourable outcome | group)
    actual_positive: int
    tpr: float | None  # P(pred = 1 | y = 1, group); None when the group has no actual positive
    disparate_impact: float | None  # favourable rate / the most favoured judged group's; None if not judged
    judged: bool  # False when n < min_group_size


@dataclass(frozen=True)
class AttributeFairness:
    """The fairness of the predictions across the groups of one protected attribute."""

    attribute: str
    bucketed: bool
    groups: tuple[GroupStats, ...]
    reference_group: str | None  # the most favoured judged group
    demographic_parity_ratio: float | None
    equal_opportunity_difference: float | None
    min_disparate_impact: float | None
    worst_group: str | None  # the judged group with the lowest disparate impact
    disparate_impact_ok: bool | None  # None: fewer than two judged groups, nothing to compare
    equal_opportunity_ok: bool | None
    failures: tuple[str, ...] = field(default=())  # readable reasons, empty when fair

    @property
    def ok(self) -> bool:
        """Fair on every check that could be judged (an unjudgeable check does not fail)."""
        return self.disparate_impact_ok is not False and self.equal_opportunity_ok is not False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["groups"] = [asdict(g) for g in self.groups]
        out["failures"] = list(self.failures)
        out["ok"] = self.ok
        return out


# ------------------------------------------------------------------------------------ pure statistics
def bucket_labels(edges: Sequence[float]) -> list[str]:
    """Labels of the buckets that ``edges`` cut: ``[25, 35]`` -> ``['<25', '25-34', '>=35']``."""
    edges = [float(e) for e in edges]
    if list(edges) != sorted(edges) or len(set(edges)) != len(edges):
        raise ValueError(f"bucket edges must be strictly increasing, got {edges}")

    def fmt(v: float) -> str:
        return str(int(v)) if float(v).is_integer() else f"{v:g}"

    labels = [f"<{fmt(edges[0])}"]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        upper = fmt(hi - 1) if float(lo).is_integer() and float(hi).is_integer() else f"<{fmt(hi)}"
        labels.append(f"{fmt(lo)}-{upper}")
    labels.append(f">={fmt(edges[-1])}")
    return labels


def bucket_numeric(values: Sequence[float] | pd.Series, edges: Sequence[float]) -> pd.Series:
    """Bucket a numeric attribute: bucket i holds ``edges[i-1] <= v < edges[i]``; NaN -> ``missing``."""
    v = pd.Series(values, dtype="float64").reset_index(drop=True)
    labels = bucket_labels(edges)
    idx = np.searchsorted(np.asarray(edges, dtype="float64"), v.to_numpy(), side="right")
    out = pd.Series([labels[i] for i in idx], dtype="object")
    out[v.isna().to_numpy()] = MISSING_GROUP
    return out


def selection_rate(y_pred: Sequence[int] | np.ndarray) -> float:
    """Share of rows predicted positive."""
    p = np.asarray(y_pred, dtype=bool)
    return float(p.mean()) if p.size else float("nan")


def true_positive_rate(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float | None:
    """``P(pred = 1 | y = 1)``; None when there is no actual positive."""
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    if not t.any():
        return None
    return float(p[t].mean())


def demographic_parity_ratio(selection_rates: Sequence[float]) -> float | None:
    """min / max selection rate; 1.0 when all are 0 (nobody selected anywhere); None for < 2 groups."""
    rates = [r for r in selection_rates if r is not None and not math.isnan(r)]
    if len(rates) < 2:
        return None
    hi = max(rates)
    return 1.0 if hi == 0 else min(rates) / hi


def equal_opportunity_difference(tprs: Sequence[float | None]) -> float | None:
    """max - min TPR over groups with a TPR; None for fewer than two."""
    vals = [t for t in tprs if t is not None and not math.isnan(t)]
    if len(vals) < 2:
        return None
    return max(vals) - min(vals)


def disparate_impacts(favourable_rates: Sequence[float]) -> list[float]:
    """Each favourable rate divided by the highest one (the most favoured group gets 1.0)."""
    rates = [float(r) for r in favourable_rates]
    hi = max(rates) if rates else 0.0
    return [1.0 if hi == 0 else r / hi for r in rates]


def predicted_positive(y_score: Sequence[float] | np.ndarray, cutoff: float) -> np.ndarray:
    """The decision at ``cutoff``: 1 where ``score >= cutoff``."""
    return (np.asarray(y_score, dtype="float64") >= cutoff).astype(int)


# ------------------------------------------------------------------------------------- per attribute
def attribute_fairness(
    attribute: str,
    values: Sequence[Any] | pd.Series,
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    thresholds: FairnessThresholds = FairnessThresholds(),
    *,
    positive_is_favourable: bool = False,
    bucket: bool | None = None,
) -> AttributeFairness:
    """Group statistics and the three fairness measures for one protected attribute.

    ``values`` are the attribute's values aligned with ``y_true`` (0/1, 1 = actual positive, e.g. a
    default) and ``y_pred`` (0/1 decisions at the cutoff). Numeric attributes are bucketed with
    ``thresholds.age_buckets`` (``bucket=None`` decides from the dtype). See the module docstring for the
    conventions.
    """
    s = pd.Series(values).reset_index(drop=True)
    t = np.asarray(y_true, dtype=int)
    p = np.asarray(y_pred, dtype=int)
    if not (len(s) == len(t) == len(p)):
        raise ValueError(f"{attribute}: values, y_true and y_pred differ in length ({len(s)}, {len(t)}, {len(p)})")
    if bucket is None:
        bucket = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if bucket:
        groups = bucket_numeric(s, thresholds.age_buckets)
        order = [*bucket_labels(thresholds.age_buckets), MISSING_GROUP]
    else:
        groups = s.astype("object").where(s.notna(), MISSING_GROUP).astype(str)
        order = sorted(groups.unique())

    raw = []
    for g in order:
        mask = (groups == g).to_numpy()
        n = int(mask.sum())
        if n == 0:
            continue
        sel = selection_rate(p[mask])
        raw.append(
            dict(
                group=g,
                n=n,
                predicted_positive=int(p[mask].sum()),
                selection_rate=sel,
                favourable_rate=sel if positive_is_favourable else 1.0 - sel,
                actual_positive=int(t[mask].sum()),
                tpr=true_positive_rate(t[mask], p[mask]),
                judged=n >= thresholds.min_group_size,
            )
        )

    judged = [r for r in raw if r["judged"]]
    di = dict(zip([r["group"] for r in judged], disparate_impacts([r["favourable_rate"] for r in judged]), strict=True))
    stats = tuple(GroupStats(**r, disparate_impact=di.get(r["group"])) for r in raw)

    dpr = demographic_parity_ratio([r["selection_rate"] for r in judged])
    eod = equal_opportunity_difference([r["tpr"] for r in judged])
    reference = max(judged, key=lambda r: r["favourable_rate"])["group"] if judged else None
    worst = min(judged, key=lambda r: di[r["group"]])["group"] if judged else None
    min_di = di[worst] if worst is not None else None
    di_ok = None if len(judged) < 2 else bool(min_di >= thresholds.disparate_impact_min)
    eo_ok = None if eod is None else bool(eod <= thresholds.equal_opportunity_max_diff + 1e-12)

    failures = []
    if di_ok is False:
        for g in stats:
            if g.disparate_impact is not None and g.disparate_impact < thresholds.disparate_impact_min:
                failures.append(
                    f"disparate impact {g.disparate_impact:.2f} for {attribute}={g.group} below "
                    f"{thresholds.disparate_impact_min:g} (favourable rate {g.favourable_rate:.1%} vs "
                    f"{reference} {max(r['favourable_rate'] for r in judged):.1%})"
                )
    if eo_ok is False:
        tprs = {g.group: g.tpr for g in stats if g.judged and g.tpr is not None}
        lo, hi = min(tprs, key=tprs.get), max(tprs, key=tprs.get)
        failures.append(
            f"equal opportunity difference {eod:.2f} for {attribute} above "
            f"{thresholds.equal_opportunity_max_diff:g} (TPR {tprs[lo]:.1%} for {lo} vs {tprs[hi]:.1%} for {hi})"
        )
    return AttributeFairness(
        attribute=attribute,
        bucketed=bool(bucket),
        groups=stats,
        reference_group=reference,
        demographic_parity_ratio=dpr,
        equal_opportunity_difference=eod,
        min_disparate_impact=min_di,
        worst_group=worst,
        disparate_impact_ok=di_ok,
        equal_opportunity_ok=eo_ok,
        failures=tuple(failures),
    )


def fairness_by_attribute(
    protected: pd.DataFrame,
    y_true: Sequence[int] | np.ndarray,
    y_score: Sequence[float] | np.ndarray,
    cutoff: float,
    thresholds: FairnessThresholds = FairnessThresholds(),
    *,
    positive_is_favourable: bool = False,
) -> dict[str, AttributeFairness]:
    """:func:`attribute_fairness` for every column of ``protected`` (rows aligned with ``y_true``)."""
    y_pred = predicted_positive(y_score, cutoff)
    return {
        col: attribute_fairness(
            col, protected[col], y_true, y_pred, thresholds, positive_is_favourable=positive_is_favourable
        )
        for col in protected.columns
    }


def convention_text(positive_is_favourable: bool) -> str:
    """The convention in one paragraph, for reports."""
    if positive_is_favourable:
        meaning = "a predicted positive (score >= cutoff) is selected for the offer, the favourable outcome"
    else:
        meaning = (
            "a predicted positive (score >= cutoff) is flagged as risky, the adverse outcome; "
            "the favourable outcome is not being flagged"
        )
    return (
        f"Selection rate = share predicted positive; {meaning}. Disparate impact = a group's favourable "
        "rate / the most favoured group's favourable rate (80% rule on the favourable outcome). "
        "Demographic parity ratio = min / max selection rate. Equal opportunity difference = max - min "
        "true positive rate. Groups below the minimum size are reported but not judged."
    )
