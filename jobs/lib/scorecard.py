"""Credit scorecard: WoE binning + logistic regression, points scaled by PDO, drafts stored in Delta.

Why not optbinning
------------------
``optbinning`` (1.0.0, the preferred library) was tried beside the pinned set: ``pip install
optbinning`` pulls ``ortools>=9.15``, ``ropwr`` -> ``cvxpy`` and their solvers (``scs``, ``clarabel``,
``highspy``, ``osqp``, ``qdldl``, ``sparsediffpy``, ``absl-py``, ``immutabledict``), about 300 MB of
site-packages, and ``ortools 9.15`` requires ``protobuf>=6.33.1,<6.34``, so pip *downgrades* the
locked ``protobuf==7.36.2`` (used by mlflow, grpcio-status, opentelemetry-proto and Spark Connect) to
6.33.6. ``pip check`` stayed clean and pyspark / pandas / numpy / scikit-learn were untouched, but a
downgrade of a locked, shared dependency for one binning routine breaks the pins, so the venv was
restored and the binning is implemented here on numpy + scikit-learn (about 200 lines, fully tested).

Binning (per feature, on the training rows)
-------------------------------------------
* **numeric** — quantile pre-bins (``max_prebins``, unique edges; bin i holds ``edges[i-1] <= x <
  edges[i]``), then adjacent bins are merged (1) while a bin holds less than ``min_bin_share`` of the
  rows or has no good or no bad, (2) until the bad rate is monotonic in x (pool-adjacent-violators; both
  directions are tried and the one with the higher information value kept), (3) while there are more
  than ``max_bins`` bins (the closest bad rates merge first).
* **categorical** — one bin per category, ordered by bad rate (so monotonic by construction), merged
  with the same rules (1) and (3): rare categories join their closest-risk neighbour.
* **missing** values get their own bin (WoE from the data; 0 when training had none); categories not
  seen in training get an ``(unseen)`` bin with WoE 0 (neutral: only the intercept share).
* **WoE** = ln(share of goods in the bin / share of bads in the bin), each count smoothed by
  ``smoothing`` (0.5) so an empty class never gives an infinite WoE: positive WoE = lower risk.
  IV = sum((share good - share bad) x WoE). Features with IV < ``min_iv`` are dropped.

Model and points
----------------
Logistic regression (scikit-learn, L2 with ``C``) of *good* on the WoE columns: ln(odds good:bad) =
b0 + sum b_j WoE_j. Points: ``factor = pdo / ln 2``, ``offset = base_score - factor x ln(base_odds)``;
the score of a row is ``offset + factor x ln(odds)``, split into per-bin points
``factor x b_j x WoE + (offset + factor x b0) / k`` (k features), so the points of a row add up exactly
to its score: odds = base_odds (50:1 good:bad) scores ``base_score`` (600) and doubling the odds adds
``pdo`` (20) points. Points are not rounded (``round_points`` rounds the table to integers for print).

Versions
--------
A scorecard is built as a **draft** (:func:`build_draft`), compared with the **active** one on the
same rows (:func:`compare`), checked (:func:`quality_checks`) and saved (:meth:`ScorecardStore.save_draft`);
a human then activates it (the previous active one becomes **retired**) or rejects it (kept, marked
**rejected**). The store is two Delta tables under ``<root>`` (e.g. ``lakehouse/scorecards/<uc>``):
``versions`` (one row per version) and ``points`` (one row per version, feature and bin).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

MISSING_BIN = "(missing)"
UNSEEN_BIN = "(unseen)"
STATUSES = ("draft", "active", "rejected", "retired")


@dataclass(frozen=True)
class ScorecardParams:
    """Scaling and binning parameters (defaults: 600 points at 50:1 good:bad odds, 20 points to double)."""

    base_score: float = 600.0
    base_odds: float = 50.0  # good:bad odds that score base_score
    pdo: float = 20.0  # points to double the odds
    max_prebins: int = 20
    max_bins: int = 6
    min_bin_share: float = 0.05
    min_iv: float = 0.02  # features below this information value are dropped
    smoothing: float = 0.5  # added to good and bad counts in the WoE
    C: float = 1.0  # inverse L2 strength of the logistic regression
    n_bands: int = 10  # score bands (deciles of the active score) for band stability
    round_points: bool = False

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)


def score_from_odds(odds: float | np.ndarray, params: ScorecardParams = ScorecardParams()) -> float | np.ndarray:
    """Points of good:bad ``odds``: ``offset + factor x ln(odds)``."""
    return params.offset + params.factor * np.log(odds)


def odds_from_score(score: float | np.ndarray, params: ScorecardParams = ScorecardParams()) -> float | np.ndarray:
    """The inverse of :func:`score_from_odds`."""
    return np.exp((np.asarray(score, dtype="float64") - params.offset) / params.factor)


# ---------------------------------------------------------------------------------------------- binning
@dataclass(frozen=True)
class Bin:
    label: str
    lower: float | None = None  # numeric: lower <= x < upper (None = unbounded)
    upper: float | None = None
    categories: tuple[str, ...] | None = None  # categorical bins
    is_missing: bool = False
    is_unseen: bool = False
    count: int = 0
    bad: int = 0
    woe: float = 0.0


@dataclass(frozen=True)
class FeatureBinning:
    feature: str
    kind: str  # "numeric" | "categorical"
    bins: tuple[Bin, ...]
    iv: float

    def bin_index(self, values: pd.Series) -> np.ndarray:
        """The index of each value's bin in ``bins``."""
        s = pd.Series(values).reset_index(drop=True)
        missing_idx = next(i for i, b in enumerate(self.bins) if b.is_missing)
        out = np.full(len(s), missing_idx, dtype=int)
        notna = s.notna().to_numpy()
        regular = [(i, b) for i, b in enumerate(self.bins) if not (b.is_missing or b.is_unseen)]
        if self.kind == "numeric":
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64")
            notna &= ~np.isnan(x)
            uppers = np.array([np.inf if b.upper is None else b.upper for _, b in regular])
            pos = np.searchsorted(uppers, x[notna], side="right")
            out[notna] = np.array([i for i, _ in regular])[np.minimum(pos, len(regular) - 1)]
        else:
            lookup = {c: i for i, b in regular for c in (b.categories or ())}
            unseen_idx = next(i for i, b in enumerate(self.bins) if b.is_unseen)
            vals = s.astype("object").to_numpy()
            out[notna] = [lookup.get(str(v), unseen_idx) for v in vals[notna]]
        return out

    def woe(self, values: pd.Series) -> np.ndarray:
        woes = np.array([b.woe for b in self.bins])
        return woes[self.bin_index(values)]


def woe_value(good: float, bad: float, total_good: float, total_bad: float, smoothing: float, n_bins: int) -> float:
    """ln(share of goods / share of bads), counts smoothed by ``smoothing`` (``n_bins`` bins in all)."""
    g = (good + smoothing) / (total_good + smoothing * n_bins)
    b = (bad + smoothing) / (total_bad + smoothing * n_bins)
    return float(math.log(g / b))


class _Group(NamedTuple):
    lo: int  # first pre-bin (inclusive)
    hi: int  # last pre-bin (inclusive)
    n: int
    bad: int

    @property
    def rate(self) -> float:
        return self.bad / self.n if self.n else 0.0


def _merge(groups: list[_Group], i: int) -> list[_Group]:
    a, b = groups[i], groups[i + 1]
    return [*groups[:i], _Group(a.lo, b.hi, a.n + b.n, a.bad + b.bad), *groups[i + 2:]]


def _merge_small(groups: list[_Group], min_count: float) -> list[_Group]:
    """Merge bins below ``min_count`` rows or without goods or bads into the closer-risk neighbour."""
    while len(groups) > 1:
        bad_bins = [i for i, g in enumerate(groups) if g.n < min_count or g.bad == 0 or g.bad == g.n]
        if not bad_bins:
            break
        i = min(bad_bins, key=lambda j: groups[j].n)
        if i == 0:
            j = 0
        elif i == len(groups) - 1:
            j = i - 1
        else:
            left = abs(groups[i].rate - groups[i - 1].rate)
            right = abs(groups[i].rate - groups[i + 1].rate)
            j = i - 1 if left <= right else i
        groups = _merge(groups, j)
    return groups


def _merge_monotonic(groups: list[_Group], direction: int) -> list[_Group]:
    """Pool adjacent violators until the bad rate moves in ``direction`` (+1 rising, -1 falling)."""
    while True:
        for i in range(len(groups) - 1):
            if (groups[i + 1].rate - groups[i].rate) * direction < 0:
                groups = _merge(groups, i)
                break
        else:
            return groups


def _merge_to_max(groups: list[_Group], max_bins: int) -> list[_Group]:
    while len(groups) > max_bins:
        i = min(range(len(groups) - 1), key=lambda j: abs(groups[j + 1].rate - groups[j].rate))
        groups = _merge(groups, i)
    return groups


def _iv(groups: Sequence[_Group], total_good: int, total_bad: int, smoothing: float) -> float:
    k = len(groups)
    iv = 0.0
    for g in groups:
        woe = woe_value(g.n - g.bad, g.bad, total_good, total_bad, smoothing, k)
        iv += ((g.n - g.bad) / total_good - g.bad / total_bad) * woe
    return iv


def _fmt(v: float) -> str:
    return f"{v:g}"


def bin_feature(
    values: pd.Series, y_bad: np.ndarray, feature: str, params: ScorecardParams = ScorecardParams()
) -> FeatureBinning:
    """Monotonic WoE binning of one feature (rules in the module docstring). ``y_bad`` is 1 for a bad."""
    s = pd.Series(values).reset_index(drop=True)
    y = np.asarray(y_bad, dtype=int)
    total_bad = int(y.sum())
    total_good = int(len(y) - total_bad)
    if total_bad == 0 or total_good == 0:
        raise ValueError(f"{feature}: the training rows need both goods and bads")
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    notna = s.notna().to_numpy()
    min_count = params.min_bin_share * len(s)

    if numeric:
        x = s.to_numpy(dtype="float64")
        notna &= ~np.isnan(x)
        xv, yv = x[notna], y[notna]
        qs = np.quantile(xv, np.linspace(0, 1, params.max_prebins + 1)[1:-1]) if len(xv) else np.array([])
        edges = np.unique(qs)
        edges = edges[edges > xv.min()] if len(xv) else edges  # no empty first bin
        idx = np.searchsorted(edges, xv, side="right")
        pre = [_Group(i, i, int((idx == i).sum()), int(yv[idx == i].sum())) for i in range(len(edges) + 1)]
        pre = [g for g in pre if g.n > 0]
        # re-index the non-empty pre-bins: group i spans edges[lo-1] .. edges[hi]
        base = _merge_small(pre, min_count)
        best, best_iv = base, -1.0
        for direction in (1, -1):
            cand = _merge_to_max(_merge_monotonic(base, direction), params.max_bins)
            iv = _iv(cand, total_good, total_bad, params.smoothing)
            if iv > best_iv:
                best, best_iv = cand, iv
        regular = []
        for g in best:
            lower = None if g is best[0] else float(edges[g.lo - 1])
            upper = None if g is best[-1] else float(edges[g.hi])
            label = (
                f"< {_fmt(upper)}" if lower is None and upper is not None
                else f">= {_fmt(lower)}" if upper is None and lower is not None
                else "all" if lower is None else f"[{_fmt(lower)}, {_fmt(upper)})"
            )
            regular.append(dict(label=label, lower=lower, upper=upper, count=g.n, bad=g.bad))
    else:
        cats = s[notna].astype(str).to_numpy()
        yv = y[notna]
        frame = pd.DataFrame({"c": cats, "y": yv}).groupby("c")["y"].agg(["size", "sum"])
        frame["rate"] = (frame["sum"] + params.smoothing) / (frame["size"] + 2 * params.smoothing)
        frame = frame.sort_values(["rate", "size"], kind="mergesort")
        names = list(frame.index)
        pre = [_Group(i, i, int(r["size"]), int(r["sum"])) for i, (_, r) in enumerate(frame.iterrows())]
        groups = _merge_to_max(_merge_small(pre, min_count), params.max_bins) if pre else []
        regular = []
        for g in groups:
            members = tuple(names[g.lo:g.hi + 1])
            regular.append(dict(label=", ".join(members), categories=members, count=g.n, bad=g.bad))

    n_missing = int((~notna).sum())
    bad_missing = int(y[~notna].sum())
    k = len(regular) + (1 if n_missing else 0)

    def woe(good: int, bad: int) -> float:
        return woe_value(good, bad, total_good, total_bad, params.smoothing, k)

    bins = [Bin(**r, woe=woe(r["count"] - r["bad"], r["bad"])) for r in regular]
    bins.append(
        Bin(MISSING_BIN, is_missing=True, count=n_missing, bad=bad_missing,
            woe=woe(n_missing - bad_missing, bad_missing) if n_missing else 0.0)
    )
    if not numeric:
        bins.append(Bin(UNSEEN_BIN, is_unseen=True))
    iv = sum(((b.count - b.bad) / total_good - b.bad / total_bad) * b.woe for b in bins if b.count)
    return FeatureBinning(feature, "numeric" if numeric else "categorical", tuple(bins), float(iv))


# ---------------------------------------------------------------------------------------------- drafts
@dataclass(frozen=True)
class ScorecardDraft:
    """A fitted scorecard (a draft until a person activates it in the store)."""

    params: ScorecardParams
    label: str
    features: tuple[str, ...]  # the features in the model, in order
    binnings: Mapping[str, FeatureBinning]
    intercept: float  # of ln(odds good:bad)
    coefficients: Mapping[str, float]
    auc: float
    auc_on: str  # "train" or "valid"
    n_samples: int
    default_rate: float
    iv: Mapping[str, float] = field(default_factory=dict)  # every candidate feature's IV
    dropped: Mapping[str, str] = field(default_factory=dict)  # feature -> why it is not in the model

    def woe_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({f: self.binnings[f].woe(df[f]) for f in self.features}, index=df.index)

    def log_odds(self, df: pd.DataFrame) -> pd.Series:
        """ln(odds good:bad) from the logistic regression."""
        w = self.woe_frame(df)
        coef = np.array([self.coefficients[f] for f in self.features])
        return pd.Series(self.intercept + w.to_numpy() @ coef, index=df.index)

    def probability_bad(self, df: pd.DataFrame) -> pd.Series:
        return 1.0 / (1.0 + np.exp(self.log_odds(df)))

    def _bin_points(self, feature: str) -> np.ndarray:
        p = self.params
        share = (p.offset + p.factor * self.intercept) / len(self.features)
        woes = np.array([b.woe for b in self.binnings[feature].bins])
        return p.factor * self.coefficients[feature] * woes + share

    def points_table(self) -> pd.DataFrame:
        """feature, bin, woe, coefficient, points (plus the bin definition and its training counts)."""
        rows = []
        for f in self.features:
            fb = self.binnings[f]
            for i, (b, pts) in enumerate(zip(fb.bins, self._bin_points(f), strict=True)):
                rows.append({
                    "feature": f, "bin_index": i, "bin": b.label, "kind": fb.kind,
                    "lower": b.lower, "upper": b.upper,
                    "categories": json.dumps(list(b.categories)) if b.categories is not None else None,
                    "is_missing": b.is_missing, "is_unseen": b.is_unseen,
                    "count": b.count, "bad": b.bad, "woe": b.woe,
                    "coefficient": float(self.coefficients[f]),
                    "points": float(round(pts)) if self.params.round_points else float(pts),
                })
        return pd.DataFrame(rows)

    def score(self, df: pd.DataFrame) -> pd.Series:
        """Total points per row (the sum of its bins' points)."""
        total = np.zeros(len(df))
        for f in self.features:
            pts = self._bin_points(f)
            if self.params.round_points:
                pts = np.round(pts)
            total += pts[self.binnings[f].bin_index(df[f])]
        return pd.Series(total, index=df.index, name="score")

    def fingerprint(self) -> str:
        """A hash of what scores: parameters, features, bins, coefficients."""
        payload = {
            "params": asdict(self.params),
            "intercept": round(self.intercept, 12),
            "points": self.points_table().round(12).to_dict(orient="records"),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        return {
            "label": self.label, "features": list(self.features), "intercept": self.intercept,
            "coefficients": dict(self.coefficients), "auc": self.auc, "auc_on": self.auc_on,
            "n_samples": self.n_samples, "default_rate": self.default_rate, "iv": dict(self.iv),
            "dropped": dict(self.dropped), "params": asdict(self.params),
        }


def _bad_flag(series: pd.Series, bad_value: Any) -> np.ndarray:
    if bad_value is None:
        return series.astype(int).to_numpy()
    return (series == bad_value).astype(int).to_numpy()


def build_draft(
    train_df: pd.DataFrame,
    label: str,
    features: Sequence[str],
    params: ScorecardParams = ScorecardParams(),
    *,
    bad_value: Any = 1,
    valid_df: pd.DataFrame | None = None,
) -> ScorecardDraft:
    """Bin, select (IV >= ``min_iv``) and fit a scorecard on ``train_df``.

    ``label`` is the outcome column; a row is *bad* (default) where it equals ``bad_value`` (e.g. 1 or
    ``"bad"``). The AUC is measured on ``valid_df`` when given, else in-sample on ``train_df``
    (``auc_on`` says which).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    missing = [c for c in [label, *features] if c not in train_df.columns]
    if missing:
        raise KeyError(f"build_draft: column(s) {missing} not in the training frame")
    y_bad = _bad_flag(train_df[label], bad_value)
    binnings, iv, dropped = {}, {}, {}
    for f in features:
        fb = bin_feature(train_df[f], y_bad, f, params)
        iv[f] = fb.iv
        if fb.iv < params.min_iv:
            dropped[f] = f"information value {fb.iv:.4f} below {params.min_iv:g}"
        else:
            binnings[f] = fb
    selected = [f for f in features if f in binnings]
    if not selected:
        raise ValueError(f"build_draft: no feature reaches information value {params.min_iv:g}")
    woe = pd.DataFrame({f: binnings[f].woe(train_df[f]) for f in selected})
    lr = LogisticRegression(C=params.C, max_iter=1000)
    lr.fit(woe.to_numpy(), 1 - y_bad)  # model ln(odds good:bad)
    draft = ScorecardDraft(
        params=params, label=label, features=tuple(selected), binnings=binnings,
        intercept=float(lr.intercept_[0]),
        coefficients={f: float(c) for f, c in zip(selected, lr.coef_[0], strict=True)},
        auc=float("nan"), auc_on="train", n_samples=int(len(train_df)),
        default_rate=float(y_bad.mean()), iv=iv, dropped=dropped,
    )
    eval_df, on = (valid_df, "valid") if valid_df is not None else (train_df, "train")
    y_eval = _bad_flag(eval_df[label], bad_value)
    auc = float(roc_auc_score(y_eval, -draft.score(eval_df))) if len(np.unique(y_eval)) == 2 else float("nan")
    return replace(draft, auc=auc, auc_on=on)


# ------------------------------------------------------------------------------------ compare and check
@dataclass(frozen=True)
class ScorecardComparison:
    draft_fingerprint: str
    active_fingerprint: str
    n_rows: int
    weight_change: Mapping[str, float]  # relative coefficient change; 1.0 for a feature in one only
    max_weight_change: float
    features_added: tuple[str, ...]
    features_removed: tuple[str, ...]
    score_correlation: float  # Pearson, draft vs active, same rows
    band_psi: float  # PSI of the draft's vs the active's score bands (active deciles)
    same_band_share: float  # share of rows in the same band under both
    mean_score_shift: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["weight_change"] = dict(self.weight_change)
        d["features_added"] = list(self.features_added)
        d["features_removed"] = list(self.features_removed)
        return d


def relative_change(new: float, old: float) -> float:
    """|new - old| / |old| (1.0 when old is 0 and new is not)."""
    if old == 0:
        return 0.0 if new == 0 else 1.0
    return abs(new - old) / abs(old)


def psi(expected_share: np.ndarray, actual_share: np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index: sum((a - e) x ln(a / e)), shares floored at ``eps``."""
    e = np.maximum(np.asarray(expected_share, dtype="float64"), eps)
    a = np.maximum(np.asarray(actual_share, dtype="float64"), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def score_bands(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.searchsorted(edges, scores, side="right")


def compare(draft: ScorecardDraft, active: ScorecardDraft, df: pd.DataFrame) -> ScorecardComparison:
    """How far ``draft`` moves from ``active`` on the same rows ``df``."""
    d_feats, a_feats = set(draft.features), set(active.features)
    change = {
        f: relative_change(draft.coefficients[f], active.coefficients[f]) if f in d_feats & a_feats else 1.0
        for f in sorted(d_feats | a_feats)
    }
    s_draft = draft.score(df).to_numpy()
    s_active = active.score(df).to_numpy()
    if np.std(s_draft) == 0 or np.std(s_active) == 0:
        corr = 1.0 if np.allclose(s_draft, s_active) else 0.0
    else:
        corr = float(np.corrcoef(s_draft, s_active)[0, 1])
    n_bands = max(2, draft.params.n_bands)
    edges = np.unique(np.quantile(s_active, np.linspace(0, 1, n_bands + 1)[1:-1]))
    b_active, b_draft = score_bands(s_active, edges), score_bands(s_draft, edges)
    k = len(edges) + 1
    share_a = np.bincount(b_active, minlength=k) / len(df)
    share_d = np.bincount(b_draft, minlength=k) / len(df)
    return ScorecardComparison(
        draft_fingerprint=draft.fingerprint(),
        active_fingerprint=active.fingerprint(),
        n_rows=int(len(df)),
        weight_change=change,
        max_weight_change=max(change.values()) if change else 0.0,
        features_added=tuple(sorted(d_feats - a_feats)),
        features_removed=tuple(sorted(a_feats - d_feats)),
        score_correlation=corr,
        band_psi=psi(share_a, share_d),
        same_band_share=float(np.mean(b_active == b_draft)),
        mean_score_shift=float(np.mean(s_draft - s_active)),
    )


@dataclass(frozen=True)
class QualityThresholds:
    min_samples: int = 500
    default_rate_range: tuple[float, float] = (0.01, 0.5)
    auc_floor: float = 0.7
    max_weight_change: float = 0.5  # relative coefficient change vs the active scorecard
    min_correlation: float = 0.8  # Pearson of draft vs active scores
    max_band_psi: float = 0.25


class CheckResult(NamedTuple):
    check: str
    passed: bool
    value: Any
    threshold: Any


def quality_checks(
    draft: ScorecardDraft,
    comparison: ScorecardComparison | None,
    checks: QualityThresholds = QualityThresholds(),
) -> list[CheckResult]:
    """(check, passed, value, threshold) for each rule. Without an active scorecard (``comparison`` is
    None) the comparison checks pass with value None: there is nothing to move away from."""
    lo, hi = checks.default_rate_range
    out = [
        CheckResult("min_samples", draft.n_samples >= checks.min_samples, draft.n_samples, checks.min_samples),
        CheckResult("default_rate", lo <= draft.default_rate <= hi, draft.default_rate, [lo, hi]),
        CheckResult("auc_floor", bool(draft.auc >= checks.auc_floor), draft.auc, checks.auc_floor),
    ]
    if comparison is None:
        out += [
            CheckResult("max_weight_change", True, None, checks.max_weight_change),
            CheckResult("score_correlation", True, None, checks.min_correlation),
            CheckResult("band_psi", True, None, checks.max_band_psi),
        ]
    else:
        out += [
            CheckResult("max_weight_change", comparison.max_weight_change < checks.max_weight_change,
                        comparison.max_weight_change, checks.max_weight_change),
            CheckResult("score_correlation", comparison.score_correlation > checks.min_correlation,
                        comparison.score_correlation, checks.min_correlation),
            CheckResult("band_psi", comparison.band_psi <= checks.max_band_psi,
                        comparison.band_psi, checks.max_band_psi),
        ]
    return [CheckResult(c.check, bool(c.passed), _plain(c.value), c.threshold) for c in out]


def _plain(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


# ------------------------------------------------------------------------------------------- storage
class ScorecardStateError(ValueError):
    """A status change that the version's current status does not allow."""


def _versions_schema():
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    return pa.schema([
        ("scorecard_version", pa.int64()),
        ("use_case", pa.string()),
        ("status", pa.string()),
        ("created_for_ds", pa.date32()),
        ("created_at", ts),
        ("fingerprint", pa.string()),
        ("label", pa.string()),
        ("features", pa.string()),  # JSON list
        ("intercept", pa.float64()),
        ("auc", pa.float64()),
        ("auc_on", pa.string()),
        ("n_samples", pa.int64()),
        ("default_rate", pa.float64()),
        ("params", pa.string()),  # JSON of ScorecardParams
        ("model_metadata", pa.string()),  # JSON: run id, model version, training window, ...
        ("checks", pa.string()),  # JSON list of {check, passed, value, threshold}
        ("checks_passed", pa.bool_()),
        ("comparison", pa.string()),  # JSON or null (no active scorecard at draft time)
        ("compared_to_version", pa.int64()),
        ("approved_by", pa.string()),  # who decided (activated or rejected)
        ("decided_at", ts),
        ("decision_reason", pa.string()),
        ("retired_at", ts),
    ])


def _points_schema():
    import pyarrow as pa

    return pa.schema([
        ("scorecard_version", pa.int64()),
        ("feature", pa.string()),
        ("bin_index", pa.int32()),
        ("bin", pa.string()),
        ("kind", pa.string()),
        ("lower", pa.float64()),
        ("upper", pa.float64()),
        ("categories", pa.string()),
        ("is_missing", pa.bool_()),
        ("is_unseen", pa.bool_()),
        ("count", pa.int64()),
        ("bad", pa.int64()),
        ("woe", pa.float64()),
        ("coefficient", pa.float64()),
        ("points", pa.float64()),
    ])


def _utc(ts: dt.datetime | None) -> dt.datetime | None:
    if ts is None:
        return None
    return (ts if ts.tzinfo else ts.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def _to_date(ds: dt.date | str) -> dt.date:
    if isinstance(ds, dt.datetime):
        return ds.date()
    return ds if isinstance(ds, dt.date) else dt.date.fromisoformat(str(ds))


class ScorecardStore:
    """The versions and points Delta tables of one use case's scorecards under ``root``.

    Every status change is one Delta MERGE on the small ``versions`` table keyed by
    ``scorecard_version`` (atomic: activating a version and retiring the previous active one happen in
    the same commit). Calls are idempotent: saving the same draft for the same ``created_for_ds`` again
    returns the existing version; activating the active version or rejecting a rejected one again is a
    no-op. A draft's points are written (replacing that version's points) before its versions row, so a
    crash in between leaves no visible version and a rerun completes it. One writer per use case is
    expected (the training task of the use case's DAG); a concurrent ``save_draft`` that picked the same
    version number fails instead of overwriting the other's row.
    """

    def __init__(self, root: str, use_case: str):
        self.root = root.rstrip("/")
        self.use_case = use_case
        self.versions_path = f"{self.root}/versions"
        self.points_path = f"{self.root}/points"

    # -- reads
    def versions(self) -> pd.DataFrame:
        from deltalake import DeltaTable

        if not DeltaTable.is_deltatable(self.versions_path):
            return _versions_schema().empty_table().to_pandas()
        return DeltaTable(self.versions_path).to_pandas().sort_values("scorecard_version").reset_index(drop=True)

    def _row(self, version: int) -> dict[str, Any]:
        """One versions row as plain Python values (straight from Arrow: ints stay ints, nulls None)."""
        from deltalake import DeltaTable

        if DeltaTable.is_deltatable(self.versions_path):
            for row in DeltaTable(self.versions_path).to_pyarrow_table().to_pylist():
                if row["scorecard_version"] == int(version):
                    return row
        raise KeyError(f"scorecard {self.use_case}: no version {version} in {self.versions_path}")

    def status(self, version: int) -> str:
        return self._row(version)["status"]

    def active_version(self) -> int | None:
        v = self.versions()
        active = v[v["status"] == "active"]
        return int(active["scorecard_version"].max()) if not active.empty else None

    def points(self, version: int) -> pd.DataFrame:
        from deltalake import DeltaTable

        if not DeltaTable.is_deltatable(self.points_path):
            raise KeyError(f"scorecard {self.use_case}: no points table at {self.points_path}")
        t = DeltaTable(self.points_path).to_pandas(filters=[("scorecard_version", "=", int(version))])
        return t.sort_values(["feature", "bin_index"]).reset_index(drop=True)

    def load(self, version: int) -> ScorecardDraft:
        """Rebuild a stored version as a :class:`ScorecardDraft` (scores exactly like the original)."""
        row = self._row(version)
        pts = self.points(version)
        features = json.loads(row["features"])
        binnings, coefs = {}, {}
        for f in features:
            fp = pts[pts["feature"] == f].sort_values("bin_index")
            bins = tuple(
                Bin(
                    label=r["bin"], lower=_nan_none(r["lower"]), upper=_nan_none(r["upper"]),
                    categories=tuple(json.loads(r["categories"])) if r["categories"] is not None else None,
                    is_missing=bool(r["is_missing"]), is_unseen=bool(r["is_unseen"]),
                    count=int(r["count"]), bad=int(r["bad"]), woe=float(r["woe"]),
                )
                for _, r in fp.iterrows()
            )
            binnings[f] = FeatureBinning(f, fp["kind"].iloc[0], bins, float("nan"))
            coefs[f] = float(fp["coefficient"].iloc[0])
        return ScorecardDraft(
            params=ScorecardParams(**json.loads(row["params"])),
            label=row["label"], features=tuple(features), binnings=binnings,
            intercept=float(row["intercept"]), coefficients=coefs,
            auc=float(row["auc"]) if row["auc"] is not None else float("nan"), auc_on=row["auc_on"],
            n_samples=int(row["n_samples"]), default_rate=float(row["default_rate"]),
        )

    def load_active(self) -> ScorecardDraft | None:
        v = self.active_version()
        return None if v is None else self.load(v)

    # -- writes
    def save_draft(
        self,
        draft: ScorecardDraft,
        created_for_ds: dt.date | str,
        created_at: dt.datetime,
        *,
        checks: Sequence[CheckResult] | None = None,
        comparison: ScorecardComparison | None = None,
        compared_to_version: int | None = None,
        model_metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Store ``draft`` as a new version with status ``draft``; return its version number."""
        import pyarrow as pa
        from deltalake import DeltaTable, write_deltalake

        ds = _to_date(created_for_ds)
        fingerprint = draft.fingerprint()
        existing = self.versions()
        same = existing[(existing["fingerprint"] == fingerprint) & (pd.to_datetime(existing["created_for_ds"]).dt.date == ds)]
        if not same.empty:
            return int(same["scorecard_version"].iloc[0])
        version = int(existing["scorecard_version"].max()) + 1 if not existing.empty else 1

        pts = draft.points_table()
        pts.insert(0, "scorecard_version", version)
        pts = pts.astype({"bin_index": "int32", "count": "int64", "bad": "int64"})
        points_tbl = pa.Table.from_pandas(pts, schema=_points_schema(), preserve_index=False)
        if DeltaTable.is_deltatable(self.points_path):
            write_deltalake(self.points_path, points_tbl, mode="overwrite", predicate=f"scorecard_version = {version}")
        else:
            write_deltalake(self.points_path, points_tbl, mode="error")

        checks = list(checks or [])
        row = {
            "scorecard_version": version, "use_case": self.use_case, "status": "draft",
            "created_for_ds": ds, "created_at": _utc(created_at), "fingerprint": fingerprint,
            "label": draft.label, "features": json.dumps(list(draft.features)),
            "intercept": draft.intercept, "auc": _plain(draft.auc), "auc_on": draft.auc_on,
            "n_samples": draft.n_samples, "default_rate": draft.default_rate,
            "params": json.dumps(asdict(draft.params)),
            "model_metadata": json.dumps(dict(model_metadata or {}), default=str, sort_keys=True),
            "checks": json.dumps([c._asdict() for c in checks], default=str),
            "checks_passed": bool(checks) and all(c.passed for c in checks),  # no checks run: not passed
            "comparison": json.dumps(comparison.to_dict()) if comparison is not None else None,
            "compared_to_version": compared_to_version,
            "approved_by": None, "decided_at": None, "decision_reason": None, "retired_at": None,
        }
        self._merge([row], insert=True)
        stored = self._row(version)
        if stored["fingerprint"] != fingerprint:
            raise ScorecardStateError(
                f"scorecard {self.use_case}: version {version} was taken by a concurrent save_draft; retry"
            )
        return version

    def activate(self, version: int, approver: str, decided_at: dt.datetime, *, allow_failed_checks: bool = False) -> None:
        """Make ``version`` the active scorecard; the previous active one becomes ``retired`` (one commit).

        Only a draft can be activated, and only when its quality checks passed (a draft saved without
        checks has not passed) unless ``allow_failed_checks`` (the approver overrides them; recorded in
        ``decision_reason``).
        """
        row = self._row(version)
        if row["status"] == "active":
            return
        if row["status"] != "draft":
            raise ScorecardStateError(f"scorecard {self.use_case} v{version} is {row['status']}; only a draft can be activated")
        if not row["checks_passed"] and not allow_failed_checks:
            raise ScorecardStateError(f"scorecard {self.use_case} v{version} failed its quality checks: {row['checks']}")
        when = _utc(decided_at)
        rows = [row | {"status": "active", "approved_by": approver, "decided_at": when,
                       "decision_reason": "activated despite failed checks" if not row["checks_passed"] else None}]
        previous = self.active_version()
        if previous is not None:
            rows.append(self._row(previous) | {"status": "retired", "retired_at": when})
        self._merge(rows, insert=False)

    def reject(self, version: int, approver: str, reason: str, decided_at: dt.datetime) -> None:
        """Mark a draft ``rejected`` (kept in both tables, with who, when and why)."""
        row = self._row(version)
        if row["status"] == "rejected":
            return
        if row["status"] != "draft":
            raise ScorecardStateError(f"scorecard {self.use_case} v{version} is {row['status']}; only a draft can be rejected")
        self._merge([row | {"status": "rejected", "approved_by": approver, "decided_at": _utc(decided_at),
                            "decision_reason": reason}], insert=False)

    def _merge(self, rows: list[dict[str, Any]], insert: bool) -> None:
        import pyarrow as pa
        from deltalake import DeltaTable, write_deltalake

        tbl = pa.Table.from_pylist(rows, schema=_versions_schema())
        if not DeltaTable.is_deltatable(self.versions_path):
            if not insert:
                raise KeyError(f"no versions table at {self.versions_path}")
            write_deltalake(self.versions_path, tbl, mode="error")
            return
        merger = DeltaTable(self.versions_path).merge(
            tbl, predicate="t.scorecard_version = s.scorecard_version", source_alias="s", target_alias="t"
        )
        # a new version only inserts (never overwrites a row another writer committed); a status change
        # only updates existing rows
        (merger.when_not_matched_insert_all() if insert else merger.when_matched_update_all()).execute()


def _nan_none(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
