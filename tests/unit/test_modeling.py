"""Training logic without Spark: feature matrix, time split, the Optuna study and its resume."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import optuna
import pandas as pd
import pytest

from jobs.lib import modeling
from jobs.lib.config import Distribution, ModelSettings, Search, Split, load_use_case


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """A credit-like frame: signal in x and in category c, dates over 10 days in shuffled order."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    c = rng.choice(["low", "mid", "high"], size=n)
    logit = 1.5 * x + np.select([c == "high", c == "low"], [1.0, -1.0], 0.0) - 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    dates = [dt.date(2026, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 10, size=n)]
    return pd.DataFrame({"id": [f"k{i:04d}" for i in range(n)], "event_date": dates, "x": x, "c": c, "label": y})


def test_time_split_puts_the_most_recent_rows_in_the_holdout():
    frame = _frame()
    split = modeling.time_split(frame, "event_date", ["id"], 0.2, 0.25)
    assert (len(split.train), len(split.validation), len(split.holdout)) == (110, 40, 50)
    assert split.train.event_date.max() <= split.validation.event_date.min()
    assert split.validation.event_date.max() <= split.holdout.event_date.min()
    assert split.holdout.event_date.max() == frame.event_date.max()
    assert set(split.train.id) | set(split.validation.id) | set(split.holdout.id) == set(frame.id)
    again = modeling.time_split(frame.sample(frac=1, random_state=3), "event_date", ["id"], 0.2, 0.25)
    assert list(again.holdout.id) == list(split.holdout.id)  # deterministic whatever the input order
    assert split.window("holdout")[1] == frame.event_date.max().isoformat()


def test_a_split_without_both_classes_is_refused_with_counts():
    frame = _frame().sort_values(["event_date", "id"]).reset_index(drop=True)
    frame.loc[160:, "label"] = 0  # the 40 most recent rows: the holdout has no positive
    with pytest.raises(modeling.TrainingDataError, match=r"gold/x: the holdout split \(40 rows, 0 positive\)"):
        modeling.time_split(frame, "event_date", ["id"], 0.2, 0.2, where="gold/x")


def test_too_few_rows_or_one_class_is_refused_naming_the_table():
    frame = _frame()
    with pytest.raises(modeling.TrainingDataError, match=r"gold/t \(ds <= 2026-01-05\): 10 labelled rows \(\d+ "
                                                         r"positive\); need at least 50"):
        modeling.check_rows(frame.head(10), "gold/t (ds <= 2026-01-05)")
    with pytest.raises(modeling.TrainingDataError, match="all 200 labelled rows have label 0"):
        modeling.check_rows(frame.assign(label=0), "gold/t")


def test_feature_matrix_leaves_out_keys_protected_label_and_outlier_flags():
    credit = load_use_case("credit_default")
    gold_columns = ["application_id", "customer_id", "application_date", *credit.features.names,
                    "personal_status_and_sex", "foreign_worker", "outlier_iqr_credit_amount", "label", "label_raw",
                    "label_date", "ds"]
    columns = modeling.feature_columns(credit, gold_columns)
    assert "age_in_years" in credit.features.names and "age_in_years" not in columns  # protected
    assert {"application_id", "customer_id", "application_date", "label", "label_raw", "ds",
            "personal_status_and_sex", "outlier_iqr_credit_amount"}.isdisjoint(columns)
    assert {"credit_amount", "purpose", "monthly_burden", "prior_applications_90d"} <= set(columns)
    lead = load_use_case("lead_scoring")
    assert "duration" not in modeling.feature_columns(lead, [*lead.schema, *lead.features.names])
    with pytest.raises(modeling.TrainingDataError, match=r"lack configured feature\(s\) \['monthly_burden'"):
        modeling.feature_columns(credit, [c for c in gold_columns if c != "monthly_burden"])


def test_prepare_features_types_columns_and_maps_unseen_categories_to_missing():
    spec = modeling.FeatureSpec(numeric=("x",), categorical=("c",), categories={"c": ("high", "low")})
    frame = pd.DataFrame({"c": ["low", "brand-new", None], "x": [1, None, 3], "other": [0, 0, 0]})
    out = modeling.prepare_features(frame, spec)
    assert list(out.columns) == ["x", "c"] and out.x.dtype == "float64" and math.isnan(out.x[1])
    assert list(out.c.cat.categories) == ["high", "low"]
    assert out.c[0] == "low" and pd.isna(out.c[1]) and pd.isna(out.c[2])
    assert modeling.FeatureSpec.from_dict(spec.to_dict()) == spec


def _settings(n_trials: int) -> ModelSettings:
    space = {"max_depth": Distribution("int", 2, 4), "learning_rate": Distribution("float", 0.05, 0.3, log=True),
             "n_estimators": Distribution("int", 20, 60)}
    return ModelSettings(seed=42, decision_cutoff=0.5, split=Split(0.2, 0.2),
                         search=Search(n_trials=n_trials, timeout_seconds=60, space=space))


def test_an_interrupted_study_resumes_where_it_stopped(tmp_path):
    frame = _frame(300)
    split = modeling.time_split(frame, "event_date", ["id"], 0.2, 0.2)
    spec = modeling.FeatureSpec(numeric=("x",), categorical=("c",), categories={"c": ("high", "low", "mid")})
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"

    first = modeling.search(split, spec, _settings(2), "uc-2026-01-10", storage)  # "interrupted" after 2 trials
    assert (first.trials, first.new_trials) == (2, 2)
    with pytest.warns(UserWarning, match="Heartbeat"):  # ask() outside optimize(): no heartbeat, as if killed
        modeling.open_study("uc-2026-01-10", storage, seed=42).ask()  # a trial left running by a killed process
    resumed = modeling.search(split, spec, _settings(4), "uc-2026-01-10", storage)
    assert (resumed.trials, resumed.new_trials) == (4, 2)  # the abandoned trial does not count
    study = optuna.load_study(study_name="uc-2026-01-10", storage=storage)
    finished = [t.number for t in study.trials if t.state.is_finished()]
    assert finished == [0, 1, 3, 4]  # numbering continues after the abandoned trial 2, nothing restarted
    done = modeling.search(split, spec, _settings(4), "uc-2026-01-10", storage)
    assert done.new_trials == 0 and done.best_params == resumed.best_params  # a rerun of the date refits the same
    assert resumed.best_value > 0.6 and resumed.n_estimators == resumed.best_iteration + 1
    assert len(resumed.trials_frame) == 5 and "params_max_depth" in resumed.trials_frame  # with the abandoned one

    model = modeling.refit(split, spec, resumed, seed=42)
    scores = modeling.predict(model, modeling.prepare_features(split.holdout, spec))
    assert model.n_estimators == resumed.n_estimators and ((scores >= 0) & (scores <= 1)).all()
