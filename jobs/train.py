"""Train a use case's model on gold training rows, track it in MLflow, register it and run the quality gate.

Steps (logic in :mod:`jobs.lib.modeling`, :mod:`jobs.lib.metrics`, :mod:`jobs.lib.reference_stats`,
:mod:`jobs.lib.registry`):

1. read ``gold/<uc>/training`` — every partition with ``ds <=`` the logical date, at the table's current
   Delta version (recorded) — and collect it (a few thousand rows);
2. time split (train / validation / most recent holdout), Optuna search over XGBoost with pruning and early
   stopping (study ``<uc>-<ds>`` in an RDB, resumed if it exists), refit on train + validation;
3. one MLflow run in experiment ``riskpipe/<uc>``: parameters, ``val_*`` / ``holdout_*`` metrics, the model
   (``mlflow.xgboost``, with signature and input example), tags (use case, logical date, gold table and its
   Delta version, code version, rows), artifacts ``feature_spec.json``, ``reference_stats.json`` (drift
   reference), ``trials.csv`` (the study), ``holdout.parquet`` (keys, features, protected attributes, label
   and this model's score — what the gate and the governance report evaluate on);
4. register a version of model ``<uc>`` as ``challenger`` and run the gate (unless ``--no-gate``; then
   ``python -m jobs.registry_cli gate`` does it).

A rerun of a date whose run finished on the same gold version and code reuses that run (``--force`` trains
again); its study already holds its trials, so a forced rerun refits the same parameters.

Run: ``spark-submit jobs/train.py --use-case credit_default --ds 2026-03-01`` or ``python -m jobs.train ...``
(``--n-trials 5`` overrides the configured trial count).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobs.lib import lake, metrics, modeling, reference_stats, registry, tables
from jobs.lib.cli import run_job
from jobs.lib.config import PROJECT_ROOT, Settings, UseCase, settings

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from pyspark.sql import SparkSession

CODE_VERSION_ENV = "RISKPIPE_CODE_VERSION"  # images without .git set it at build time


# --------------------------------------------------------------------------------------------- read
def code_version() -> str:
    if os.environ.get(CODE_VERSION_ENV):
        return os.environ[CODE_VERSION_ENV]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=10, check=True)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load_training_rows(spark: SparkSession, use_case: UseCase, ds: str) -> tuple[pd.DataFrame, str, int]:
    """(rows of every gold training partition up to ``ds``, table path, Delta version read)."""
    from pyspark.sql import functions as F

    table = tables.gold_training(use_case.name)
    if not lake.exists(table):
        raise modeling.TrainingDataError(f"{use_case.name} {ds}: no gold training table {table}; run the gold job "
                                         "first")
    version = lake.version(table)
    frame = lake.read(table, version=version, spark=spark).where(F.col("ds") <= ds).toPandas()
    frame.attrs = {}  # Spark Connect attaches its plan metrics here; they would follow the frame into Parquet
    return frame, table, version


# -------------------------------------------------------------------------------------------- train
@dataclass(frozen=True)
class Trained:
    """Everything one training produced, before it is logged."""

    split: modeling.TimeSplit
    spec: modeling.FeatureSpec
    search: modeling.SearchResult
    model: Any  # xgboost.XGBClassifier fitted on train + validation
    val_metrics: dict[str, float]
    holdout_metrics: dict[str, float]
    holdout_scores: np.ndarray
    reference: dict[str, Any]


def train_model(use_case: UseCase, ds: str, frame: pd.DataFrame, where: str, storage: str,
                n_trials: int | None = None, timeout_seconds: float | None = None) -> Trained:
    """Split, search, refit, evaluate (no MLflow here)."""
    cfg = use_case.model
    modeling.check_rows(frame, where)
    split = modeling.time_split(frame, use_case.event_timestamp, use_case.primary_key, cfg.split.validation_fraction,
                                cfg.split.holdout_fraction, where)
    spec = modeling.build_spec(use_case, split.fit)
    result = modeling.search(split, spec, cfg, f"{use_case.name}-{ds}", storage, n_trials, timeout_seconds)
    val_model = modeling.validation_model(split, spec, result, cfg.seed)
    val_scores = modeling.predict(val_model, modeling.prepare_features(split.validation, spec))
    model = modeling.refit(split, spec, result, cfg.seed)
    holdout_scores = modeling.predict(model, modeling.prepare_features(split.holdout, spec))
    fit_rows = split.fit
    fit_scores = modeling.predict(model, modeling.prepare_features(fit_rows, spec))
    start, end = split.window("train")[0], split.window("validation")[1]
    reference = reference_stats.compute(fit_rows, spec.numeric, spec.categorical, fit_scores,
                                        use_case.event_timestamp, start, end)
    return Trained(
        split=split, spec=spec, search=result, model=model,
        val_metrics=metrics.evaluate(split.validation[modeling.LABEL], val_scores, cfg.decision_cutoff),
        holdout_metrics=metrics.evaluate(split.holdout[modeling.LABEL], holdout_scores, cfg.decision_cutoff),
        holdout_scores=holdout_scores, reference=reference,
    )


def holdout_frame(use_case: UseCase, trained: Trained) -> pd.DataFrame:
    """What ``holdout.parquet`` holds: keys, event date, every feature column of gold (not only this model's:
    a champion trained on other features is scored on the same rows), protected attributes, label, and this
    model's score. Not the entity, PII, forbidden columns or the raw label."""
    h = trained.split.holdout
    dropped = {use_case.entity, *use_case.pii, *use_case.forbidden_features, "label_raw", "label_date", "ds"}
    columns = [*use_case.primary_key, use_case.event_timestamp,
               *[c for c in h.columns if c not in dropped and not c.startswith("outlier_")]]
    out = h[list(dict.fromkeys(columns))].copy()
    out["score"] = trained.holdout_scores
    return out


# ------------------------------------------------------------------------------------------ MLflow
def experiment_id(c: MlflowClient, use_case: str, cfg: Settings) -> str:
    """Experiment ``riskpipe/<uc>``, created with its artifacts under ``paths.mlflow_artifacts/<uc>``."""
    name = f"riskpipe/{use_case}"
    existing = c.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    root = cfg.paths.mlflow_artifacts.rstrip("/")
    location = f"{root}/{use_case}" if "://" in root else Path(root, use_case).resolve().as_uri()
    return c.create_experiment(name, artifact_location=location, tags={"use_case": use_case})


def find_run(c: MlflowClient, use_case: str, ds: str, cfg: Settings | None = None,
             extra_filter: str = "") -> Any | None:
    """The newest finished training run of ``(use_case, ds)``, or None."""
    exp = c.get_experiment_by_name(f"riskpipe/{use_case}")
    if exp is None:
        return None
    query = f"tags.logical_date = '{ds}' and attributes.status = 'FINISHED'" + extra_filter
    runs = c.search_runs([exp.experiment_id], query, order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None


def _storage_tag(storage: str) -> str:
    return storage if storage.startswith("sqlite:") else f"${modeling.OPTUNA_STORAGE_ENV}"


def signature_frame(frame: pd.DataFrame, spec: modeling.FeatureSpec) -> pd.DataFrame:
    """The model's input as callers send it: numeric float64, categorical as text (``prepare_features``
    turns it into categories)."""
    x = modeling.prepare_features(frame, spec)
    for c in spec.categorical:
        x[c] = x[c].astype("object").where(x[c].notna(), None)
    return x


def log_run(c: MlflowClient, cfg: Settings, use_case: UseCase, ds: str, trained: Trained, table: str,
            table_version: int, storage: str) -> tuple[str, str]:
    """One MLflow run with everything; returns (run_id, model_uri)."""
    import mlflow
    import xgboost as xgb
    from mlflow.models import infer_signature

    split, spec, search = trained.split, trained.spec, trained.search
    train_window, val_window, holdout_window = split.window("train"), split.window("validation"), split.window("holdout")
    tags = {
        "use_case": use_case.name, "logical_date": ds, "gold_table": table, "gold_version": str(table_version),
        "code_version": code_version(), "training_rows": str(len(split.train) + len(split.validation) + len(split.holdout)),
        "train_rows": str(len(split.train)), "validation_rows": str(len(split.validation)),
        "holdout_rows": str(len(split.holdout)),
        "train_window": "/".join(train_window), "validation_window": "/".join(val_window),
        "holdout_window": "/".join(holdout_window), "optuna_study": search.study_name,
        "optuna_storage": _storage_tag(storage), "mlflow.note.content":
            f"{use_case.name} trained on {table} v{table_version} (ds <= {ds}); holdout {holdout_window[0]}.."
            f"{holdout_window[1]}",
    }
    exp = experiment_id(c, use_case.name, cfg)
    m = use_case.model
    params = {
        **search.best_params, "n_estimators": search.n_estimators,
        "scale_pos_weight": round(modeling.scale_pos_weight(split.fit[modeling.LABEL]), 6), "seed": m.seed,
        "decision_cutoff": m.decision_cutoff, "validation_fraction": m.split.validation_fraction,
        "holdout_fraction": m.split.holdout_fraction, "n_trials": search.trials, "best_trial": search.best_trial,
        "early_stopping_rounds": modeling.EARLY_STOPPING_ROUNDS, "features": len(spec.columns),
        "categorical_features": ",".join(spec.categorical)[:6000],
    }
    sample = signature_frame(split.fit.head(200), spec)
    signature = infer_signature(sample, trained.model.predict_proba(modeling.prepare_features(split.fit.head(200),
                                                                                              spec))[:, 1])
    trials_frame = search.trials_frame
    with tempfile.TemporaryDirectory(prefix="riskpipe-train-") as tmp, \
            mlflow.start_run(experiment_id=exp, run_name=f"{use_case.name}-{ds}", tags=tags) as run:
        mlflow.log_params(params)
        mlflow.log_metrics({**{f"val_{k}": v for k, v in trained.val_metrics.items()},
                            **{f"holdout_{k}": v for k, v in trained.holdout_metrics.items()},
                            "best_trial_val_auc": search.best_value, "trials_finished": search.trials,
                            "trials_new": search.new_trials})
        files = {
            registry.FEATURE_SPEC_ARTIFACT: json.dumps(spec.to_dict(), indent=1),
            "reference_stats.json": reference_stats.dumps(trained.reference),
        }
        for name, text in files.items():
            Path(tmp, name).write_text(text, encoding="utf-8")
        trials_frame.to_csv(Path(tmp, "trials.csv"), index=False)
        holdout_frame(use_case, trained).to_parquet(Path(tmp, registry.HOLDOUT_ARTIFACT), index=False)
        for name in [*files, "trials.csv", registry.HOLDOUT_ARTIFACT]:
            mlflow.log_artifact(str(Path(tmp, name)))
        # The input example is what callers send (categoricals as text). MLflow's serving-input check feeds it
        # to the pyfunc flavor as is, which XGBoost refuses (it wants ``category`` columns: prepare_features
        # with feature_spec.json makes them), and logs a warning; silence that one check.
        model_log = logging.getLogger("mlflow.models.model")
        level = model_log.level
        model_log.setLevel(logging.ERROR)
        try:
            info = mlflow.xgboost.log_model(
                trained.model, name=registry.MODEL_ARTIFACT, signature=signature, input_example=sample.head(5),
                pip_requirements=[f"xgboost=={xgb.__version__}", f"pandas=={pd.__version__}"],
                extra_files=[str(Path(tmp, n)) for n in files], model_format="ubj",
                metadata={"use_case": use_case.name, "logical_date": ds, "feature_spec": spec.to_dict()},
            )
        finally:
            model_log.setLevel(level)
        mlflow.set_tag("model_uri", info.model_uri)
        return run.info.run_id, info.model_uri


# --------------------------------------------------------------------------------------- register+gate
def register_and_gate(c: MlflowClient, use_case: UseCase, run_id: str,
                      fairness_check: registry.FairnessCheck | None = None) -> tuple[Any, registry.GateDecision]:
    """Register the run's model as challenger (once) and run the gate on its holdout (once: a version that
    was already judged keeps its decision)."""
    version = registry.version_of_run(c, use_case.name, run_id)
    if version is not None and version.tags.get("gate_decision"):
        return version, registry.GateDecision.from_tag(version.tags["gate_decision"])
    run = c.get_run(run_id)
    if version is None:
        version = registry.register(c, use_case, run.data.tags["model_uri"], run_id,
                                    tags={"logical_date": run.data.tags.get("logical_date", ""),
                                          "gold_version": run.data.tags.get("gold_version", "")})
    holdout = registry.load_holdout(run_id)
    check = fairness_check or registry.fairness_check
    protected = holdout[[a for a in use_case.protected_attributes if a in holdout.columns]]
    fairness = check(protected, holdout[modeling.LABEL].to_numpy(), holdout["score"].to_numpy(), use_case,
                     use_case.model.decision_cutoff)
    challenger_auc = metrics.auc(holdout[modeling.LABEL].to_numpy(), holdout["score"].to_numpy())
    decision = registry.gate(c, use_case, version, challenger_auc, holdout, modeling.LABEL, fairness)
    c.set_tag(run_id, "gate_status", "passed" if decision.passed else "failed")
    c.log_dict(run_id, {**decision.to_dict(), "version": str(version.version), "fairness_detail": fairness.detail},
               "gate.json")
    return c.get_model_version(version.name, str(version.version)), decision


# ---------------------------------------------------------------------------------------------- job
@dataclass(frozen=True)
class TrainResult:
    run_id: str
    reused: bool
    metrics: dict[str, float]
    version: str | None = None
    decision: registry.GateDecision | None = None
    trials: int = 0
    new_trials: int = 0

    def __str__(self) -> str:
        m = self.metrics
        lines = [f"run {self.run_id}" + (" (reused: already trained for this date and gold version)"
                                         if self.reused else f" ({self.trials} trials, {self.new_trials} new)"),
                 f"validation AUC {m.get('val_auc', float('nan')):.4f}, holdout AUC "
                 f"{m.get('holdout_auc', float('nan')):.4f}, KS {m.get('holdout_ks', float('nan')):.4f}"]
        if self.version is not None:
            lines.append(f"model version {self.version}: gate {self.decision.summary}")
        return "\n".join(lines)


def train(spark: SparkSession, use_case: UseCase, ds: str, *, n_trials: int | None = None,
          timeout_seconds: float | None = None, gate: bool = True, force: bool = False,
          fairness_check: registry.FairnessCheck | None = None, cfg: Settings | None = None) -> TrainResult:
    cfg = cfg or settings()
    if use_case.model is None:
        raise modeling.TrainingDataError(f"{use_case.source_file}: use case '{use_case.name}' has no 'model' "
                                         "section; nothing to train")
    c = registry.client(cfg)
    frame, table, table_version = load_training_rows(spark, use_case, ds)
    previous = None if force else find_run(
        c, use_case.name, ds, cfg, f" and tags.gold_version = '{table_version}' and tags.code_version = "
                                   f"'{code_version()}'")
    if previous is not None:
        run_id, reused, run_metrics = previous.info.run_id, True, dict(previous.data.metrics)
        trials = int(run_metrics.get("trials_finished", 0))
        new_trials = 0
    else:
        storage = modeling.optuna_storage(cfg)
        trained = train_model(use_case, ds, frame, f"{table} (ds <= {ds})", storage, n_trials, timeout_seconds)
        run_id, _ = log_run(c, cfg, use_case, ds, trained, table, table_version, storage)
        reused = False
        run_metrics = {**{f"val_{k}": v for k, v in trained.val_metrics.items()},
                       **{f"holdout_{k}": v for k, v in trained.holdout_metrics.items()}}
        trials, new_trials = trained.search.trials, trained.search.new_trials
    result = TrainResult(run_id=run_id, reused=reused, metrics=run_metrics, trials=trials, new_trials=new_trials)
    if gate:
        version, decision = register_and_gate(c, use_case, run_id, fairness_check)
        result = dataclasses.replace(result, version=str(version.version), decision=decision)
    return result


def run(spark: SparkSession, use_case: UseCase, ds: str, n_trials: int | None = None, no_gate: bool = False,
        force: bool = False) -> str:
    return str(train(spark, use_case, ds, n_trials=n_trials, gate=not no_gate, force=force))


def _options(parser) -> None:
    parser.add_argument("--n-trials", type=int, default=None, metavar="N",
                        help="total Optuna trials of the study (default: model.search.n_trials of the use case)")
    parser.add_argument("--no-gate", action="store_true",
                        help="stop after the MLflow run; register and gate later with `python -m jobs.registry_cli "
                             "gate`")
    parser.add_argument("--force", action="store_true",
                        help="train again even if a finished run exists for this date, gold version and code")


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("Train the use case's model on gold training rows up to the date; log to MLflow; register as "
                   "challenger and run the quality gate.", run, argv, configure=_options)


if __name__ == "__main__":
    sys.exit(main())
