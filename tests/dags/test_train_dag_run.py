"""A real Airflow run of ``credit_default_train`` (``dag.test()``): train (a Spark Connect client task) →
governance → gate → scorecard draft → a person approves in Airflow's human-in-the-loop step → activation.
The approval is recorded the way the Airflow UI records it (the HITL endpoint's own function), by a named user."""
from __future__ import annotations

import threading

import pytest

from tests.conftest import conf_with_own_mlflow, configured
from tests.integration.train_data import write_gold_training

pytestmark = pytest.mark.slow
DS = "2026-02-01"
APPROVER = "risk.officer@bank.example"


@pytest.fixture(scope="module")
def train_env(tmp_path_factory, spark, airflow_db):
    """Config copy whose MLflow store is in a tmp dir (3 Optuna trials), a gold training table; the run is
    recorded in the test session's Airflow DB."""
    root = tmp_path_factory.mktemp("traindag")
    conf = conf_with_own_mlflow(root, n_trials={"credit_default": 3})
    with configured(RISKPIPE_CONF_DIR=str(conf), RISKPIPE_LAKEHOUSE=str(root / "lakehouse")):
        from jobs.lib.config import load_use_case

        write_gold_training(spark, load_use_case("credit_default"))
        yield root


def test_train_dag_promotes_a_champion_and_activates_the_approved_scorecard(train_env, spark, spark_connect_server):
    from jobs import scorecard_job
    from jobs.lib import lake, registry, tables
    from jobs.lib.config import load_use_case
    from plugins.approvals import prepare_responder, respond_when_asked
    from tests.dags.dag_runner import run_dag

    prepare_responder()
    answered: list[str | None] = []
    approver = threading.Thread(target=lambda: answered.append(
        respond_when_asked("credit_default_train", "approve_scorecard", "Activate", APPROVER, timeout_s=1500)))
    approver.start()
    run = run_dag("credit_default_train", DS)
    approver.join(timeout=60)

    assert run["tasks"] == {"train": "success", "governance": "success", "gate": "success",
                            "scorecard_draft": "success", "approve_scorecard": "success",
                            "activate_scorecard": "success", "reject_scorecard": "skipped"}
    assert answered and answered[0] == run["run_id"]

    c = registry.client()
    champion = registry.version_by_alias(c, "credit_default", "champion")
    assert champion is not None and champion.tags.get("gate_status") == "passed"
    assert float(champion.tags["governance_score"]) > 0
    governance_rows = lake.read(tables.governance("credit_default"), spark=spark).collect()
    assert [str(r.model_version) for r in governance_rows] == [str(champion.version)]

    status = scorecard_job.status(load_use_case("credit_default"))
    (version,) = status["versions"]
    assert status["active_version"] == version["version"]
    assert version["status"] == "active" and version["approved_by"] == APPROVER
