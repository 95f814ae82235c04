"""When to retrain: the daily decision from drift alerts, matured performance and the cooldown. Pure functions.

Inputs (what :mod:`jobs.decide` reads from the monitoring tables):

* :class:`RunAlerts` — per daily run (``ds``): the features (``__score__`` for the score itself) whose drift status
  is ``alert`` on that date, and every feature's PSI. A run *alerts* when at least ``min_alert_features`` distinct
  features alert.
* the previous decisions (``ds`` and ``retrain``), for the cooldown;
* :class:`CohortPerformance` — the latest matured score-date cohorts: AUC on their labels against the training
  holdout AUC of the model version that scored them.

Rules (:class:`jobs.lib.config.RetrainPolicy`):

1. **drift**: among the last ``window_runs`` runs up to and including ``ds`` (distinct dates: a rerun of a date
   replaces that date's drift rows, and the inputs here are de-duplicated by date again), at least
   ``alert_runs`` alert;
2. **performance**: a cohort with at least ``min_cohort_rows`` labelled rows has AUC <= its model's training
   holdout AUC - ``performance_drop``;
3. **cooldown**: after a run that decided to retrain, the next ``cooldown_runs`` runs (runs = earlier decisions
   recorded, plus this one) never decide to retrain, whatever 1 and 2 say; the reason says what would have
   triggered.

Only dates before ``ds`` count as previous decisions, and only drift up to ``ds``: rerunning a date with the same
tables gives the same decision. Ties (features with equal PSI) are broken by name: deterministic.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from jobs.lib.config import RetrainPolicy

SCORE_FEATURE = "__score__"
STATUS_RANK = {"ok": 0, "warn": 1, "alert": 2}


@dataclass(frozen=True)
class RunAlerts:
    """Drift of one daily run: features alerting on ``ds``, the worst status and PSI per feature."""

    ds: str
    alert_features: frozenset[str] = frozenset()
    psi: dict[str, float] = field(default_factory=dict)  # feature -> PSI (features without a PSI are absent)
    status: dict[str, str] = field(default_factory=dict)  # feature -> worst status over its statistics
    model_version: str | None = None

    def alerts(self, min_alert_features: int) -> bool:
        return len(self.alert_features) >= max(1, min_alert_features)


@dataclass(frozen=True)
class PreviousDecision:
    ds: str
    retrain: bool


@dataclass(frozen=True)
class CohortPerformance:
    """One matured score-date cohort of one model version."""

    score_date: str
    rows: int  # scored rows with a matured label
    auc: float | None  # None: one class only
    holdout_auc: float | None  # the model version's training holdout AUC; None: unknown
    model_version: str | None = None
    model_role: str | None = None


@dataclass(frozen=True)
class Decision:
    retrain: bool
    reason: str
    alerting_runs: int
    window: list[str]  # the dates of the runs considered, oldest first
    top_features: list[tuple[str, float | None]]  # the run's most drifting features, (feature, PSI)
    trigger: str | None = None  # "drift", "performance", "drift+performance"; None when not retraining
    cooldown: bool = False  # a trigger held back by the cooldown
    run_alerts: bool = False  # this run (ds) alerts on its own: what a drift alert is posted for
    performance: list[dict[str, Any]] = field(default_factory=list)  # the cohorts judged

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["top_features"] = [[f, p] for f, p in self.top_features]
        data["window_runs"] = len(self.window)
        return data


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def summarise_drift(rows: Iterable[dict[str, Any]]) -> list[RunAlerts]:
    """:class:`RunAlerts` per date from drift table rows (``ds``, ``feature``, ``metric``, ``value``, ``status``,
    optionally ``model_version``), oldest first."""
    by_ds: dict[str, dict[str, Any]] = {}
    for r in rows:
        ds = str(r["ds"])[:10]
        d = by_ds.setdefault(ds, {"alert": set(), "psi": {}, "status": {}, "versions": set()})
        feature, status = str(r["feature"]), str(r.get("status") or "ok")
        if status == "alert":
            d["alert"].add(feature)
        if STATUS_RANK.get(status, 0) >= STATUS_RANK.get(d["status"].get(feature, "ok"), 0):
            d["status"][feature] = status
        if r.get("metric") == "psi" and _finite(r.get("value")) is not None:
            d["psi"][feature] = max(float(r["value"]), d["psi"].get(feature, float("-inf")))
        if r.get("model_version") is not None:
            d["versions"].add(str(r["model_version"]))
    return [RunAlerts(ds=ds, alert_features=frozenset(d["alert"]), psi=d["psi"], status=d["status"],
                      model_version=max(d["versions"], key=lambda v: (len(v), v)) if d["versions"] else None)
            for ds, d in sorted(by_ds.items())]


def top_features(run: RunAlerts, n: int) -> list[tuple[str, float | None]]:
    """The run's drifting features (status warn or alert on any statistic), worst status first, then by PSI
    (highest first), then by name; at most ``n``."""
    drifting = [f for f, s in run.status.items() if STATUS_RANK.get(s, 0) > 0]
    drifting.sort(key=lambda f: (-STATUS_RANK[run.status[f]], -(run.psi.get(f, float("-inf"))), f))
    return [(f, _finite(run.psi.get(f))) for f in drifting[:max(0, n)]]


def _fmt_features(features: Sequence[tuple[str, float | None]]) -> str:
    return ", ".join(f"{f} (PSI {p:.3f})" if p is not None else f"{f} (PSI n/a)" for f, p in features) or "none"


def judge_performance(cohorts: Sequence[CohortPerformance], policy: RetrainPolicy
                      ) -> tuple[list[str], list[dict[str, Any]]]:
    """(reasons of cohorts whose AUC dropped, every cohort judged as a dict with its verdict)."""
    reasons, judged = [], []
    for c in sorted(cohorts, key=lambda c: (c.score_date, str(c.model_version), str(c.model_role))):
        auc, holdout = _finite(c.auc), _finite(c.holdout_auc)
        entry = {**asdict(c), "verdict": "ok"}
        if c.rows < policy.min_cohort_rows:
            entry["verdict"] = f"too few rows ({c.rows} < {policy.min_cohort_rows})"
        elif auc is None or holdout is None:
            entry["verdict"] = "no AUC" if auc is None else "no holdout AUC"
        elif auc <= holdout - policy.performance_drop + 1e-12:
            entry["verdict"] = "dropped"
            version = f" (model v{c.model_version})" if c.model_version else ""
            reasons.append(f"cohort {c.score_date}{version}: AUC {auc:.4f} on {c.rows} matured rows <= training "
                           f"holdout AUC {holdout:.4f} - {policy.performance_drop:g}")
        judged.append(entry)
    return reasons, judged


def decide(ds: str, runs: Sequence[RunAlerts], previous: Sequence[PreviousDecision],
           cohorts: Sequence[CohortPerformance], policy: RetrainPolicy, top_n: int = 5) -> Decision:
    """The decision of the run ``ds``. ``runs``: drift per date (any dates: those after ``ds`` are ignored, each
    date counts once); ``previous``: earlier decisions (those on or after ``ds`` are ignored); ``cohorts``: the
    latest matured performance."""
    ds = str(ds)[:10]
    by_ds: dict[str, RunAlerts] = {}
    for r in runs:
        if r.ds <= ds:
            by_ds[r.ds] = r  # one per date: a duplicate date (rerun) replaces, never adds
    current = by_ds.get(ds)
    if current is None:
        return Decision(retrain=False, reason=f"no drift results for {ds} (no champion yet?)", alerting_runs=0,
                        window=[], top_features=[])
    window = sorted(by_ds)[-policy.window_runs:]
    alerting = [d for d in window if by_ds[d].alerts(policy.min_alert_features)]
    top = top_features(current, top_n)
    run_alerts = current.alerts(policy.min_alert_features)
    drift_hit = len(alerting) >= policy.alert_runs
    drift_text = (f"{len(alerting)} of the last {len(window)} runs alerting (retrain at >= {policy.alert_runs} "
                  f"of {policy.window_runs}, a run alerting with >= {policy.min_alert_features} feature(s) in alert)")
    perf_reasons, judged = judge_performance(cohorts, policy)
    reasons = []
    if drift_hit:
        reasons.append(f"drift: {drift_text}; top features: {_fmt_features(top)}")
    reasons.extend(f"performance: {r}" for r in perf_reasons)
    trigger = "+".join(t for t, hit in (("drift", drift_hit), ("performance", bool(perf_reasons))) if hit) or None

    earlier = {}
    for p in previous:
        p_ds = str(p.ds)[:10]
        if p_ds < ds:
            earlier[p_ds] = bool(p.retrain)
    last_retrain = max((d for d, r in earlier.items() if r), default=None)
    if trigger and last_retrain is not None:
        runs_since = sum(1 for d in earlier if d > last_retrain) + 1  # this run included
        if runs_since <= policy.cooldown_runs:
            return Decision(retrain=False, alerting_runs=len(alerting), window=window, top_features=top,
                            reason=f"cooldown: retraining was decided on {last_retrain}, run {runs_since} of "
                                   f"{policy.cooldown_runs} since; would retrain for " + "; ".join(reasons),
                            trigger=None, cooldown=True, run_alerts=run_alerts, performance=judged)
    if trigger:
        return Decision(retrain=True, reason="; ".join(reasons), alerting_runs=len(alerting), window=window,
                        top_features=top, trigger=trigger, run_alerts=run_alerts, performance=judged)
    perf_text = ""
    if judged:
        perf_text = "; performance: " + ", ".join(
            f"cohort {c['score_date']} " + (f"AUC {c['auc']:.4f} vs holdout {c['holdout_auc']:.4f}"
                                            if c["verdict"] == "ok" else c["verdict"]) for c in judged)
    return Decision(retrain=False, reason=f"no retrain: {drift_text}{perf_text}", alerting_runs=len(alerting),
                    window=window, top_features=top, run_alerts=run_alerts, performance=judged)
