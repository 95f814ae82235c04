"""The drift job on real Delta tables and a real MLflow store (SQLite + local artifacts in a tmp dir).

The champion is a tiny XGBoost model registered by hand with a ``reference_stats.json`` computed (with
:func:`jobs.lib.reference_stats.compute`, as training does) on the German credit sample's 1000 rows; no training
run. Gold features: D1 a bootstrap resample of those rows (no drift), D2 the same with ``duration_in_month``
doubled. The day's scores (D1 only; written here to the scoring contract in ``jobs/lib/scoring.py``) and the
silver quarantine/quality records (D2) are hand-made too.

One scenario, in order: the job before any champion (writes nothing); D1; D2; D2 again through the command line.
"""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT, own_store
from tests.integration.train_data import derived_features, german_credit_events

pytestmark = pytest.mark.slow
D1, D2, D_EMPTY = "2026-03-01", "2026-03-02", "2026-03-03"
DAY_ROWS = 600


def _features(use_case):
    from jobs.lib.modeling import excluded_columns

    excluded = excluded_columns(use_case)
    numeric = [c for c in [*use_case.features.numeric, *(d.name for d in use_case.features.derived)]
               if c not in excluded]
    categorical = [c for c in use_case.features.categorical if c not in excluded]
    return numeric, categorical


def _gold_frame(spark, use_case, pdf: pd.DataFrame, ds: str):
    numeric, categorical = _features(use_case)
    keys = [*use_case.primary_key, use_case.entity, use_case.event_timestamp]
    types = {**use_case.schema, **{d.name: ("bigint" if d.fn == "prior_event_count" else "double")
                                   for d in use_case.features.derived}}
    columns = list(dict.fromkeys([*keys, *numeric, *categorical, *use_case.protected_attributes]))
    rows = pdf[columns].astype(object).where(pdf[columns].notna(), None)
    df = spark.createDataFrame(rows, ", ".join(f"`{c}` {types[c]}" for c in columns))
    from pyspark.sql import functions as F

    return df.withColumn("ds", F.lit(ds))


def _register_champion(use_case, reference: dict, tmp) -> str:
    """A run with ``reference_stats.json`` and a tiny XGBoost model, registered and aliased champion."""
    import mlflow
    import xgboost as xgb

    from jobs.lib import reference_stats, registry

    from jobs import train
    from jobs.lib.config import settings

    c = registry.client()
    experiment = train.experiment_id(c, use_case.name, settings())  # artifacts in the tmp store, as training does
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    model = xgb.XGBClassifier(n_estimators=2, max_depth=1).fit(x, (x[:, 0] > 0).astype(int))
    path = tmp / "reference_stats.json"
    path.write_text(reference_stats.dumps(reference), encoding="utf-8")
    with mlflow.start_run(experiment_id=experiment, run_name="drift-test-champion") as run:
        mlflow.log_artifact(str(path))
        info = mlflow.xgboost.log_model(model, name="model")
    version = registry.register(c, use_case, info.model_uri, run.info.run_id)
    registry.promote(c, use_case.name, str(version.version))
    return str(version.version)


def _write_scores(spark, use_case, ds: str, version: str, champion: np.ndarray, canary: np.ndarray) -> None:
    """A ``scores/<uc>/daily`` partition to the scoring contract: champion rows and (shifted) canary rows."""
    from jobs.lib import lake, tables

    day = dt.date.fromisoformat(ds)
    now = dt.datetime(2026, 3, 2, 3, 0)
    rows = [(f"A{i:05d}", f"{i:064x}", day, float(s), "approve", None, None, use_case.name, v, alias, role, "r", now,
             day)
            for i, (s, v, alias, role) in enumerate(
                [(s, version, "champion", "champion") for s in champion]
                + [(s, "99", "challenger", "canary") for s in canary])]
    schema = ("application_id STRING, entity_id STRING, event_date DATE, score DOUBLE, band STRING, "
              "reason_codes ARRAY<STRING>, reason_contributions ARRAY<DOUBLE>, model_name STRING, model_version STRING, "
              "model_alias STRING, model_role STRING, run_id STRING, scored_at TIMESTAMP, score_date DATE")
    lake.write(spark.createDataFrame(rows, schema), tables.scores(use_case.name), mode="overwrite",
               partition_by=["score_date"], replace_where=f"score_date = '{ds}'")


def _write_silver_records(spark, use_case, ds: str) -> None:
    """Silver's quarantine and quality records of ``ds``: 500 rows in; 12 failed the purpose value set, 3 the housing
    value set together with an age range, 4 only the age range, 2 a type cast."""
    from jobs.lib import quality

    def q(i, reason, rule="expectation"):
        return ("events", f"{use_case.name}/events/{ds}", "part-0.csv", i, f"part-0.csv:{i}", f"A{i}", reason, rule,
                "{}")

    rows = ([q(i, "expect_column_values_to_be_in_set(purpose)") for i in range(12)]
            + [q(100 + i, "expect_column_values_to_be_between(age_in_years); "
                          "expect_column_values_to_be_in_set(housing)") for i in range(3)]
            + [q(200 + i, "expect_column_values_to_be_between(age_in_years)") for i in range(4)]
            + [q(300 + i, "type: duration_in_month = 'x' is not int", "type") for i in range(2)])
    frame = spark.createDataFrame(rows, "stream STRING, batch_id STRING, source_file STRING, row_number BIGINT, "
                                        "row_id STRING, record_key STRING, reason STRING, rule STRING, raw STRING")
    quality.write_quarantine(spark, use_case.name, ds, "silver", frame)
    quality.write_quality(spark, use_case.name, ds, "silver", [
        quality.BatchQuality(stream="events", batch_id=f"{use_case.name}/events/{ds}", rows_in=500, rows_out=479,
                             quarantined=21),
        quality.BatchQuality(stream="labels", batch_id=f"{use_case.name}/labels/{ds}", rows_in=40, rows_out=40)])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, spark):
    from jobs import drift as job
    from jobs.lib import config, lake, reference_stats, tables

    root = tmp_path_factory.mktemp("drift")
    with own_store(root):
        credit = config.load_use_case("credit_default")
        events = derived_features(german_credit_events(credit), credit)
        numeric, categorical = _features(credit)
        rng = np.random.default_rng(42)
        train_scores = rng.beta(2, 5, len(events))
        reference = reference_stats.compute(events, numeric, categorical, train_scores, credit.event_timestamp,
                                            "2026-01-01", "2026-01-20")
        day1 = events.iloc[rng.integers(0, len(events), DAY_ROWS)].reset_index(drop=True)
        day2 = events.iloc[rng.integers(0, len(events), DAY_ROWS)].reset_index(drop=True)
        day2["duration_in_month"] = day2["duration_in_month"] * 2
        gold = tables.gold_features(credit.name)
        lake.write(_gold_frame(spark, credit, day1, D1).unionByName(_gold_frame(spark, credit, day2, D2)), gold,
                   mode="overwrite", partition_by=["ds"])

        before = job.run(spark, credit, D1)  # no champion yet
        wrote_before = lake.exists(tables.drift(credit.name))
        version = _register_champion(credit, reference, root)
        _write_scores(spark, credit, D1, version, rng.beta(2, 5, 400), rng.beta(5, 2, 60))
        _write_silver_records(spark, credit, D2)
        first = job.run(spark, credit, D1)
        second = job.run(spark, credit, D2)
        rows_d2 = _drift_rows(D2)
        rerun_exit = job.main(["--use-case", "credit_default", "--ds", D2])
        with pytest.raises(FileNotFoundError) as missing:
            job.run(spark, credit, D_EMPTY)
        yield dict(use_case=credit, version=version, before=before, wrote_before=wrote_before, first=first,
                   second=second, rows_d2=rows_d2, rerun_exit=rerun_exit, rerun_rows=_drift_rows(D2),
                   rows_d1=_drift_rows(D1), missing=str(missing.value), numeric=numeric, categorical=categorical,
                   gold=gold)


def _drift_rows(ds: str) -> pd.DataFrame:
    from deltalake import DeltaTable

    from jobs.lib import tables

    frame = DeltaTable(tables.drift("credit_default")).to_pandas()
    frame = frame[frame["ds"].astype(str) == ds]
    return frame.sort_values(["feature", "metric"]).reset_index(drop=True)


def _status(rows: pd.DataFrame, feature: str, metric: str) -> tuple[float, str]:
    row = rows[(rows.feature == feature) & (rows.metric == metric)].iloc[0]
    return float(row.value), row.status


def test_without_a_champion_nothing_is_written(scenario):
    assert "no champion for model 'credit_default'" in scenario["before"] and not scenario["wrote_before"]


def test_a_day_without_drift_has_no_alerts(scenario):
    rows = scenario["rows_d1"]
    numeric, categorical = scenario["numeric"], scenario["categorical"]
    status_rows = rows[rows.status.notna()]
    assert (status_rows.status != "alert").all(), status_rows[status_rows.status == "alert"]
    assert set(rows[rows.metric == "psi"].feature) == {*numeric, *categorical, "__score__"}
    assert set(rows[rows.metric == "ks_pvalue"].feature) == set(numeric)
    assert set(rows[rows.metric == "chi2_pvalue"].feature) == set(categorical)
    assert set(rows[rows.status.notna()].metric) == {"psi", "ks_pvalue", "chi2_pvalue"}  # no silver record for D1
    assert (rows.model_version == scenario["version"]).all() and (rows.use_case == "credit_default").all()
    psi = rows[rows.metric == "psi"].set_index("feature").value
    assert (psi < 0.1).all(), psi
    score = rows[(rows.feature == "__score__")].iloc[0]
    assert score["rows"] == 400  # the 60 canary rows (another version, shifted) are not the champion's
    assert f"vs champion v{scenario['version']}: 0 alerts" in scenario["first"]
    assert "new_category_share skipped: no silver events quality record" in scenario["first"]


def test_a_shifted_feature_alerts(scenario):
    rows = scenario["rows_d2"]
    value, status = _status(rows, "duration_in_month", "psi")
    assert value > 0.25 and status == "alert"
    assert _status(rows, "duration_in_month", "ks_pvalue")[1] == "alert"
    assert _status(rows, "credit_amount", "psi")[1] == "ok"
    assert "duration_in_month psi" in scenario["second"] and "alerts (" in scenario["second"]
    assert "score skipped: no champion scores for score_date=2026-03-02" in scenario["second"]
    ks = rows[rows.metric == "ks_statistic"]
    assert ks.status.isna().all() and (ks.threshold == 0.1).all()
    assert rows[rows.metric == "psi"].threshold.eq(0.25).all()


def test_new_category_share_comes_from_the_value_set_quarantine(scenario):
    rows = scenario["rows_d2"]
    shares = rows[rows.metric == "new_category_share"].set_index("feature")
    suite = json.loads((PROJECT_ROOT / "expectations" / f"{scenario['use_case'].expectation_suite}.json").read_text())
    value_set = {e["kwargs"]["column"] for e in suite["expectations"] if e["type"] == "expect_column_values_to_be_in_set"}
    assert set(shares.index) == value_set
    assert shares.loc["purpose", "value"] == pytest.approx(12 / 500) and shares.loc["purpose", "status"] == "alert"
    assert shares.loc["housing", "value"] == pytest.approx(3 / 500) and shares.loc["housing", "status"] == "warn"
    assert shares.loc["job", "value"] == 0 and shares.loc["job", "status"] == "ok"
    assert (shares["rows"] == 500).all() and (shares.threshold == 0.02).all()


def test_a_rerun_replaces_the_days_rows(scenario):
    assert scenario["rerun_exit"] == 0
    before, after = scenario["rows_d2"], scenario["rerun_rows"]
    assert len(after) == len(before)
    columns = [c for c in before.columns if c != "computed_at"]
    pd.testing.assert_frame_equal(before[columns], after[columns])
    assert after.computed_at.nunique() == 1 and after.computed_at.iloc[0] > before.computed_at.iloc[0]
    assert len(scenario["rows_d1"]) > 0  # the other date is untouched


def test_a_missing_gold_partition_is_a_clear_error(scenario):
    assert "has no rows for ds=2026-03-03" in scenario["missing"] and scenario["gold"] in scenario["missing"]
    assert scenario["gold"].endswith("gold/credit_default/features")
