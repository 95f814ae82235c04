"""Training logic of a use case's model: feature matrix, time split, Optuna search over XGBoost, refit.

Pure functions on pandas frames (the job collects the gold training rows to the driver: a few thousand).
The job (:mod:`jobs.train`) reads, calls these, and logs to MLflow.

**Feature matrix.** The features are the use case's configured ``features`` (numeric, categorical and
derived), minus anything that must never reach a model: keys, entity, event date, protected attributes
(kept beside the matrix for fairness checks only — e.g. ``age_in_years`` is configured as a feature of
``credit_default`` but is protected, so the model does not see it), PII, forbidden features, the label
columns and the ``outlier_*`` flags. Numeric columns become ``float64``; categorical columns become pandas
``category`` with the categories seen in the training window, and XGBoost splits on them natively
(``enable_categorical=True``) rather than on one-hot columns: one column per feature keeps the model's
input the gold columns as they are (no encoder artifact to version beside the model), gives per-feature
(not per-level) SHAP contributions for reason codes, and lets a split group several levels. The
categories are saved with the model (:class:`FeatureSpec`, artifact ``feature_spec.json``); XGBoost >= 3.1
stores them in the booster too and re-codes a frame whose categories are in another order. Scoring must
build its frame with :func:`prepare_features` and that spec: a level unseen in training becomes missing
(XGBoost refuses unseen categories outright).

**Time split.** Rows are ordered by event date (ties by the primary key, so the order is deterministic);
the oldest ``1 - validation - holdout`` share trains, the next share validates (early stopping, Optuna's
objective), the most recent share is the holdout (only for the final evaluation and the quality gate).
When the window holds few distinct dates a cut can fall inside one date; no row of a later split is
older than any row of an earlier one.

**Search.** Optuna TPE (seeded) over ``model.search.space``; each trial fits on train with early stopping on
validation AUC (``EARLY_STOPPING_ROUNDS``) and Optuna's ``XGBoostPruningCallback`` (from ``optuna-integration``;
median pruner, validation AUC reported every ``PRUNING_INTERVAL`` rounds) stopping unpromising trials early;
``scale_pos_weight`` = negatives / positives of the fitting data; one XGBoost thread, seeds fixed. The study lives
in an RDB (SQLite file beside the MLflow store by default, :func:`optuna_storage`), named
``<use_case>-<ds>`` and loaded if it exists: a search interrupted by a crash resumes and runs only the
missing trials (``n_trials`` is the study's total); a rerun of a finished date runs none and refits the
same best parameters.

**Refit.** The final model is fitted on train + validation with the best trial's parameters and the
number of trees early stopping found (``best_iteration + 1``).
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobs.lib.config import Distribution, ModelSettings, Settings, UseCase

if TYPE_CHECKING:
    import optuna
    import xgboost as xgb

LABEL = "label"  # the 0/1 label column of gold training (1 = the use case's positive class)
LABEL_COLUMNS = ("label", "label_raw", "label_date")  # written by jobs/gold.py build_training
EARLY_STOPPING_ROUNDS = 30
MIN_ROWS = 50  # fewer labelled rows cannot be split into train / validation / holdout meaningfully
MIN_PER_CLASS = 2  # each split needs both classes for an AUC; fewer positives than this in a split fails
OPTUNA_STORAGE_ENV = "RISKPIPE_OPTUNA_STORAGE"  # e.g. postgresql://... on a cluster
PRUNING_WARMUP_STEPS = 10  # boosting rounds before a trial can be pruned
PRUNING_INTERVAL = 5  # report validation AUC to Optuna every this many rounds (each report is a storage write)
# One thread: a few thousand rows gain nothing from more, and the driver shares its cores with Spark.
XGB_THREADS = 1


class TrainingDataError(ValueError):
    """The training rows cannot train a model (too few, one class); the message names table and counts."""


# ------------------------------------------------------------------------------------ feature matrix
@dataclass(frozen=True)
class FeatureSpec:
    """The model's input: numeric and categorical columns, and the categories seen in training."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def to_dict(self) -> dict[str, Any]:
        return {"numeric": list(self.numeric), "categorical": list(self.categorical),
                "categories": {c: list(v) for c, v in self.categories.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(numeric=tuple(data["numeric"]), categorical=tuple(data["categorical"]),
                   categories={c: tuple(v) for c, v in data.get("categories", {}).items()})


def excluded_columns(use_case: UseCase) -> set[str]:
    """Columns that never enter the feature matrix (see the module docstring)."""
    return {*use_case.primary_key, use_case.entity, use_case.event_timestamp, *use_case.protected_attributes,
            *use_case.pii, *use_case.forbidden_features, use_case.label.column, *LABEL_COLUMNS, "ds"}


def feature_columns(use_case: UseCase, columns: Sequence[str]) -> list[str]:
    """The configured features present in ``columns``, minus the excluded ones, in configuration order."""
    excluded = excluded_columns(use_case)
    missing = [c for c in use_case.features.names if c not in columns and c not in excluded]
    if missing:
        raise TrainingDataError(f"{use_case.name}: gold training rows lack configured feature(s) {missing}")
    return [c for c in use_case.features.names if c not in excluded and not c.startswith("outlier_")]


def build_spec(use_case: UseCase, frame: pd.DataFrame) -> FeatureSpec:
    """The feature spec of a training frame: string/object/category columns are categorical."""
    numeric, categorical, categories = [], [], {}
    for c in feature_columns(use_case, list(frame.columns)):
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s):
            categorical.append(c)
            categories[c] = tuple(sorted(str(v) for v in s.dropna().unique()))
        else:
            numeric.append(c)
    return FeatureSpec(numeric=tuple(numeric), categorical=tuple(categorical), categories=categories)


def prepare_features(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The model's input frame: numeric as float64, categorical as ``category`` with the spec's
    categories (a value unseen in training becomes missing). Columns in the spec's order."""
    missing = [c for c in spec.columns if c not in frame.columns]
    if missing:
        raise KeyError(f"frame lacks model feature(s) {missing}")
    out = {}
    for c in spec.numeric:
        out[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    for c in spec.categorical:
        values = frame[c].astype("object").where(frame[c].notna(), None)
        values = values.map(lambda v: None if v is None else str(v))
        out[c] = pd.Categorical(values, categories=list(spec.categories.get(c, ())))
    return pd.DataFrame(out, index=frame.index)[spec.columns]


def check_rows(frame: pd.DataFrame, where: str) -> None:
    """Fail clearly when ``frame`` cannot train: too few rows or a single class."""
    n = len(frame)
    positives = int(frame[LABEL].sum()) if n else 0
    if n < MIN_ROWS:
        raise TrainingDataError(f"{where}: {n} labelled rows ({positives} positive); need at least {MIN_ROWS}")
    if positives == 0 or positives == n:
        raise TrainingDataError(f"{where}: all {n} labelled rows have label {int(positives == n)}; "
                                "a model needs both classes")


# ---------------------------------------------------------------------------------------- time split
@dataclass(frozen=True)
class TimeSplit:
    train: pd.DataFrame
    validation: pd.DataFrame
    holdout: pd.DataFrame
    event_column: str

    def window(self, part: str) -> tuple[str, str]:
        """First and last event date of a part (ISO dates)."""
        dates = pd.to_datetime(getattr(self, part)[self.event_column])
        return dates.min().date().isoformat(), dates.max().date().isoformat()

    @property
    def fit(self) -> pd.DataFrame:
        """Train + validation: what the final model is fitted on."""
        return pd.concat([self.train, self.validation])


def time_split(frame: pd.DataFrame, event_column: str, keys: Sequence[str], validation_fraction: float,
               holdout_fraction: float, where: str = "training rows") -> TimeSplit:
    """Oldest rows train, then validation, the most recent rows holdout (see the module docstring)."""
    ordered = frame.sort_values([event_column, *keys], kind="mergesort").reset_index(drop=True)
    n = len(ordered)
    n_holdout = max(1, int(round(n * holdout_fraction)))
    n_validation = max(1, int(round(n * validation_fraction)))
    n_train = n - n_validation - n_holdout
    parts = {"train": ordered.iloc[:n_train], "validation": ordered.iloc[n_train:n_train + n_validation],
             "holdout": ordered.iloc[n_train + n_validation:]}
    for name, part in parts.items():
        positives = int(part[LABEL].sum())
        if min(positives, len(part) - positives) < MIN_PER_CLASS:
            raise TrainingDataError(
                f"{where}: the {name} split ({len(part)} rows, {positives} positive) needs at least "
                f"{MIN_PER_CLASS} rows of each class; {n} rows in all, {int(ordered[LABEL].sum())} positive")
    return TimeSplit(event_column=event_column, **{k: v.reset_index(drop=True) for k, v in parts.items()})


# -------------------------------------------------------------------------------------------- model
def scale_pos_weight(y: Sequence[int]) -> float:
    y = np.asarray(y)
    positives = int(y.sum())
    return float((len(y) - positives) / positives) if positives else 1.0


def base_params(seed: int) -> dict[str, Any]:
    """Parameters every model shares (the searched ones come on top)."""
    return {"objective": "binary:logistic", "tree_method": "hist", "enable_categorical": True,
            "max_cat_to_onehot": 1, "random_state": seed, "n_jobs": XGB_THREADS, "eval_metric": "auc"}


def fit(params: dict[str, Any], seed: int, X: pd.DataFrame, y: np.ndarray,
        validation: tuple[pd.DataFrame, np.ndarray] | None = None,
        callbacks: Sequence[Any] | None = None) -> xgb.XGBClassifier:
    """One XGBoost classifier; with ``validation``, early stopping on its AUC."""
    import xgboost as xgb

    kwargs = {**base_params(seed), **params, "scale_pos_weight": scale_pos_weight(y)}
    if validation is not None:
        kwargs["early_stopping_rounds"] = EARLY_STOPPING_ROUNDS
    if callbacks:
        kwargs["callbacks"] = list(callbacks)
    model = xgb.XGBClassifier(**kwargs)
    model.fit(X, y, eval_set=[validation] if validation is not None else None, verbose=False)
    return model


def predict(model: xgb.XGBClassifier, X: pd.DataFrame) -> np.ndarray:
    """Probability of the positive class."""
    return model.predict_proba(X)[:, 1]


# ------------------------------------------------------------------------------------------- search
def optuna_storage(cfg: Settings) -> str:
    """Where studies live: ``$RISKPIPE_OPTUNA_STORAGE``, else ``optuna.db`` beside a SQLite MLflow store,
    else ``<project>/.mlflow/optuna.db``."""
    explicit = os.environ.get(OPTUNA_STORAGE_ENV)
    if explicit:
        return explicit
    uri = cfg.paths.mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        folder = Path(uri[len("sqlite:///"):]).parent
    elif "://" not in cfg.paths.mlflow_artifacts:
        folder = Path(cfg.paths.mlflow_artifacts).parent
    else:
        from jobs.lib.config import PROJECT_ROOT

        folder = PROJECT_ROOT / ".mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'optuna.db'}"


def suggest(trial: optuna.Trial, space: dict[str, Distribution]) -> dict[str, Any]:
    """The trial's XGBoost parameters drawn from the configured distributions."""
    params: dict[str, Any] = {}
    for name, d in space.items():
        if d.type == "int":
            params[name] = trial.suggest_int(name, int(d.low), int(d.high), step=int(d.step or 1), log=d.log)
        elif d.type == "float":
            params[name] = trial.suggest_float(name, float(d.low), float(d.high), step=d.step, log=d.log)
        else:
            params[name] = trial.suggest_categorical(name, list(d.choices))
    return params


@dataclass(frozen=True)
class SearchResult:
    study_name: str
    storage: str
    best_params: dict[str, Any]
    best_iteration: int  # 0-based boosting round of the best validation AUC
    best_value: float  # validation AUC of the best trial
    best_trial: int
    trials: int  # finished trials (complete + pruned) of the study
    new_trials: int  # trials this call ran
    trials_frame: pd.DataFrame

    @property
    def n_estimators(self) -> int:
        return self.best_iteration + 1


def open_study(study_name: str, storage: str, seed: int) -> optuna.Study:
    """Create or load the study (RDB storage with heartbeats, so a crashed run's trial is failed and
    not counted when the study resumes)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        rdb = optuna.storages.RDBStorage(storage, heartbeat_interval=10, grace_period=30)
    return optuna.create_study(
        study_name=study_name, storage=rdb, direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=PRUNING_WARMUP_STEPS),
    )


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def _pruning_callback(trial: optuna.Trial) -> Any:
    """Optuna's XGBoost pruning callback on validation AUC, reporting every ``PRUNING_INTERVAL`` rounds
    (each report and prune check reads and writes the study's storage; every round is too chatty)."""
    from optuna_integration.xgboost import XGBoostPruningCallback

    class SparsePruning(XGBoostPruningCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
            if epoch % PRUNING_INTERVAL:
                return False
            return super().after_iteration(model, epoch, evals_log)

    return SparsePruning(trial, "validation_0-auc")


def search(split: TimeSplit, spec: FeatureSpec, settings: ModelSettings, study_name: str, storage: str,
           n_trials: int | None = None, timeout_seconds: float | None = None) -> SearchResult:
    """Run (or resume) the study until it holds ``n_trials`` finished trials or the timeout passes."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X_train, y_train = prepare_features(split.train, spec), split.train[LABEL].to_numpy()
    X_val, y_val = prepare_features(split.validation, spec), split.validation[LABEL].to_numpy()
    seed = settings.seed

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, settings.search.space)
        pruning = _pruning_callback(trial)
        model = fit(params, seed, X_train, y_train, validation=(X_val, y_val), callbacks=[pruning])
        trial.set_user_attr("best_iteration", int(model.best_iteration))
        return float(model.best_score)

    study = open_study(study_name, storage, seed)
    total = settings.search.n_trials if n_trials is None else n_trials
    done_before = len(finished_trials(study))
    remaining = max(0, total - done_before)
    if remaining:
        study.optimize(objective, n_trials=remaining,
                       timeout=settings.search.timeout_seconds if timeout_seconds is None else timeout_seconds)
    finished = finished_trials(study)
    if not any(t.state == TrialState.COMPLETE for t in finished):
        raise RuntimeError(f"study {study_name}: no trial completed ({len(finished)} pruned)")
    best = study.best_trial
    frame = study.trials_dataframe(attrs=("number", "value", "state", "params", "user_attrs", "duration"))
    return SearchResult(study_name=study_name, storage=storage, best_params=dict(best.params),
                        best_iteration=int(best.user_attrs["best_iteration"]), best_value=float(best.value),
                        best_trial=best.number, trials=len(finished), new_trials=len(finished) - done_before,
                        trials_frame=frame)


def refit(split: TimeSplit, spec: FeatureSpec, result: SearchResult, seed: int) -> xgb.XGBClassifier:
    """The final model: train + validation, best parameters, the tree count early stopping found."""
    fit_rows = split.fit
    params = {**result.best_params, "n_estimators": result.n_estimators}
    return fit(params, seed, prepare_features(fit_rows, spec), fit_rows[LABEL].to_numpy())


def validation_model(split: TimeSplit, spec: FeatureSpec, result: SearchResult, seed: int) -> xgb.XGBClassifier:
    """The best trial's model (train only, best tree count): its validation metrics are honest."""
    params = {**result.best_params, "n_estimators": result.n_estimators}
    return fit(params, seed, prepare_features(split.train, spec), split.train[LABEL].to_numpy())
