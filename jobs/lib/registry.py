"""Model registry: one registered model per use case (named like the use case), aliases, quality gate, rollback.

Aliases of registered model ``<use_case>``:

* ``challenger`` — the newest version that has not (yet) passed the gate; scoring may shadow-score with it.
* ``champion``   — the version scoring uses (``models:/<use_case>@champion``).
* ``previous``   — the champion before the current one: what :func:`rollback` restores.

Every training run registers a new version as ``challenger``; :func:`gate` then decides:

1. holdout AUC >= ``gate.auc_floor``;
2. if a champion exists: holdout AUC >= champion's AUC **on the same holdout** (the champion is loaded
   from ``models:/<use_case>@champion`` and scores this run's ``holdout.parquet``) + ``gate.min_improvement``;
3. fairness holds (see *fairness hook* below) — when ``gate.enforce_fairness`` is true; when false the
   fairness result is recorded with the decision (``gate_decision``, ``gate.json``) but does not block.

Pass: ``champion`` moves to the new version, the old champion becomes ``previous``, ``challenger`` is
removed (it is the champion now). Fail: the version stays ``challenger``. Either way the version gets the
tags ``gate_status`` (``passed`` / ``failed``) and ``gate_reason``, the decision as ``gate_decision`` (JSON) and
a readable description. The first model is judged on the floor (and fairness) alone.

Note on "the same holdout": the holdout is the most recent rows of the *new* training window. When little
new data arrived since the champion was trained, some holdout rows may have been in the champion's
training window, which favours the champion: the comparison errs on the side of keeping it.

**Fairness hook.** :func:`gate` takes a :class:`FairnessResult`. The training job computes it on the holdout
with :func:`fairness_check` — the governance module's statistics (:mod:`jobs.lib.fairness`: disparate impact
with the 80% rule and equal opportunity, per protected attribute) with the use case's thresholds — unless
it is given another callable with the same signature (``train(..., fairness_check=...)``).
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobs.lib import metrics
from jobs.lib.config import Fairness, Gate, Settings, UseCase, settings

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
MODEL_ARTIFACT = "model"
HOLDOUT_ARTIFACT = "holdout.parquet"
FEATURE_SPEC_ARTIFACT = "feature_spec.json"
TAG_LIMIT = 5000  # characters of an MLflow tag value


class RegistryError(RuntimeError):
    """A registry operation cannot proceed (e.g. no previous champion to roll back to)."""


# -------------------------------------------------------------------------------------------- client
def client(cfg: Settings | None = None) -> MlflowClient:
    """An MLflow client on the configured tracking store (also the registry); sets the process default."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # batch logs, not a terminal
    uri = (cfg or settings()).paths.mlflow_tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def model_name(use_case: str) -> str:
    return use_case


def _not_found(exc: Exception) -> bool:
    return getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or "not found" in str(exc).lower()


def version_by_alias(c: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return c.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if _not_found(exc):
            return None
        raise


def aliases(c: MlflowClient, name: str) -> dict[str, str]:
    """``{alias: version}`` of a registered model ({} when it does not exist)."""
    from mlflow.exceptions import MlflowException

    try:
        return {str(k): str(v) for k, v in c.get_registered_model(name).aliases.items()}
    except MlflowException as exc:
        if _not_found(exc):
            return {}
        raise


# ---------------------------------------------------------------------------------------- register
def register(c: MlflowClient, use_case: UseCase, model_uri: str, run_id: str, tags: dict[str, str] | None = None
             ) -> ModelVersion:
    """A new version of model ``<use_case>`` from the run's logged model, aliased ``challenger``."""
    import mlflow
    from mlflow.exceptions import MlflowException

    name = model_name(use_case.name)
    try:
        c.get_registered_model(name)
    except MlflowException as exc:
        if not _not_found(exc):
            raise
        c.create_registered_model(name, description=use_case.description,
                                  tags={"use_case": use_case.name, "owner": "riskpipe"})
    version = mlflow.register_model(model_uri, name, tags={"run_id": run_id, **(tags or {})})
    c.set_registered_model_alias(name, CHALLENGER, str(version.version))
    return c.get_model_version(name, str(version.version))


def version_of_run(c: MlflowClient, use_case: str, run_id: str) -> ModelVersion | None:
    found = c.search_model_versions(f"name = '{model_name(use_case)}' and run_id = '{run_id}'")
    return max(found, key=lambda v: int(v.version)) if found else None


# ----------------------------------------------------------------------------------------- fairness
@dataclass(frozen=True)
class FairnessResult:
    ok: bool
    reasons: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)


FairnessCheck = Callable[[pd.DataFrame, np.ndarray, np.ndarray, UseCase, float], FairnessResult]


def fairness_check(protected: pd.DataFrame, y_true: np.ndarray, score: np.ndarray, use_case: UseCase,
                   cutoff: float) -> FairnessResult:
    """The default fairness hook: :func:`jobs.lib.fairness.fairness_by_attribute` (the governance report's
    own definitions) with the use case's ``fairness`` thresholds — disparate impact (80% rule on the
    favourable outcome) and equal opportunity difference per protected attribute, numeric attributes
    bucketed by ``fairness.age_buckets``, groups under the minimum size reported but not judged."""
    from jobs.lib.fairness import FairnessThresholds, fairness_by_attribute

    cfg: Fairness = use_case.fairness
    thresholds = FairnessThresholds(disparate_impact_min=cfg.disparate_impact_min,
                                    equal_opportunity_max_diff=cfg.equal_opportunity_max_diff,
                                    age_buckets=tuple(cfg.age_buckets))
    by_attribute = fairness_by_attribute(protected, y_true, score, cutoff, thresholds,
                                         positive_is_favourable=cfg.positive_is_favourable)
    reasons = tuple(r for a in by_attribute.values() for r in a.failures)
    return FairnessResult(ok=all(a.ok for a in by_attribute.values()), reasons=reasons,
                          detail={k: v.to_dict() for k, v in by_attribute.items()})


def fairness_not_checked(*_: Any) -> FairnessResult:
    """A hook that passes (for callers that check fairness elsewhere)."""
    return FairnessResult(ok=True, reasons=("fairness not checked by the gate",))


# --------------------------------------------------------------------------------------------- gate
@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: tuple[str, ...]  # why it failed; empty when it passed
    challenger_auc: float
    auc_floor: float
    champion_version: str | None = None
    champion_auc: float | None = None  # on the challenger's holdout
    required_auc: float | None = None  # what the challenger had to reach
    fairness_ok: bool = True
    fairness_reasons: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        advisory = ""
        if not self.fairness_ok and not any(r.startswith("fairness: ") for r in self.reasons):
            advisory = "; fairness (not enforced): " + "; ".join(self.fairness_reasons)
        if self.passed:
            against = (f"champion v{self.champion_version} {self.champion_auc:.4f} on the same holdout"
                       if self.champion_version else "no champion yet: floor only")
            return f"passed: holdout AUC {self.challenger_auc:.4f} >= floor {self.auc_floor:g}; {against}{advisory}"
        return "failed: " + "; ".join(self.reasons) + advisory

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary}

    def to_tag(self, limit: int = TAG_LIMIT) -> str:
        """JSON of the decision that fits an MLflow tag (long reasons shortened; :meth:`from_tag` reads it)."""
        data = asdict(self)
        for width in (500, 100, 0):
            for key in ("reasons", "fairness_reasons"):
                data[key] = [r[:width] for r in getattr(self, key)][:10] if width else []
            text = json.dumps(data)
            if len(text) <= limit:
                return text
        return text[:limit]

    @classmethod
    def from_tag(cls, text: str) -> GateDecision:
        data = json.loads(text)
        data.pop("summary", None)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def decide(gate: Gate, challenger_auc: float, champion_auc: float | None = None,
           champion_version: str | None = None, fairness: FairnessResult | None = None,
           problems: Sequence[str] = ()) -> GateDecision:
    """Pure: the gate's decision from the numbers (``problems``: other reasons to fail, e.g. a champion
    that could not be scored)."""
    fairness = fairness or FairnessResult(ok=True)
    reasons = list(problems)
    if challenger_auc < gate.auc_floor:
        reasons.append(f"holdout AUC {challenger_auc:.4f} below the floor {gate.auc_floor:g}")
    required = None
    if champion_auc is not None:
        required = champion_auc + gate.min_improvement
        if challenger_auc < required - 1e-12:
            reasons.append(f"holdout AUC {challenger_auc:.4f} does not beat champion v{champion_version} "
                           f"({champion_auc:.4f} on the same holdout) by {gate.min_improvement:g}")
    if not fairness.ok and gate.enforce_fairness:
        reasons.extend(f"fairness: {r}" for r in fairness.reasons)
    return GateDecision(passed=not reasons, reasons=tuple(reasons), challenger_auc=challenger_auc,
                        auc_floor=gate.auc_floor, champion_version=champion_version, champion_auc=champion_auc,
                        required_auc=required, fairness_ok=fairness.ok, fairness_reasons=tuple(fairness.reasons))


def load_feature_spec(run_id: str):
    import mlflow

    from jobs.lib.modeling import FeatureSpec

    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=FEATURE_SPEC_ARTIFACT)
    with open(path, encoding="utf-8") as f:
        return FeatureSpec.from_dict(json.load(f))


def load_holdout(run_id: str) -> pd.DataFrame:
    import mlflow

    return pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=HOLDOUT_ARTIFACT))


def score_version(c: MlflowClient, version: ModelVersion, frame: pd.DataFrame) -> np.ndarray:
    """Probabilities of a registered version on ``frame`` (raw gold columns), with that version's own
    feature spec."""
    import mlflow

    from jobs.lib.modeling import predict, prepare_features

    spec = load_feature_spec(version.run_id)
    missing = [col for col in spec.columns if col not in frame.columns]
    if missing:
        raise RegistryError(f"model {version.name} v{version.version} needs feature(s) {missing} that the "
                            "holdout lacks; it cannot be compared on this holdout")
    model = mlflow.xgboost.load_model(f"models:/{version.name}/{version.version}")
    return predict(model, prepare_features(frame, spec))


def gate(c: MlflowClient, use_case: UseCase, version: ModelVersion, challenger_auc: float,
         holdout: pd.DataFrame, label: str = "label", fairness: FairnessResult | None = None) -> GateDecision:
    """Judge ``version`` (just registered as challenger) and move the aliases accordingly."""
    name = model_name(use_case.name)
    champion = version_by_alias(c, name, CHAMPION)
    champion_auc, problems = None, []
    if champion is not None and str(champion.version) == str(version.version):
        champion = None  # already the champion (a re-run of the gate): judge on the floor only
    if champion is not None:
        try:
            champion_auc = metrics.auc(holdout[label].to_numpy(), score_version(c, champion, holdout))
        except RegistryError as exc:  # e.g. the champion needs a feature this holdout lacks: no comparison
            problems.append(f"cannot compare with champion v{champion.version}: {exc}")
    decision = decide(use_case.gate, challenger_auc, champion_auc, str(champion.version) if champion else None,
                      fairness, problems)
    record(c, name, str(version.version), decision)
    if decision.passed:
        promote(c, name, str(version.version))
    return decision


def record(c: MlflowClient, name: str, version: str, decision: GateDecision) -> None:
    c.set_model_version_tag(name, version, "gate_status", "passed" if decision.passed else "failed")
    c.set_model_version_tag(name, version, "gate_reason", decision.summary[:TAG_LIMIT])
    c.set_model_version_tag(name, version, "gate_decision", decision.to_tag())
    c.set_model_version_tag(name, version, "fairness_status", "ok" if decision.fairness_ok else "failed")
    c.update_model_version(name, version, description=f"Quality gate {decision.summary}")


def promote(c: MlflowClient, name: str, version: str) -> None:
    """``champion`` -> ``version``; the old champion becomes ``previous``; ``challenger`` is dropped if it
    pointed at ``version``."""
    current = aliases(c, name)
    old = current.get(CHAMPION)
    if old is not None and old != str(version):
        c.set_registered_model_alias(name, PREVIOUS, old)
    c.set_registered_model_alias(name, CHAMPION, str(version))
    if current.get(CHALLENGER) == str(version):
        c.delete_registered_model_alias(name, CHALLENGER)


# ----------------------------------------------------------------------------------------- rollback
@dataclass(frozen=True)
class Rollback:
    use_case: str
    from_version: str
    to_version: str

    def __str__(self) -> str:
        return f"{self.use_case}: champion rolled back from v{self.from_version} to v{self.to_version}"


def rollback(use_case: str, c: MlflowClient | None = None, reason: str = "manual rollback") -> Rollback:
    """Move ``champion`` back to ``previous``. The demoted version is tagged ``rolled_back`` and the
    ``previous`` alias is removed (a second rollback needs a new promotion first)."""
    c = c or client()
    name = model_name(use_case)
    current = aliases(c, name)
    if not current and version_by_alias(c, name, CHAMPION) is None:
        raise RegistryError(f"model '{name}': not registered (or has no aliases); nothing to roll back")
    previous, champion = current.get(PREVIOUS), current.get(CHAMPION)
    if previous is None:
        raise RegistryError(f"model '{name}': no 'previous' version to roll back to "
                            f"(champion is {'v' + champion if champion else 'not set'})")
    c.set_registered_model_alias(name, CHAMPION, previous)
    c.delete_registered_model_alias(name, PREVIOUS)
    if champion is not None:
        c.set_model_version_tag(name, champion, "rolled_back", f"replaced by v{previous}: {reason}")
        c.set_model_version_tag(name, champion, "gate_status", "rolled_back")
    c.set_model_version_tag(name, previous, "restored", f"champion again after rollback of v{champion}: {reason}")
    c.set_registered_model_tag(name, "last_rollback", f"v{champion} -> v{previous}: {reason}")
    return Rollback(use_case=use_case, from_version=str(champion), to_version=str(previous))
