"""The decide and performance jobs on small hand-made Delta tables (scores, drift, gold training) and a real MLflow
store in a tmp dir holding the training runs' ``holdout_auc``.

Credit default (key ``application_id``, labels mature in 6 days). Score dates: 2026-01-01 (champion v1 ranks well,
plus canary v2 rows) and 2026-01-02 (champion v1 scores at random: its AUC drops); labels arrive 6 days after the
score date, a few of the 2026-01-02 ones a day late.
"""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from tests.conftest import configured, own_store

UC = "credit_default"
D0, D1 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
SCORE_COLUMNS = ("application_id STRING, entity_id STRING, event_date DATE, score DOUBLE, band STRING, "
                 "reason_codes STRING, reason_contributions STRING, model_name STRING, model_version STRING, "
                 "model_alias STRING, model_role STRING, run_id STRING, scored_at TIMESTAMP, score_date DATE")
DRIFT_COLUMNS = ("use_case STRING, ds DATE, feature STRING, metric STRING, value DOUBLE, threshold DOUBLE, "
                 "status STRING, model_version STRING, `rows` BIGINT, computed_at TIMESTAMP")
TRAINING_COLUMNS = "application_id STRING, application_date DATE, label INT, label_raw STRING, label_date DATE, ds STRING"


def _run(client, experiment: str, holdout_auc: float) -> str:
    run = client.create_run(client.get_experiment_by_name(experiment).experiment_id)
    client.log_metric(run.info.run_id, "holdout_auc", holdout_auc)
    client.log_metric(run.info.run_id, "val_auc", 0.5)
    client.set_terminated(run.info.run_id)
    return run.info.run_id


@pytest.fixture(scope="module")
def env(tmp_path_factory, spark):
    root = tmp_path_factory.mktemp("monitoring")
    with own_store(root):
        from jobs.lib import registry

        c = registry.client()
        c.create_experiment(f"riskpipe/{UC}")
        runs = {"1": _run(c, f"riskpipe/{UC}", 0.80), "2": _run(c, f"riskpipe/{UC}", 0.78)}
        yield {"root": root, "runs": runs}


def _scores_and_labels(runs: dict[str, str]):
    """(score rows, label rows, expected pairs per cohort) — deterministic."""
    rng = np.random.default_rng(11)
    scores, labels, pairs = [], [], {}
    now = dt.datetime(2026, 1, 3, 1, 0)
    for score_date, informative in ((D0, True), (D1, False)):
        for i in range(300):
            key = f"{score_date:%m%d}-{i:04d}"
            role, version = ("canary", "2") if i % 10 == 0 else ("champion", "1")
            y = int(rng.random() < 0.3)
            s = float(np.clip(0.3 * y + rng.random() * 0.7, 0, 1)) if informative else float(rng.random())
            scores.append((key, f"e{i}", score_date, s, "approve", None, None, UC, version, role, role, runs[version],
                           now, score_date))
            arrives = score_date + dt.timedelta(days=6 + (1 if not informative and i % 7 == 0 else 0))
            labels.append((key, score_date, y, "bad" if y else "good", arrives, arrives.isoformat()))
            pairs.setdefault((score_date, version, arrives), []).append((y, s))
    return scores, labels, pairs


def _drift(spark, day: dt.date, alerts: dict[str, float]):
    """Drift rows of one date: PSI and KS per feature; ``alerts``: feature -> PSI of the alerting ones."""
    from jobs.lib import lake, tables

    rows = []
    for feature in ("credit_amount", "duration_in_month", "purpose", "__score__"):
        psi = alerts.get(feature, 0.02)
        status = "alert" if feature in alerts else "ok"
        rows.append((UC, day, feature, "psi", psi, 0.25, status, "1", 300, dt.datetime(2026, 1, 9)))
        rows.append((UC, day, feature, "ks_pvalue", 0.5, 0.05, "ok", "1", 300, dt.datetime(2026, 1, 9)))
    df = spark.createDataFrame(rows, DRIFT_COLUMNS)
    lake.write(df, tables.drift(UC), mode="overwrite", partition_by=["ds"], replace_where=f"ds = '{day}'")


def _decisions(spark):
    from jobs.lib import lake, tables

    return {r["ds"].isoformat(): r for r in lake.read(tables.decisions(UC), spark=spark).collect()}


def with_policy(use_case):
    """The use case with the retraining policy these tests were written against (one alerting feature makes an
    alerting run; a matured cohort 0.05 below its holdout AUC triggers), whatever the shipped defaults are."""
    import dataclasses

    retrain = dataclasses.replace(use_case.monitoring.retrain, alert_runs=3, window_runs=5, min_alert_features=1,
                                  performance_drop=0.05, min_cohort_rows=200, cooldown_runs=5)
    return dataclasses.replace(use_case, monitoring=dataclasses.replace(use_case.monitoring, retrain=retrain))


def test_performance_then_decide(env, spark):
    from jobs import decide, performance
    from jobs.lib import lake, metrics, tables
    from jobs.lib.config import load_use_case

    credit = with_policy(load_use_case(UC))
    # Nothing scored yet: said, nothing written.
    message = performance.run(spark, credit, "2026-01-07")
    assert "no scores table" in message and "nothing written" in message
    assert not lake.exists(tables.performance(UC))
    # No drift yet (no champion): the decision is recorded anyway.
    first = decide.run(spark, credit, "2026-01-03")
    assert first["retrain"] is False and first["reason"] == "no drift results for 2026-01-03 (no champion yet?)"

    scores, labels, pairs = _scores_and_labels(env["runs"])
    lake.write(spark.createDataFrame(scores, SCORE_COLUMNS), tables.scores(UC), mode="overwrite",
               partition_by=["score_date"])
    lake.write(spark.createDataFrame(labels, TRAINING_COLUMNS), tables.gold_training(UC), mode="overwrite",
               partition_by=["ds"])

    # 2026-01-07: only the 2026-01-01 cohort has matured (2026-01-02 + 6 days is the 8th).
    text = performance.run(spark, credit, "2026-01-07")
    assert "2 cohort(s)" in text, text
    perf = lake.read(tables.performance(UC), spark=spark)
    got = {(r["score_date"], r["model_version"]): r for r in perf.where("ds = '2026-01-07'").collect()}
    assert set(got) == {(D0, "1"), (D0, "2")}
    champion = got[(D0, "1")]
    y, s = np.array(pairs[(D0, "1", D0 + dt.timedelta(days=6))]).T
    assert champion["rows"] == champion["scored_rows"] == 270 and champion["label_coverage"] == 1.0
    assert champion["model_role"] == "champion" and champion["run_id"] == env["runs"]["1"]
    assert champion["auc"] == pytest.approx(metrics.auc(y, s))
    assert champion["ks"] == pytest.approx(metrics.ks(y, s))
    assert champion["bad_rate"] == pytest.approx(y.mean()) and champion["positives"] == int(y.sum())
    assert champion["holdout_auc"] == pytest.approx(0.80)
    assert champion["auc_drop"] == pytest.approx(0.80 - champion["auc"])
    assert got[(D0, "2")]["holdout_auc"] == pytest.approx(0.78) and got[(D0, "2")]["rows"] == 30

    # 2026-01-08: both cohorts; the 2026-01-02 labels arriving on the 9th are not known yet.
    performance.run(spark, credit, "2026-01-08")
    perf = lake.read(tables.performance(UC), spark=spark)  # a DataFrame reads the snapshot it was made on
    late = {r["model_version"]: r for r in perf.where("ds = '2026-01-08' AND score_date = '2026-01-02'").collect()}
    on_time = pairs[(D1, "1", D1 + dt.timedelta(days=6))]
    assert late["1"]["scored_rows"] == 270 and late["1"]["rows"] == len(on_time) < 270
    y1, s1 = np.array(on_time).T
    assert late["1"]["auc"] == pytest.approx(metrics.auc(y1, s1)) and late["1"]["auc"] < 0.70  # random scores
    assert perf.where("ds = '2026-01-07'").count() == 2  # the earlier date's partition is untouched
    # A rerun (through the command line, as spark-submit runs it) gives the same partition.
    before = sorted(tuple(r)[:-1] for r in perf.where("ds = '2026-01-08'").collect())  # all but computed_at
    assert performance.main(["--use-case", UC, "--ds", "2026-01-08"]) == 0
    after = lake.read(tables.performance(UC), spark=spark).where("ds = '2026-01-08'").collect()
    assert sorted(tuple(r)[:-1] for r in after) == before and len(before) == 4

    # Drift: alerts on the 4th, 6th and 7th, not on the 5th nor the 8th.
    _drift(spark, dt.date(2026, 1, 4), {"credit_amount": 0.41})
    _drift(spark, dt.date(2026, 1, 5), {})
    _drift(spark, dt.date(2026, 1, 6), {"credit_amount": 0.33, "__score__": 0.27})
    _drift(spark, dt.date(2026, 1, 7), {"purpose": 0.52, "credit_amount": 0.30})
    _drift(spark, dt.date(2026, 1, 8), {})
    # The 7th's performance (the 1st's cohort, AUC near its holdout's) does not trigger: decide the 4th-7th.
    results = {ds: decide.run(spark, credit, ds) for ds in ("2026-01-04", "2026-01-05", "2026-01-06")}
    assert [r["retrain"] for r in results.values()] == [False, False, False]
    assert results["2026-01-06"]["alerting_runs"] == 2
    seventh = decide.run(spark, credit, "2026-01-07")
    assert seventh["retrain"] is True and seventh["trigger"] == "drift"
    assert seventh["alerting_runs"] == 3 and seventh["window"] == ["2026-01-04", "2026-01-05", "2026-01-06",
                                                                     "2026-01-07"]
    assert seventh["top_features"] == [["purpose", 0.52], ["credit_amount", 0.30]]
    assert seventh["model_version"] == "1" and seventh["run_alerts"] is True
    assert json.loads(json.dumps(seventh)) == seventh  # JSON-ready (XCom, Slack)

    # The 8th: still 3 alerting runs in the window and the 2nd's champion cohort dropped, but the cooldown holds.
    eighth = decide.run(spark, credit, "2026-01-08")
    assert eighth["retrain"] is False and eighth["cooldown"] is True and eighth["run_alerts"] is False
    assert eighth["reason"].startswith("cooldown: retraining was decided on 2026-01-07, run 1 of 5 since; would "
                                       "retrain for drift: 3 of the last 5 runs alerting")
    assert "; performance: cohort 2026-01-02 (model v1): AUC" in eighth["reason"]

    # A rerun of the 7th (the command line): same decision, still one row for the date.
    assert decide.main(["--use-case", UC, "--ds", "2026-01-07"]) == 0
    again = decide.run(spark, credit, "2026-01-07")
    assert again == seventh
    rows = _decisions(spark)
    assert sorted(rows) == ["2026-01-03", "2026-01-04", "2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08"]
    assert lake.read(tables.decisions(UC), spark=spark).where("ds = '2026-01-07'").count() == 1
    row = rows["2026-01-07"]
    assert row["retrain"] is True and row["trigger"] == "drift" and row["window_runs"] == 4
    assert json.loads(row["top_features"]) == [["purpose", 0.52], ["credit_amount", 0.30]]
    assert json.loads(row["window_ds"])[-1] == "2026-01-07" and row["decided_at"] is not None
    assert rows["2026-01-03"]["retrain"] is False and rows["2026-01-03"]["model_version"] is None


def test_performance_drop_alone_triggers(env, spark, tmp_path):
    """With no earlier retraining (own decisions table), the 8th's dropped cohort triggers on its own."""
    from jobs import decide
    from jobs.lib import lake, tables
    from jobs.lib.config import load_use_case

    credit = with_policy(load_use_case(UC))
    if not lake.exists(tables.performance(UC)):
        pytest.skip("needs test_performance_then_decide's tables")
    sources = {name: getattr(tables, name)(UC) for name in ("performance", "drift")}
    with configured(RISKPIPE_LAKEHOUSE=str(tmp_path / "lakehouse")):
        for name, source in sources.items():
            lake.write(lake.read(source, spark=spark).where("ds = '2026-01-08'"), getattr(tables, name)(UC),
                       mode="overwrite", partition_by=["ds"])
        d = decide.run(spark, credit, "2026-01-08")
    assert d["retrain"] is True and d["trigger"] == "performance"
    assert d["reason"].startswith("performance: cohort 2026-01-02 (model v1): AUC")
