"""Governance report for a trained XGBoost model: explainability, fairness, robustness, privacy.

One call, :func:`build_governance_report`, turns a fitted model and its evaluation frame into a
:class:`GovernanceReport`, which renders as a JSON-ready dict (:meth:`GovernanceReport.to_json`), a
single-file HTML page (:meth:`GovernanceReport.to_html`) and a model card (Markdown and HTML), and is
appended to a Delta governance table, one row per model version (:func:`append_governance_record`).

What is measured (every figure is computed on the frame passed in, normally the holdout):

* **explainability** — global SHAP importance: mean |contribution| per feature from XGBoost's own
  TreeSHAP (``Booster.predict(DMatrix(X, enable_categorical=True), pred_contribs=True)``; the last
  column, the bias / expected value, is excluded). Contributions are in log-odds (margin) units, so
  for every row the contributions plus the bias sum to the model's margin. Concentration = share of
  the total importance held by the top 3 / top 5 features.
* **fairness** — :mod:`jobs.lib.fairness` per protected attribute (numeric ones bucketed), with its
  convention: for a risk model a predicted positive (score >= cutoff) is *flagged as risky*, the
  adverse outcome, and the 80% rule is applied to the favourable outcome (not being flagged).
* **robustness** — (1) stratified k-fold (default 3) refits with the model's own parameters on the
  frame passed in: the spread (max - min) of the fold AUCs says how much the result depends on the
  sample; (2) AUC under perturbation: gaussian noise with a standard deviation of 5% of each numeric
  feature's own standard deviation (seeded), scored with the fitted model; the AUC drop is reported.
* **privacy** — no PII column, a hash of one (``customer_id_hash``), or an identifier-like name
  (``*_hash``, ``customer_id``, ...) among the features; data minimisation (features used vs
  columns available); protected attributes used as features (must be none).

**Overall score** (0-100) = 100 x (0.20 explainability + 0.35 fairness + 0.20 robustness + 0.25
privacy), each part in [0, 1] (weights in :class:`GovernanceThresholds`):

* explainability = 1 when the top-3 share is at most ``concentration_top3_max`` (0.6), falling
  linearly to 0 at a share of 1;
* fairness = share of the judged checks passed (disparate impact and equal opportunity per attribute;
  1 when nothing could be judged);
* robustness = mean of the CV part (1 when the fold AUC spread is at most ``max_cv_auc_spread``, 0
  at twice that) and the perturbation part (likewise with ``max_auc_drop``);
* privacy = 0 when a PII feature is found, else 1 minus 0.5 when a protected attribute is a feature.

**Trust level**: ``low`` when PII is among the features or the score is below 60; ``high`` when the
score is at least 80, every fairness check passes and no protected attribute is a feature;
``medium`` otherwise. Recommendations name the concrete finding behind every lost point.
"""
from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.lib.fairness import AttributeFairness, FairnessThresholds, convention_text, fairness_by_attribute

TEMPLATES = Path(__file__).with_name("templates")

# Name patterns of columns that identify a person or are derived from an identifier.
IDENTIFIER_PATTERNS: tuple[str, ...] = (
    r"(^|_)(hash|hashed|sha1|sha256|sha512|md5|digest)(_|$)",
    r"^(customer|client|account|user|person|applicant|borrower|lead|application|contract)_?(id|no|number|key)$",
    r"(^|_)(ssn|social_security_number|national_id|passport(_no|_number)?|iban|email|e_mail|phone_number|"
    r"mobile_number|full_name|first_name|last_name|surname|date_of_birth|birth_date|address|ip_address)$",
)
HASH_AFFIXES: tuple[str, ...] = ("_hash", "_hashed", "_sha1", "_sha256", "_md5", "_digest", "_token", "_pseudonym")


@dataclass(frozen=True)
class GovernanceThresholds:
    """Limits and weights of the governance report (documented in the module docstring)."""

    fairness: FairnessThresholds = FairnessThresholds()
    concentration_top3_max: float = 0.6  # top-3 features above this share of |SHAP|: review concentration
    cv_folds: int = 3
    max_cv_auc_spread: float = 0.05  # max - min fold AUC
    noise_share: float = 0.05  # perturbation noise sd = this share of each numeric feature's sd
    max_auc_drop: float = 0.02  # AUC drop under that noise
    seed: int = 42
    weight_explainability: float = 0.20
    weight_fairness: float = 0.35
    weight_robustness: float = 0.20
    weight_privacy: float = 0.25
    high_trust_min_score: float = 80.0
    medium_trust_min_score: float = 60.0


@dataclass(frozen=True)
class ModelMetadata:
    """What the report and the model card say about the model (all passed in: no clock is read)."""

    use_case: str
    model_name: str
    model_version: str
    run_id: str | None = None
    created_at: dt.datetime | None = None
    intended_use: str = ""
    training_window: str = ""  # e.g. "2026-01-01 to 2026-01-07 (label arrival dates)"
    positive_class: str = "positive"  # what a predicted positive is, e.g. "bad (default)"
    positive_is_favourable: bool = False  # True for propensity models (selected = favourable)
    limitations: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------- explainability
@dataclass(frozen=True)
class Explainability:
    importance: tuple[tuple[str, float], ...]  # (feature, mean |contribution|), largest first
    total: float
    top3_share: float
    top5_share: float
    mean_bias: float  # the bias column (expected margin), excluded from the importance
    n_rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "XGBoost TreeSHAP (pred_contribs=True), mean |contribution| in log-odds units",
            "importance": [{"feature": f, "mean_abs_shap": v, "share": _share(v, self.total)} for f, v in self.importance],
            "total": self.total,
            "top3_share": self.top3_share,
            "top5_share": self.top5_share,
            "mean_bias": self.mean_bias,
            "n_rows": self.n_rows,
        }


def _share(v: float, total: float) -> float:
    return float(v / total) if total > 0 else 0.0


def _booster(model: Any):
    import xgboost as xgb

    if isinstance(model, xgb.Booster):
        return model
    if hasattr(model, "get_booster"):
        return model.get_booster()
    raise TypeError(f"expected an xgboost Booster or XGBClassifier, got {type(model).__name__}")


def _iteration_range(model: Any) -> tuple[int, int]:
    best = getattr(model, "best_iteration", None)
    try:
        return (0, int(best) + 1) if best is not None else (0, 0)
    except (AttributeError, TypeError, ValueError):
        return (0, 0)


def shap_contributions(model: Any, X: pd.DataFrame) -> np.ndarray:
    """Per-row SHAP contributions from XGBoost (``n_rows x (n_features + 1)``, last column = bias)."""
    import xgboost as xgb

    booster = _booster(model)
    dm = xgb.DMatrix(X, enable_categorical=True)
    return np.asarray(booster.predict(dm, pred_contribs=True, iteration_range=_iteration_range(model)))


def shap_importance(model: Any, X: pd.DataFrame) -> Explainability:
    """Global importance: mean |contribution| per feature, sorted, bias excluded; top-3/5 shares."""
    contribs = shap_contributions(model, X)
    names = list(X.columns)
    if contribs.shape[1] != len(names) + 1:
        raise ValueError(f"pred_contribs gave {contribs.shape[1]} columns for {len(names)} features (+1 bias)")
    mean_abs = np.abs(contribs[:, :-1]).mean(axis=0)
    order = sorted(zip(names, (float(v) for v in mean_abs), strict=True), key=lambda kv: (-kv[1], kv[0]))
    total = float(mean_abs.sum())
    values = [v for _, v in order]
    return Explainability(
        importance=tuple(order),
        total=total,
        top3_share=_share(sum(values[:3]), total),
        top5_share=_share(sum(values[:5]), total),
        mean_bias=float(contribs[:, -1].mean()),
        n_rows=int(contribs.shape[0]),
    )


# ------------------------------------------------------------------------------------------ robustness
@dataclass(frozen=True)
class Robustness:
    folds: int
    fold_aucs: tuple[float, ...]  # empty when CV was not run
    cv_auc_mean: float | None
    cv_auc_std: float | None
    cv_auc_spread: float | None  # max - min fold AUC
    cv_note: str
    base_auc: float  # the fitted model on the frame as given
    perturbed_auc: float
    auc_drop: float  # base - perturbed (positive = worse under noise)
    noise_share: float
    perturbed_columns: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"fold_aucs": list(self.fold_aucs), "perturbed_columns": list(self.perturbed_columns)}


def predict_proba(model: Any, X: pd.DataFrame) -> np.ndarray:
    """P(positive) from an XGBClassifier or a binary:logistic Booster."""
    import xgboost as xgb

    if isinstance(model, xgb.Booster):
        dm = xgb.DMatrix(X, enable_categorical=True)
        return np.asarray(model.predict(dm, iteration_range=_iteration_range(model)))
    return np.asarray(model.predict_proba(X))[:, 1]


def _numeric_columns(X: pd.DataFrame) -> list[str]:
    return [
        c for c in X.columns if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])
    ]


def perturb_numeric(X: pd.DataFrame, noise_share: float, seed: int) -> pd.DataFrame:
    """``X`` with gaussian noise (sd = ``noise_share`` x the column's sd) added to every numeric column."""
    rng = np.random.default_rng(seed)
    out = X.copy()
    for col in _numeric_columns(X):
        values = X[col].astype("float64")
        sd = float(values.std(ddof=0))
        if not np.isfinite(sd) or sd == 0:
            continue
        out[col] = values + rng.normal(0.0, noise_share * sd, size=len(values))
    return out


def cv_fold_aucs(
    model: Any,
    X: pd.DataFrame,
    y: Sequence[int] | np.ndarray,
    folds: int = 3,
    seed: int = 42,
    train_params: Mapping[str, Any] | None = None,
) -> tuple[list[float], str]:
    """AUC of each stratified fold, refitting with the model's own parameters.

    An ``XGBClassifier`` is cloned with ``get_params()`` (early stopping and callbacks removed: the folds
    have no eval set; the best iteration, if any, becomes ``n_estimators``; refits run single-threaded,
    which on an evaluation frame of a few thousand rows is faster than contending threads). A bare ``Booster`` needs ``train_params`` (``xgb.train`` params, plus an optional
    ``num_boost_round``); without them CV is skipped and the note says so.
    """
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y, dtype=int)
    if np.bincount(y, minlength=2).min() < folds:
        return [], f"skipped: fewer than {folds} rows of a class"
    if isinstance(model, xgb.Booster):
        if train_params is None:
            return [], "skipped: a bare Booster was given without train_params"
        params = dict(train_params)
        rounds = int(params.pop("num_boost_round", model.num_boosted_rounds()))
        params.setdefault("nthread", 1)

        def fit_predict(Xt, yt, Xv):
            b = xgb.train(params, xgb.DMatrix(Xt, label=yt, enable_categorical=True), num_boost_round=rounds)
            return b.predict(xgb.DMatrix(Xv, enable_categorical=True))
    else:
        params = {**model.get_params(), **(train_params or {})}
        params.pop("early_stopping_rounds", None)
        params.pop("callbacks", None)
        params["n_jobs"] = 1  # small frames: one thread is faster than two contending ones
        best = getattr(model, "best_iteration", None)
        if best is not None:
            params["n_estimators"] = int(best) + 1

        def fit_predict(Xt, yt, Xv):
            return type(model)(**params).fit(Xt, yt).predict_proba(Xv)[:, 1]

    aucs = []
    for train_idx, test_idx in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(X, y):
        proba = fit_predict(X.iloc[train_idx], y[train_idx], X.iloc[test_idx])
        aucs.append(float(roc_auc_score(y[test_idx], proba)))
    return aucs, f"stratified {folds}-fold, refit with the model's parameters"


def robustness_check(
    model: Any,
    X: pd.DataFrame,
    y: Sequence[int] | np.ndarray,
    thresholds: GovernanceThresholds = GovernanceThresholds(),
    train_params: Mapping[str, Any] | None = None,
) -> Robustness:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=int)
    aucs, note = cv_fold_aucs(model, X, y, thresholds.cv_folds, thresholds.seed, train_params)
    base = float(roc_auc_score(y, predict_proba(model, X)))
    noisy = perturb_numeric(X, thresholds.noise_share, thresholds.seed)
    perturbed = float(roc_auc_score(y, predict_proba(model, noisy)))
    return Robustness(
        folds=thresholds.cv_folds,
        fold_aucs=tuple(aucs),
        cv_auc_mean=float(np.mean(aucs)) if aucs else None,
        cv_auc_std=float(np.std(aucs)) if aucs else None,
        cv_auc_spread=float(max(aucs) - min(aucs)) if aucs else None,
        cv_note=note,
        base_auc=base,
        perturbed_auc=perturbed,
        auc_drop=base - perturbed,
        noise_share=thresholds.noise_share,
        perturbed_columns=tuple(_numeric_columns(X)),
    )


# --------------------------------------------------------------------------------------------- privacy
@dataclass(frozen=True)
class PrivacyCheck:
    pii_features: tuple[str, ...]  # features that are PII, a hash of PII, or identifier-like
    findings: tuple[str, ...]  # one reason per flagged feature
    protected_used: tuple[str, ...]  # protected attributes among the features (must be none)
    n_features_used: int
    n_columns_available: int
    share_used: float
    unused_columns: tuple[str, ...]

    @property
    def pii_ok(self) -> bool:
        return not self.pii_features

    @property
    def ok(self) -> bool:
        return self.pii_ok and not self.protected_used

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()} | {
            "pii_ok": self.pii_ok,
            "ok": self.ok,
        }


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def pii_reason(feature: str, pii_columns: Sequence[str]) -> str | None:
    """Why ``feature`` counts as PII (itself, a hash of a PII column, an identifier pattern), else None."""
    f = _norm(feature)
    for pii in (_norm(p) for p in pii_columns):
        if f == pii:
            return f"{feature} is the PII column {pii}"
        if any(f in (pii + a, a.lstrip("_") + "_" + pii) for a in HASH_AFFIXES) or (pii in f and "hash" in f):
            return f"{feature} is derived from (a hash of) the PII column {pii}"
    for pattern in IDENTIFIER_PATTERNS:
        if re.search(pattern, f):
            return f"{feature} looks like an identifier or a hash (name matches {pattern!r})"
    return None


def privacy_check(
    features_used: Sequence[str],
    available_columns: Sequence[str],
    pii_columns: Sequence[str],
    protected_attributes: Sequence[str],
) -> PrivacyCheck:
    """PII and identifiers among the features, data minimisation, protected attributes as features."""
    findings = [(f, r) for f in features_used if (r := pii_reason(f, pii_columns)) is not None]
    protected = {_norm(p) for p in protected_attributes}
    used = list(dict.fromkeys(features_used))
    available = list(dict.fromkeys([*available_columns, *used]))
    return PrivacyCheck(
        pii_features=tuple(f for f, _ in findings),
        findings=tuple(r for _, r in findings),
        protected_used=tuple(f for f in used if _norm(f) in protected),
        n_features_used=len(used),
        n_columns_available=len(available),
        share_used=len(used) / len(available) if available else 0.0,
        unused_columns=tuple(c for c in available if c not in set(used)),
    )


# ---------------------------------------------------------------------------------------------- report
@dataclass(frozen=True)
class GovernanceReport:
    metadata: ModelMetadata
    cutoff: float
    n_rows: int
    metrics: Mapping[str, float]
    explainability: Explainability
    fairness: Mapping[str, AttributeFairness]
    robustness: Robustness
    privacy: PrivacyCheck
    component_scores: Mapping[str, float]
    overall_score: float
    trust_level: str
    recommendations: tuple[str, ...]
    thresholds: GovernanceThresholds = field(default_factory=GovernanceThresholds)

    @property
    def fairness_ok(self) -> bool:
        return all(a.ok for a in self.fairness.values())

    def to_json(self) -> dict[str, Any]:
        """The whole report as a JSON-serialisable dict (NaN becomes None, datetimes ISO 8601)."""
        md = asdict(self.metadata)
        md["created_at"] = self.metadata.created_at.isoformat() if self.metadata.created_at else None
        md["limitations"] = list(self.metadata.limitations)
        out = {
            "model": md,
            "cutoff": self.cutoff,
            "n_rows": self.n_rows,
            "metrics": dict(self.metrics),
            "overall_score": self.overall_score,
            "trust_level": self.trust_level,
            "component_scores": dict(self.component_scores),
            "recommendations": list(self.recommendations),
            "explainability": self.explainability.to_dict(),
            "fairness": {
                "convention": convention_text(self.metadata.positive_is_favourable),
                "ok": self.fairness_ok,
                "attributes": {k: v.to_dict() for k, v in self.fairness.items()},
            },
            "robustness": self.robustness.to_dict(),
            "privacy": self.privacy.to_dict(),
            "thresholds": asdict(self.thresholds),
        }
        return _jsonable(out)

    def to_json_string(self, indent: int | None = None) -> str:
        return json.dumps(self.to_json(), indent=indent, sort_keys=False, allow_nan=False)

    def to_html(self) -> str:
        """A readable single-file HTML page (inline CSS, tables, no external resources)."""
        return _env(html_mode=True).get_template("governance_report.html.j2").render(r=self.to_json())

    def model_card_markdown(self) -> str:
        return _env(html_mode=False).get_template("model_card.md.j2").render(r=self.to_json())

    def model_card_html(self) -> str:
        return _env(html_mode=True).get_template("model_card.html.j2").render(r=self.to_json())


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, (dt.datetime, dt.date)):
        return obj.isoformat()
    return obj


def _env(html_mode: bool):
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=html_mode,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = lambda v, d=1: "n/a" if v is None else f"{100 * v:.{d}f}%"
    env.filters["num"] = lambda v, d=3: "n/a" if v is None else f"{v:.{d}f}"
    env.filters["yesno"] = lambda v: "n/a" if v is None else ("pass" if v else "FAIL")
    env.filters["esc"] = html.escape
    return env


def _linear_score(value: float | None, limit: float) -> float | None:
    """1 up to ``limit``, falling linearly to 0 at twice the limit; None when not measured."""
    if value is None:
        return None
    if value <= limit:
        return 1.0
    return max(0.0, 1.0 - (value - limit) / limit) if limit > 0 else 0.0


def score_components(
    explainability: Explainability,
    fairness: Mapping[str, AttributeFairness],
    robustness: Robustness,
    privacy: PrivacyCheck,
    t: GovernanceThresholds,
) -> dict[str, float]:
    """Each part in [0, 1] (rules in the module docstring)."""
    cmax = t.concentration_top3_max
    expl = 1.0 if explainability.top3_share <= cmax else max(0.0, 1 - (explainability.top3_share - cmax) / (1 - cmax))
    checks = [c for a in fairness.values() for c in (a.disparate_impact_ok, a.equal_opportunity_ok) if c is not None]
    fair = sum(checks) / len(checks) if checks else 1.0
    parts = [s for s in (_linear_score(robustness.cv_auc_spread, t.max_cv_auc_spread),
                         _linear_score(max(robustness.auc_drop, 0.0), t.max_auc_drop)) if s is not None]
    robust = float(np.mean(parts))
    priv = 0.0 if not privacy.pii_ok else (0.5 if privacy.protected_used else 1.0)
    return {"explainability": expl, "fairness": fair, "robustness": robust, "privacy": priv}


def overall_score(components: Mapping[str, float], t: GovernanceThresholds) -> float:
    weights = {
        "explainability": t.weight_explainability,
        "fairness": t.weight_fairness,
        "robustness": t.weight_robustness,
        "privacy": t.weight_privacy,
    }
    return round(100.0 * sum(weights[k] * components[k] for k in weights) / sum(weights.values()), 2)


def trust_level(score: float, fairness_ok: bool, privacy: PrivacyCheck, t: GovernanceThresholds) -> str:
    if not privacy.pii_ok or score < t.medium_trust_min_score:
        return "low"
    if score >= t.high_trust_min_score and fairness_ok and not privacy.protected_used:
        return "high"
    return "medium"


def recommendations(
    explainability: Explainability,
    fairness: Mapping[str, AttributeFairness],
    robustness: Robustness,
    privacy: PrivacyCheck,
    t: GovernanceThresholds,
) -> list[str]:
    recs: list[str] = []
    for reason in privacy.findings:
        recs.append(f"remove PII from the features: {reason}")
    if privacy.protected_used:
        recs.append(
            f"protected attribute(s) used as features: {', '.join(privacy.protected_used)}; remove them or "
            "document the legal basis and test for proxy discrimination"
        )
    if explainability.top3_share > t.concentration_top3_max:
        top = ", ".join(f for f, _ in explainability.importance[:3])
        recs.append(
            f"top 3 features hold {explainability.top3_share:.0%} of importance ({top}): review concentration"
        )
    for attr in fairness.values():
        recs.extend(attr.failures)
        small = [g.group for g in attr.groups if not g.judged]
        if small:
            recs.append(
                f"{attr.attribute}: group(s) {', '.join(small)} below {t.fairness.min_group_size} rows, "
                "reported but not judged; monitor them on more data"
            )
    if robustness.cv_auc_spread is not None and robustness.cv_auc_spread > t.max_cv_auc_spread:
        recs.append(
            f"fold AUC spread {robustness.cv_auc_spread:.3f} above {t.max_cv_auc_spread:g}: results depend on "
            "the sample; get more data or regularise"
        )
    if robustness.auc_drop > t.max_auc_drop:
        recs.append(
            f"AUC drops by {robustness.auc_drop:.3f} under {t.noise_share:.0%} noise (above {t.max_auc_drop:g}): "
            "the model is sensitive to small input changes"
        )
    if not recs:
        recs.append("no finding: keep monitoring drift and fairness on matured labels")
    return recs


def build_governance_report(
    model: Any,
    X: pd.DataFrame,
    y: Sequence[int] | np.ndarray,
    y_proba: Sequence[float] | np.ndarray,
    cutoff: float,
    protected: pd.DataFrame,
    pii_columns: Sequence[str],
    features_used: Sequence[str] | None,
    available_columns: Sequence[str],
    metadata: ModelMetadata,
    thresholds: GovernanceThresholds = GovernanceThresholds(),
    *,
    metrics: Mapping[str, float] | None = None,
    train_params: Mapping[str, Any] | None = None,
) -> GovernanceReport:
    """The governance report of a fitted binary XGBoost model on an evaluation frame.

    ``X`` holds the model's features (categoricals as pandas ``category``), ``y`` the 0/1 labels (1 =
    the positive class, e.g. default), ``y_proba`` the model's P(positive) for the rows of ``X`` (used
    for the fairness decisions at ``cutoff``), ``protected`` the protected attributes aligned row by row
    with ``X`` (they need not be features). ``features_used`` defaults to ``X.columns``;
    ``available_columns`` are the columns the model could have used (for data minimisation). ``metrics``
    (e.g. holdout AUC) are copied into the report; the holdout AUC of ``y_proba`` is added as ``auc``
    when missing. ``train_params`` is only needed for a bare Booster's CV refit.
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=int)
    y_proba = np.asarray(y_proba, dtype="float64")
    if not (len(X) == len(y) == len(y_proba) == len(protected)):
        raise ValueError(
            f"X, y, y_proba and protected must be aligned; got {len(X)}, {len(y)}, {len(y_proba)}, {len(protected)} rows"
        )
    features = list(features_used) if features_used is not None else list(X.columns)
    expl = shap_importance(model, X)
    fair = fairness_by_attribute(
        protected.reset_index(drop=True), y, y_proba, cutoff, thresholds.fairness,
        positive_is_favourable=metadata.positive_is_favourable,
    )
    robust = robustness_check(model, X, y, thresholds, train_params)
    priv = privacy_check(features, available_columns, pii_columns, list(protected.columns))
    comps = score_components(expl, fair, robust, priv, thresholds)
    score = overall_score(comps, thresholds)
    fairness_ok = all(a.ok for a in fair.values())
    all_metrics = dict(metrics or {})
    if "auc" not in all_metrics and len(np.unique(y)) == 2:
        all_metrics["auc"] = float(roc_auc_score(y, y_proba))
    return GovernanceReport(
        metadata=metadata,
        cutoff=float(cutoff),
        n_rows=len(X),
        metrics=all_metrics,
        explainability=expl,
        fairness=fair,
        robustness=robust,
        privacy=priv,
        component_scores=comps,
        overall_score=score,
        trust_level=trust_level(score, fairness_ok, priv, thresholds),
        recommendations=tuple(recommendations(expl, fair, robust, priv, thresholds)),
        thresholds=thresholds,
    )


# ------------------------------------------------------------------------------------ governance table
GOVERNANCE_COLUMNS = (
    "use_case", "model_name", "model_version", "run_id", "created_at",
    "overall_score", "trust_level", "fairness_ok", "json",
)


def governance_record(report: GovernanceReport):
    """The one-row Arrow table for ``report`` (schema of the governance table)."""
    import pyarrow as pa

    md = report.metadata
    if md.created_at is None:
        raise ValueError("metadata.created_at is required for the governance table (pass the run's logical time)")
    created = md.created_at if md.created_at.tzinfo else md.created_at.replace(tzinfo=dt.timezone.utc)
    schema = pa.schema([
        ("use_case", pa.string()),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("run_id", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("overall_score", pa.float64()),
        ("trust_level", pa.string()),
        ("fairness_ok", pa.bool_()),
        ("json", pa.string()),
    ])
    return pa.Table.from_pylist([{
        "use_case": md.use_case,
        "model_name": md.model_name,
        "model_version": str(md.model_version),
        "run_id": md.run_id,
        "created_at": created.astimezone(dt.timezone.utc),
        "overall_score": float(report.overall_score),
        "trust_level": report.trust_level,
        "fairness_ok": report.fairness_ok,
        "json": report.to_json_string(),
    }], schema=schema)


def append_governance_record(report: GovernanceReport, table_path: str) -> None:
    """Add the report's row to the Delta governance table, one row per (model_name, model_version).

    The first call creates the table. Later calls merge on ``model_name`` + ``model_version`` in one
    Delta commit: a rerun for the same version replaces its row (no duplicate), a new version is added.
    """
    from deltalake import DeltaTable, write_deltalake

    row = governance_record(report)
    if not DeltaTable.is_deltatable(table_path):
        try:
            write_deltalake(table_path, row, mode="error")
            return
        except Exception:  # created meanwhile by another writer: fall through to the merge
            if not DeltaTable.is_deltatable(table_path):
                raise
    (
        DeltaTable(table_path)
        .merge(
            row,
            predicate="t.model_name = s.model_name AND t.model_version = s.model_version",
            source_alias="s",
            target_alias="t",
        )
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
