"""The nightly score job on real Delta tables, a real MLflow store and a real SparkSession.

One scenario, in order (module fixture), on German credit gold feature partitions built straight from the sample
(``D0`` 100 rows, ``D1`` 900 rows, ``D2`` 200 rows of returning customers, ``D3`` none):

1. no model registered: nothing scored, nothing written;
2. one small model trained (2 Optuna trials, floor lowered) becomes champion v1; ``D0``, ``D1`` and the newer
   ``D2`` scored;
3. a second small model (other features) registered as challenger v2: the older ``D1`` scored again (canary,
   shadow; the latest table keeps ``D2``'s scores), and once more (deterministic);
4. the challenger alias removed: ``D1`` scored again (the same partition as in 2; shadow partition emptied);
   the empty ``D3`` scored.

Snapshots of the tables after each step are what the tests assert on (7 scoring runs, 2 small trainings).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import configured, own_store
from tests.integration.train_data import derived_features, german_credit_events, write_gold_training

pytestmark = pytest.mark.slow
TRIALS = 2
D0, D1, D2, D3 = "2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"
KEY = "application_id"
NO_CHAMPION = "no champion for credit_default yet: nothing scored"


# -------------------------------------------------------------------------------------------- data
def gold_frames(use_case) -> dict[str, pd.DataFrame]:
    """Gold feature rows per ds: events of the sample with their derived features, dated on their ds."""
    events = derived_features(german_credit_events(use_case), use_case)
    parts = {D0: events.iloc[:100].copy(), D1: events.iloc[100:].copy()}
    returning = events.iloc[100:300].copy()  # customers of D1 applying again on D2
    returning[KEY] = returning[KEY] + "-2"
    parts[D2] = returning
    for ds, frame in parts.items():
        frame[use_case.event_timestamp] = dt.date.fromisoformat(ds)
    return parts


def write_gold_features(spark, use_case, parts: dict[str, pd.DataFrame], drop: tuple[str, ...] = ()) -> str:
    from jobs.lib import lake, tables

    types = {**use_case.schema, **{d.name: ("bigint" if d.fn == "prior_event_count" else "double")
                                   for d in use_case.features.derived}, "ds": "string"}
    columns = [c for c in dict.fromkeys([*use_case.primary_key, use_case.entity, use_case.event_timestamp,
                                         *use_case.features.names, *use_case.protected_attributes, "ds"])
               if c not in drop]
    frame = pd.concat([p.assign(ds=ds) for ds, p in parts.items()], ignore_index=True)[columns]
    rows = frame.astype(object).where(frame.notna(), None)
    table = tables.gold_features(use_case.name)
    lake.write(spark.createDataFrame(rows, ", ".join(f"`{c}` {types[c]}" for c in columns)), table,
               mode="overwrite", partition_by=["ds"])
    return table


def snapshot(spark, table: str, ds: str) -> pd.DataFrame:
    """The rows of one score_date, sorted by key; arrays as tuples (comparable)."""
    from pyspark.sql import functions as F

    from jobs.lib import lake

    frame = lake.read(table, spark=spark).where(F.col("score_date") == dt.date.fromisoformat(ds)).toPandas()
    for col in ("reason_codes", "reason_contributions"):
        frame[col] = frame[col].map(lambda v: None if v is None else tuple(v))
    return frame.sort_values(KEY).reset_index(drop=True)


def latest(spark) -> pd.DataFrame:
    from jobs.lib import lake, tables

    frame = lake.read(tables.scores_latest("credit_default"), spark=spark).toPandas()
    return frame.sort_values("entity_id").reset_index(drop=True)


def without_time(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["scored_at"])


# ----------------------------------------------------------------------------------------- scenario
@pytest.fixture(scope="module")
def store(tmp_path_factory, spark):
    root = tmp_path_factory.mktemp("score")
    with own_store(root):
        yield root


@pytest.fixture(scope="module")
def scenario(store, spark):
    from jobs import score, train
    from jobs.lib import lake, registry, tables
    from jobs.lib.config import Features, load_use_case

    credit = load_use_case("credit_default")
    parts = gold_frames(credit)
    gold = write_gold_features(spark, credit, parts)
    crm_t, shadow_t, latest_t = (tables.scores("credit_default"), tables.scores_shadow("credit_default"),
                                 tables.scores_latest("credit_default"))
    s: dict = {"use_case": credit, "parts": parts, "gold": gold}

    # 1. nothing registered
    s["no_champion"] = score.run(spark, credit, D1)
    s["exists_without_champion"] = [lake.exists(t) for t in (crm_t, shadow_t, latest_t)]

    # 2. champion only
    write_gold_training(spark, credit)
    lenient = dataclasses.replace(credit, gate=dataclasses.replace(credit.gate, auc_floor=0.5))
    s["champion_train"] = train.train(spark, lenient, "2026-02-01", n_trials=TRIALS)
    s["d0"] = score.run(spark, credit, D0)
    s["crm_d0"] = snapshot(spark, crm_t, D0)
    s["d1"] = score.run(spark, credit, D1)
    s["crm_d1"] = snapshot(spark, crm_t, D1)
    s["latest_d1"] = latest(spark)
    s["shadow_exists_without_challenger"] = lake.exists(shadow_t)
    s["d2"] = score.run(spark, credit, D2)
    s["latest_d2"] = latest(spark)

    # 3. a challenger (other features, registered without the gate); D1 is now older than the latest scores
    basic = dataclasses.replace(credit, features=Features(
        numeric=["duration_in_month", "credit_amount"], categorical=["status_of_existing_checking_account"],
        derived=[]))
    trained = train.train(spark, basic, "2026-02-02", n_trials=TRIALS, gate=False)
    c = registry.client()
    s["challenger_version"] = registry.register(c, credit, c.get_run(trained.run_id).data.tags["model_uri"],
                                                trained.run_id)
    s["d1_challenger"] = score.run(spark, credit, D1)
    s["crm_d1_challenger"], s["shadow_d1"] = snapshot(spark, crm_t, D1), snapshot(spark, shadow_t, D1)
    s["latest_d1_after_d2"] = latest(spark)
    s["d1_challenger_again"] = score.run(spark, credit, D1)
    s["crm_d1_challenger_again"] = snapshot(spark, crm_t, D1)
    s["shadow_d1_again"] = snapshot(spark, shadow_t, D1)

    # 4. challenger gone; an empty date
    c.delete_registered_model_alias("credit_default", "challenger")
    s["d1_again"] = score.run(spark, credit, D1)
    s["crm_d1_again"], s["crm_d0_again"] = snapshot(spark, crm_t, D1), snapshot(spark, crm_t, D0)
    s["shadow_d1_emptied"] = snapshot(spark, shadow_t, D1)
    s["d3"] = score.run(spark, credit, D3)
    s["crm_d3"] = snapshot(spark, crm_t, D3)
    s["crm_history"] = lake.history(crm_t)
    return s


def _model(version: str):
    """(booster, feature spec) of a registered version, loaded in this process."""
    import mlflow

    from jobs.lib import registry

    c = registry.client()
    mv = c.get_model_version("credit_default", version)
    booster = mlflow.xgboost.load_model(f"models:/credit_default/{version}").get_booster()
    return booster, registry.load_feature_spec(mv.run_id), mv.run_id


def _expected(scenario, ds: str, version: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """In-process: (gold rows sorted by key, probabilities, contributions) of a version on the gold partition."""
    import xgboost as xgb

    from jobs.lib import modeling

    booster, spec, _ = _model(version)
    rows = scenario["parts"][ds].sort_values(KEY).reset_index(drop=True)
    X = modeling.prepare_features(rows, spec)
    probs = booster.inplace_predict(X).astype("float64")
    contribs = booster.predict(xgb.DMatrix(X, enable_categorical=True), pred_contribs=True)
    return rows, probs, contribs


# ------------------------------------------------------------------------------------------- tests
def test_no_champion_scores_nothing_and_writes_nothing(scenario):
    assert scenario["no_champion"] == NO_CHAMPION
    assert scenario["exists_without_champion"] == [False, False, False]


def test_scores_equal_the_models_own_inplace_predict(scenario):
    crm = scenario["crm_d1"]
    rows, probs, _ = _expected(scenario, D1, "1")
    assert len(crm) == len(scenario["parts"][D1]) == 900
    assert list(crm[KEY]) == list(rows[KEY])
    assert crm["score"].to_numpy() == pytest.approx(probs, abs=1e-6)
    assert list(crm["entity_id"]) == list(rows["customer_id"])
    assert set(crm["event_date"]) == {dt.date.fromisoformat(D1)}
    assert set(crm["model_role"]) == {"champion"} and set(crm["model_alias"]) == {"champion"}
    assert set(crm["model_version"]) == {"1"} and set(crm["model_name"]) == {"credit_default"}
    assert set(crm["run_id"]) == {scenario["champion_train"].run_id}
    use_case = scenario["use_case"]
    assert list(crm["band"]) == [use_case.scoring.band(s) for s in crm["score"]]
    summary = scenario["d1"]
    assert summary.startswith(f"scored 900 rows of credit_default {D1} with champion v1 (no challenger")
    counts = crm["band"].value_counts()
    assert f"bands approve={counts.get('approve', 0)} review={counts.get('review', 0)} " \
           f"decline={counts.get('decline', 0)}" in summary
    assert "\n" not in summary


def test_the_crm_table_has_the_contract_columns_and_types(scenario, spark):
    from jobs.lib import lake, tables

    schema = lake.schema(tables.scores("credit_default"), spark)
    assert [(f.name, f.dataType.simpleString()) for f in schema.fields] == [
        (KEY, "string"), ("entity_id", "string"), ("event_date", "date"), ("score", "double"), ("band", "string"),
        ("reason_codes", "array<string>"), ("reason_contributions", "array<double>"), ("model_name", "string"),
        ("model_version", "string"), ("model_alias", "string"), ("model_role", "string"), ("run_id", "string"),
        ("scored_at", "timestamp"), ("score_date", "date")]
    assert lake.schema(tables.scores_shadow("credit_default"), spark) == schema
    assert lake.schema(tables.scores_latest("credit_default"), spark) == schema


def test_scoring_a_date_twice_gives_the_same_partition_and_leaves_other_dates(scenario):
    pd.testing.assert_frame_equal(without_time(scenario["crm_d1"]), without_time(scenario["crm_d1_again"]))
    pd.testing.assert_frame_equal(scenario["crm_d0"], scenario["crm_d0_again"])  # untouched, scored_at included
    assert len(scenario["crm_d0"]) == 100
    assert scenario["crm_d1"]["scored_at"].nunique() == 1


def test_reason_codes_for_the_configured_bands_from_positive_contributions(scenario):
    crm = scenario["crm_d1"]
    rc = scenario["use_case"].scoring.reason_codes
    _, probs, contribs = _expected(scenario, D1, "1")
    booster, spec, _ = _model("1")
    explained = crm["band"].isin(rc.bands).to_numpy()
    assert explained.any() and (~explained).any()
    assert crm.loc[~explained, "reason_codes"].isna().all() and crm.loc[~explained, "reason_contributions"].isna().all()
    assert crm.loc[explained, "reason_codes"].notna().all()
    margin = np.log(probs / (1 - probs))
    assert contribs.shape[1] == len(spec.columns) + 1  # per original feature (categoricals too) + bias
    assert contribs.sum(axis=1) == pytest.approx(margin, abs=1e-3)  # contributions + bias = the margin
    for i in np.flatnonzero(explained):
        codes, values = crm["reason_codes"][i], crm["reason_contributions"][i]
        assert len(codes) == len(values) <= rc.top_n
        assert set(codes) <= set(spec.columns) and all(v > 0 for v in values)
        assert list(values) == sorted(values, reverse=True)
        positive = np.sort(contribs[i, :-1][contribs[i, :-1] > 0])[::-1][:rc.top_n]
        assert values == pytest.approx(list(positive), abs=1e-6)
        assert [contribs[i, spec.columns.index(c)] for c in codes] == pytest.approx(list(values), abs=1e-6)
    assert f"reason codes for {int(explained.sum())} rows" in scenario["d1"]


def test_the_challenger_shadows_every_row_and_scores_the_canary(scenario):
    crm, shadow = scenario["crm_d1_challenger"], scenario["shadow_d1"]
    from jobs.lib import scoring

    rows, champion_probs, _ = _expected(scenario, D1, "1")
    _, challenger_probs, _ = _expected(scenario, D1, "2")
    assert str(scenario["challenger_version"].version) == "2"
    assert len(shadow) == len(crm) == 900 and list(shadow[KEY]) == list(rows[KEY])
    assert set(shadow["model_role"]) == {"shadow"} and set(shadow["model_alias"]) == {"challenger"}
    assert set(shadow["model_version"]) == {"2"} and shadow["reason_codes"].isna().all()
    assert shadow["score"].to_numpy() == pytest.approx(challenger_probs, abs=1e-6)

    canary = np.array([scoring.unit_hash(e) < 0.1 for e in rows["customer_id"]])  # the documented rule
    assert list(crm["model_role"] == "canary") == list(canary)
    assert set(crm["model_role"]) == {"champion", "canary"}
    assert abs(canary.mean() - 0.1) < 0.04, canary.mean()
    assert crm["score"].to_numpy() == pytest.approx(np.where(canary, challenger_probs, champion_probs), abs=1e-6)
    assert set(crm.loc[canary, "model_version"]) == {"2"} and set(crm.loc[canary, "model_alias"]) == {"challenger"}
    assert set(crm.loc[~canary, "model_version"]) == {"1"}
    assert f"(canary {int(canary.sum())} by challenger v2, shadow 900)" in scenario["d1_challenger"]
    # a rerun gives the same canary, the same scores
    pd.testing.assert_frame_equal(without_time(crm), without_time(scenario["crm_d1_challenger_again"]))
    pd.testing.assert_frame_equal(without_time(shadow), without_time(scenario["shadow_d1_again"]))


def test_without_a_challenger_there_is_no_shadow_and_a_rerun_empties_the_partition(scenario):
    assert scenario["shadow_exists_without_challenger"] is False
    assert len(scenario["shadow_d1_emptied"]) == 0
    assert "no challenger" in scenario["d1_again"]


def test_latest_has_one_row_per_customer_and_an_older_rerun_keeps_newer_scores(scenario):
    parts = scenario["parts"]
    after_d1 = scenario["latest_d1"]
    assert after_d1["entity_id"].is_unique
    assert set(after_d1["entity_id"]) == set(parts[D0]["customer_id"]) | set(parts[D1]["customer_id"])
    # several applications of a customer on one day: the highest key wins (same event date)
    expected = parts[D1].sort_values(KEY).groupby("customer_id")[KEY].last()
    from_d1 = after_d1[after_d1["score_date"] == dt.date.fromisoformat(D1)].set_index("entity_id")[KEY]
    assert from_d1.sort_index().to_dict() == expected.sort_index().to_dict()

    after_d2, after_rerun = scenario["latest_d2"].set_index("entity_id"), scenario["latest_d1_after_d2"]
    returning = set(parts[D2]["customer_id"])
    assert (after_d2.loc[sorted(returning), "score_date"] == dt.date.fromisoformat(D2)).all()
    rerun = after_rerun.set_index("entity_id")
    pd.testing.assert_frame_equal(without_time(rerun.loc[sorted(returning)]),
                                  without_time(after_d2.loc[sorted(returning)]))  # newer scores kept
    assert after_rerun["entity_id"].is_unique and len(after_rerun) == len(after_d2)
    assert f"{len(returning)} kept a newer score" in scenario["d1_challenger"]


def test_an_empty_gold_partition_writes_an_empty_partition(scenario):
    assert scenario["d3"].startswith(f"scored 0 rows of credit_default {D3} (gold partition ds={D3} is empty")
    assert len(scenario["crm_d3"]) == 0
    newest = scenario["crm_history"][0]
    assert newest.parameters.get("predicate") == f"score_date = '{D3}'"


def test_a_missing_feature_column_fails_naming_it_and_writes_nothing(scenario, spark, store):
    from jobs import score
    from jobs.lib import lake, tables

    credit = scenario["use_case"]
    with configured(RISKPIPE_LAKEHOUSE=str(store / "lakehouse-missing")):
        write_gold_features(spark, credit, {D1: scenario["parts"][D1].head(20)}, drop=("purpose",))
        with pytest.raises(score.ScoringError, match=r"champion v1 cannot score .*missing feature column\(s\) "
                                                     r"\['purpose'\]"):
            score.run(spark, credit, D1)
        assert not any(lake.exists(t) for t in (tables.scores("credit_default"), tables.scores_shadow(
            "credit_default"), tables.scores_latest("credit_default")))


def test_command_has_help():
    out = subprocess.run([sys.executable, "-m", "jobs.score", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout and "--use-case" in out.stdout
