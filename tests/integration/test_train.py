"""Training on a real gold table (German credit) with a real MLflow store (SQLite + local artifacts in a tmp dir).

One scenario, in order, on the same gold rows (so every run has the same holdout):

1. a basic model (two features, floor lowered to 0.55) — the first model: challenger, then champion;
2. the full configured model — beats the basic champion on the same holdout: champion, basic -> previous;
3. a useless model (one feature without signal) — fails the gate: stays challenger, reason recorded;
4. a rerun of (2)'s date reuses its run; rollback moves champion back to previous.
"""
from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import conf_with_own_mlflow, configured
from tests.integration.train_data import write_gold_training

pytestmark = pytest.mark.slow
TRIALS = 4
DS_BASIC, DS_FULL, DS_WEAK = "2026-02-01", "2026-02-02", "2026-02-03"


@pytest.fixture(scope="module")
def store(tmp_path_factory, spark):
    """A configuration whose MLflow store, artifacts and lakehouse live in a tmp dir."""
    root = tmp_path_factory.mktemp("train")
    conf = conf_with_own_mlflow(root)
    with configured(RISKPIPE_CONF_DIR=str(conf), RISKPIPE_LAKEHOUSE=str(root / "lakehouse")):
        yield root


@pytest.fixture(scope="module")
def scenario(store, spark):
    from jobs import train
    from jobs.lib.config import Features, load_use_case

    credit = load_use_case("credit_default")
    table, rows = write_gold_training(spark, credit)
    basic = dataclasses.replace(
        credit, features=Features(numeric=["duration_in_month"], categorical=["status_of_existing_checking_account"],
                                  derived=[]),
        gate=dataclasses.replace(credit.gate, auc_floor=0.55))
    weak = dataclasses.replace(credit, features=Features(numeric=["present_residence_since"], categorical=[],
                                                         derived=[]))
    results = {
        "basic": train.train(spark, basic, DS_BASIC, n_trials=TRIALS),
        "full": train.train(spark, credit, DS_FULL, n_trials=TRIALS),
        "weak": train.train(spark, weak, DS_WEAK, n_trials=TRIALS),
    }
    return {"use_case": credit, "table": table, "rows": rows, **results}


def _client():
    from jobs.lib import registry

    return registry.client()


def _version(number: str):
    return _client().get_model_version("credit_default", number)


def test_first_model_goes_from_challenger_to_champion(scenario):
    basic = scenario["basic"]
    assert basic.version == "1" and basic.decision.passed
    assert basic.decision.champion_version is None  # judged on the floor alone
    v1 = _version("1")
    assert v1.tags["gate_status"] == "passed" and "no champion yet: floor only" in v1.tags["gate_reason"]
    assert "Quality gate passed" in v1.description


def test_run_has_metrics_params_tags_and_artifacts(scenario):
    import mlflow

    full = scenario["full"]
    run = _client().get_run(full.run_id)
    m, tags = run.data.metrics, run.data.tags
    for prefix in ("val_", "holdout_"):
        for name in ("auc", "gini", "ks", "log_loss", "brier", "precision", "recall", "f1"):
            assert math.isfinite(m[prefix + name]), prefix + name
        assert 0 <= m[prefix + "auc"] <= 1 and m[prefix + "gini"] == pytest.approx(2 * m[prefix + "auc"] - 1)
    assert m["holdout_auc"] > 0.6 and m["val_auc"] > 0.6  # German credit is learnable
    assert m["trials_finished"] == TRIALS and m["holdout_rows"] == 200
    assert {"max_depth", "learning_rate", "n_estimators", "scale_pos_weight", "seed"} <= set(run.data.params)
    assert float(run.data.params["scale_pos_weight"]) == pytest.approx(560 / 240, rel=0.1)  # ~70% good, 30% bad
    assert tags["use_case"] == "credit_default" and tags["logical_date"] == DS_FULL
    assert tags["gold_table"] == scenario["table"] and int(tags["gold_version"]) >= 0
    assert tags["training_rows"] == str(scenario["rows"]) and tags["code_version"]
    assert tags["optuna_study"] == f"credit_default-{DS_FULL}"
    artifacts = {a.path for a in _client().list_artifacts(full.run_id)}
    assert {"feature_spec.json", "reference_stats.json", "trials.csv", "holdout.parquet", "gate.json"} <= artifacts
    exp = _client().get_experiment(run.info.experiment_id)
    assert exp.name == "riskpipe/credit_default" and "mlflow/artifacts/credit_default" in exp.artifact_location

    trials = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=full.run_id, artifact_path="trials.csv"))
    assert len(trials) == TRIALS
    holdout = pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=full.run_id, artifact_path="holdout.parquet"))
    assert len(holdout) == 200 and {"application_id", "label", "score", "age_in_years", "foreign_worker"} <= set(holdout)
    assert "customer_id" not in holdout and "label_raw" not in holdout
    train_window_end = tags["validation_window"].split("/")[1]
    assert str(holdout.application_date.min()) >= train_window_end  # the holdout is the most recent window
    with open(mlflow.artifacts.download_artifacts(run_id=full.run_id, artifact_path="reference_stats.json")) as f:
        from jobs.lib import reference_stats

        ref = reference_stats.loads(f.read())
    assert ref["rows"] == 800 and ref["window"]["column"] == "application_date"
    assert "credit_amount" in ref["numeric"] and "purpose" in ref["categorical"] and "age_in_years" not in ref["numeric"]
    assert sum(ref["score"]["proportions"]) == pytest.approx(1)


def test_logged_model_loads_and_scores_raw_gold_rows(scenario):
    import mlflow

    from jobs.lib import modeling, registry

    full = scenario["full"]
    spec = registry.load_feature_spec(full.run_id)
    holdout = registry.load_holdout(full.run_id)
    model = mlflow.xgboost.load_model("models:/credit_default@champion")
    scores = modeling.predict(model, modeling.prepare_features(holdout, spec))
    assert scores == pytest.approx(holdout["score"].to_numpy(), abs=1e-6)
    info = mlflow.models.get_model_info("models:/credit_default@champion")
    assert info.signature is not None and "purpose" in info.signature.inputs.input_names()
    assert info.signature.inputs.to_dict()[0]["type"] == "double"


def test_better_model_becomes_champion_and_the_old_one_previous(scenario):
    full = scenario["full"]
    assert full.version == "2" and full.decision.passed, full.decision.summary
    assert full.decision.champion_version == "1"
    assert full.decision.challenger_auc >= full.decision.champion_auc + 0.005
    v2 = _version("2")
    assert v2.tags["gate_status"] == "passed" and "champion v1" in v2.tags["gate_reason"]
    assert v2.tags["fairness_status"] in {"ok", "failed"}  # recorded either way (not enforced for credit)
    gate = json.loads(v2.tags["gate_decision"])
    assert gate["champion_auc"] == pytest.approx(full.decision.champion_auc)


def test_worse_model_fails_the_gate_and_the_champion_stays(scenario):
    weak = scenario["weak"]
    assert weak.version == "3" and not weak.decision.passed
    v3 = _version("3")
    assert v3.tags["gate_status"] == "failed"
    assert "below the floor 0.7" in v3.tags["gate_reason"] and "does not beat champion v2" in v3.tags["gate_reason"]
    assert v3.description.startswith("Quality gate failed")
    from jobs.lib import registry

    assert registry.aliases(_client(), "credit_default") == {"champion": "2", "previous": "1", "challenger": "3"}


def test_gate_command_finds_the_run_of_a_date_and_keeps_its_decision(scenario, capsys):
    from jobs import registry_cli
    from jobs.lib import registry

    assert registry_cli.main(["gate", "--use-case", "credit_default", "--ds", DS_WEAK]) == 0
    assert "credit_default v3" in capsys.readouterr().out
    assert registry_cli.main(["gate", "--use-case", "credit_default", "--ds", DS_WEAK, "--strict"]) == 1
    assert registry_cli.main(["gate", "--use-case", "credit_default", "--ds", "2027-01-01"]) == 1
    assert "no finished training run of credit_default for 2027-01-01" in capsys.readouterr().err
    assert registry.aliases(_client(), "credit_default") == {"champion": "2", "previous": "1", "challenger": "3"}
    assert len(_client().search_model_versions("name = 'credit_default'")) == 3  # judged once, registered once


def test_rerun_of_a_date_reuses_its_run(scenario, spark):
    from jobs import train

    again = train.train(spark, scenario["use_case"], DS_FULL, n_trials=TRIALS)
    assert again.reused and again.run_id == scenario["full"].run_id and again.version == "2"
    assert len(_client().search_model_versions("name = 'credit_default'")) == 3  # no new version


def test_rollback_moves_champion_back_to_previous(scenario, capsys):
    from jobs import registry_cli
    from jobs.lib import registry

    assert registry_cli.main(["rollback", "--use-case", "credit_default", "--reason", "test"]) == 0
    assert "champion rolled back from v2 to v1" in capsys.readouterr().out
    assert registry.aliases(_client(), "credit_default") == {"champion": "1", "challenger": "3"}
    assert _version("2").tags["gate_status"] == "rolled_back"
    assert "v2 -> v1" in _client().get_registered_model("credit_default").tags["last_rollback"]
    assert registry_cli.main(["rollback", "--use-case", "credit_default"]) == 1  # no previous any more
    assert "no 'previous' version to roll back to (champion is v1)" in capsys.readouterr().err
    with pytest.raises(registry.RegistryError, match="no 'previous' version"):
        registry.rollback("credit_default")


def test_too_few_rows_fail_with_the_table_and_counts(scenario, spark):
    from jobs import train
    from jobs.lib.modeling import TrainingDataError

    with pytest.raises(TrainingDataError, match=r"gold/credit_default/training \(ds <= 2026-01-06\): 0 labelled "
                                                r"rows \(0 positive\); need at least 50"):
        train.train(spark, scenario["use_case"], "2026-01-06", n_trials=1)


@pytest.mark.parametrize("module", ["jobs.train", "jobs.registry_cli"])
def test_commands_have_help(module):
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout
