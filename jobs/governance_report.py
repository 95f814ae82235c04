"""Governance report of a training run: explainability, fairness, robustness, privacy (:mod:`jobs.lib.governance`).

For one MLflow training run of ``(use case, ds)`` (found like :func:`jobs.train.find_run` finds it, or given
with ``--run-id``):

1. load the run's model (tag ``model_uri``), ``feature_spec.json`` and ``holdout.parquet`` (keys, features,
   protected attributes, label and the model's score, written by :mod:`jobs.train`);
2. build the report on the holdout: the model's features from the spec, the use case's protected attributes
   judged with its ``fairness`` thresholds and ``positive_is_favourable`` at ``model.decision_cutoff`` (the
   gate's own cutoff), PII from the use case, seeded robustness checks (``model.seed``);
3. log ``governance/report.json``, ``governance/report.html``, ``governance/model_card.md`` and
   ``governance/model_card.html`` as artifacts of that run, tag the run and the model version with
   ``governance_score``, ``trust_level`` and ``fairness_ok``;
4. upsert one row into ``<lakehouse>/governance/<uc>/reports`` keyed by ``(model_name, model_version)``.

**Model version.** The governance row and the version tags need the registered version of the run. When the
run's model is not registered yet (the DAG runs governance before the gate), this job registers it as
``challenger`` with the same tags :func:`jobs.train.register_and_gate` gives it; the gate step then finds
that version (``registry.version_of_run``) and judges it without registering again.

**Idempotent.** Every figure is computed from the run's artifacts with fixed seeds, the artifacts are
overwritten in place, the tags set again and the table row replaced (merge on ``(model_name,
model_version)``): a rerun gives the same artifacts, tags and exactly one row per version. No clock is
read: the report's ``created_at`` is the logical date (00:00 UTC).

**Gate.** :func:`gate_fairness_check` returns a hook with the registry's ``FairnessCheck`` signature that
gives the gate the fairness verdict of this run's governance report (``governance/report.json``), and
computes it with :func:`jobs.lib.registry.fairness_check` when the report does not exist yet. Both use the
same statistics (:mod:`jobs.lib.fairness`), thresholds and cutoff, so the verdicts agree; the hook makes the
report the single recorded source of the gate's fairness decision.

Run: ``python -m jobs.governance_report --use-case credit_default --ds 2026-03-01 [--run-id RUN]`` (no Spark
needed: the holdout is an artifact and the table is written through delta-rs).
"""
from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobs.lib import modeling, registry, tables
from jobs.lib.config import Settings, UseCase, settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from jobs.lib.governance import GovernanceReport

ARTIFACT_DIR = "governance"
REPORT_JSON = f"{ARTIFACT_DIR}/report.json"
ARTIFACTS = {  # artifact path -> how the report renders it
    REPORT_JSON: lambda r: r.to_json_string(indent=1),
    f"{ARTIFACT_DIR}/report.html": lambda r: r.to_html(),
    f"{ARTIFACT_DIR}/model_card.md": lambda r: r.model_card_markdown(),
    f"{ARTIFACT_DIR}/model_card.html": lambda r: r.model_card_html(),
}


class GovernanceError(RuntimeError):
    """The governance report cannot be built (no run for the date, no model section, ...)."""


@dataclass(frozen=True)
class GovernanceOutcome:
    use_case: str
    run_id: str
    model_name: str
    model_version: str
    overall_score: float
    trust_level: str
    fairness_ok: bool
    fairness_reasons: tuple[str, ...]
    table: str
    artifacts: tuple[str, ...]

    def __str__(self) -> str:
        fair = "ok" if self.fairness_ok else "FAILED: " + "; ".join(self.fairness_reasons)
        return (f"{self.model_name} v{self.model_version} (run {self.run_id}): governance score "
                f"{self.overall_score:.1f}, trust {self.trust_level}, fairness {fair}\n"
                f"artifacts {', '.join(self.artifacts)}; row in {self.table}")


# ------------------------------------------------------------------------------------------------ build
def governance_thresholds(use_case: UseCase):
    """The report's thresholds: the use case's fairness section (as the gate's hook uses it), its seed."""
    from jobs.lib.fairness import FairnessThresholds
    from jobs.lib.governance import GovernanceThresholds

    f = use_case.fairness
    fairness = FairnessThresholds(disparate_impact_min=f.disparate_impact_min,
                                  equal_opportunity_max_diff=f.equal_opportunity_max_diff,
                                  age_buckets=tuple(f.age_buckets))
    return GovernanceThresholds(fairness=fairness, seed=use_case.model.seed)


def logical_time(ds: str) -> dt.datetime:
    """The logical date as a timestamp (00:00 UTC): what the job records instead of the clock."""
    return dt.datetime.combine(dt.date.fromisoformat(ds), dt.time(), tzinfo=dt.timezone.utc)


def build_report(use_case: UseCase, run: Any, version: str, model: Any, spec: modeling.FeatureSpec,
                 holdout: pd.DataFrame, ds: str) -> GovernanceReport:
    """The governance report of ``model`` (the run's) on its holdout (pure: no MLflow, no table)."""
    from jobs.lib.governance import ModelMetadata, build_governance_report

    tags = run.data.tags
    protected = holdout[[a for a in use_case.protected_attributes if a in holdout.columns]].reset_index(drop=True)
    X = modeling.prepare_features(holdout, spec).reset_index(drop=True)
    not_inputs = {*use_case.primary_key, use_case.event_timestamp, modeling.LABEL, "score"}
    available = [c for c in holdout.columns if c not in not_inputs]
    train_start = tags.get("train_window", "").split("/")[0]
    fit_end = tags.get("validation_window", "").split("/")[-1]
    label = use_case.label
    metadata = ModelMetadata(
        use_case=use_case.name, model_name=registry.model_name(use_case.name), model_version=str(version),
        run_id=run.info.run_id, created_at=logical_time(ds), intended_use=use_case.description,
        training_window=(f"{train_start} to {fit_end} (event dates; holdout "
                         f"{tags.get('holdout_window', '?').replace('/', ' to ')})") if train_start else "",
        positive_class=f"{label.positive} ({label.column})",
        positive_is_favourable=use_case.fairness.positive_is_favourable,
        limitations=(f"Every figure is measured on the run's holdout: {len(holdout)} most recent labelled rows.",
                     f"Trained on {tags.get('gold_table', 'gold training')} v{tags.get('gold_version', '?')} "
                     f"(ds <= {tags.get('logical_date', ds)})."),
    )
    metrics = {k: v for k, v in run.data.metrics.items() if k.startswith("holdout_")}
    return build_governance_report(
        model, X, holdout[modeling.LABEL].to_numpy(), holdout["score"].to_numpy(), use_case.model.decision_cutoff,
        protected, use_case.pii, spec.columns, available, metadata, governance_thresholds(use_case), metrics=metrics,
    )


def fairness_result(report: GovernanceReport) -> registry.FairnessResult:
    """The report's fairness verdict as the gate takes it."""
    reasons = tuple(r for a in report.fairness.values() for r in a.failures)
    return registry.FairnessResult(ok=report.fairness_ok, reasons=reasons,
                                   detail={k: v.to_dict() for k, v in report.fairness.items()})


# ----------------------------------------------------------------------------------------------- MLflow
def resolve_run(c: MlflowClient, use_case: UseCase, ds: str, run_id: str | None = None, cfg: Settings | None = None):
    """The run given by id, else the newest finished training run of ``(use case, ds)``."""
    from jobs.train import find_run

    if run_id:
        run = c.get_run(run_id)
        if run.data.tags.get("use_case") not in (None, use_case.name):
            raise GovernanceError(f"run {run_id} is a {run.data.tags['use_case']} run, not {use_case.name}")
        return run
    run = find_run(c, use_case.name, ds, cfg)
    if run is None:
        raise GovernanceError(f"no finished training run of {use_case.name} for {ds}; train first")
    return run


def ensure_version(c: MlflowClient, use_case: UseCase, run: Any):
    """The run's registered version; registered now as ``challenger`` (as the gate step would) if missing."""
    version = registry.version_of_run(c, use_case.name, run.info.run_id)
    if version is None:
        if "model_uri" not in run.data.tags:
            raise GovernanceError(f"run {run.info.run_id} has no model_uri tag: not a training run of jobs.train")
        version = registry.register(c, use_case, run.data.tags["model_uri"], run.info.run_id,
                                    tags={"logical_date": run.data.tags.get("logical_date", ""),
                                          "gold_version": run.data.tags.get("gold_version", "")})
    return version


def record(c: MlflowClient, report: GovernanceReport, run_id: str, name: str, version: str) -> tuple[str, ...]:
    """Log the four renderings as run artifacts; tag the run and the version."""
    for path, render in ARTIFACTS.items():
        c.log_text(run_id, render(report), path)
    tags = {"governance_score": f"{report.overall_score:.2f}", "trust_level": report.trust_level,
            "fairness_ok": str(report.fairness_ok).lower()}
    for key, value in tags.items():
        c.set_tag(run_id, key, value)
        c.set_model_version_tag(name, version, key, value)
    return tuple(ARTIFACTS)


# -------------------------------------------------------------------------------------------------- job
def governance(use_case: UseCase, ds: str, run_id: str | None = None, cfg: Settings | None = None) -> GovernanceOutcome:
    """Build, log and store the governance report of the use case's training run of ``ds`` (or ``run_id``)."""
    import mlflow

    from jobs.lib.governance import append_governance_record

    cfg = cfg or settings()
    if use_case.model is None:
        raise GovernanceError(f"{use_case.source_file}: use case '{use_case.name}' has no 'model' section; "
                              "nothing to report on")
    c = registry.client(cfg)
    run = resolve_run(c, use_case, ds, run_id, cfg)
    rid = run.info.run_id
    version = ensure_version(c, use_case, run)
    model = mlflow.xgboost.load_model(run.data.tags.get("model_uri") or f"runs:/{rid}/{registry.MODEL_ARTIFACT}")
    spec = registry.load_feature_spec(rid)
    holdout = registry.load_holdout(rid)
    report = build_report(use_case, run, str(version.version), model, spec, holdout, ds)
    artifacts = record(c, report, rid, version.name, str(version.version))
    table = tables.governance(use_case.name, cfg)
    append_governance_record(report, table)
    return GovernanceOutcome(
        use_case=use_case.name, run_id=rid, model_name=version.name, model_version=str(version.version),
        overall_score=report.overall_score, trust_level=report.trust_level, fairness_ok=report.fairness_ok,
        fairness_reasons=fairness_result(report).reasons, table=table, artifacts=artifacts,
    )


def recorded_fairness(run_id: str) -> registry.FairnessResult | None:
    """The fairness verdict of the run's governance report (``governance/report.json``), or None if absent."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=REPORT_JSON)
    except (MlflowException, OSError):
        return None
    with open(path, encoding="utf-8") as f:
        fairness = json.load(f)["fairness"]
    attributes = fairness["attributes"]
    reasons = tuple(r for a in attributes.values() for r in a["failures"])
    return registry.FairnessResult(ok=bool(fairness["ok"]), reasons=reasons, detail=attributes)


def gate_fairness_check(run_id: str) -> registry.FairnessCheck:
    """A gate fairness hook (``registry.FairnessCheck``) that uses the run's governance report, falling back to
    :func:`jobs.lib.registry.fairness_check` on the gate's inputs when the run has no report yet."""
    def check(protected: pd.DataFrame, y_true: np.ndarray, score: np.ndarray, use_case: UseCase,
              cutoff: float) -> registry.FairnessResult:
        recorded = recorded_fairness(run_id)
        if recorded is not None:
            return recorded
        return registry.fairness_check(protected, y_true, score, use_case, cutoff)

    return check


def main(argv: Sequence[str] | None = None) -> int:
    from jobs.lib.cli import job_parser
    from jobs.lib.config import ConfigError, load_use_case

    parser = job_parser("Governance report (explainability, fairness, robustness, privacy) of the use case's "
                        "training run of the date: MLflow artifacts and tags, one row per model version in the "
                        "governance table.")
    parser.add_argument("--run-id", default=None, metavar="RUN",
                        help="MLflow run to report on (default: the newest finished training run of the date)")
    args = parser.parse_args(argv)
    try:
        use_case = load_use_case(args.use_case)
    except ConfigError as exc:
        parser.error(str(exc))
    try:
        print(governance(use_case, args.ds, args.run_id))
    except GovernanceError as exc:
        print(f"governance_report: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
