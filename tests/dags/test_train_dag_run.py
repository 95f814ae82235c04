"""A real Airflow run of ``credit_default_train`` (``dag.test()``): train (a Spark Connect client task) →
governance → gate → scorecard draft → a person approves in Airflow's human-in-the-loop step → activation.
The approval is recorded the way the Airflow UI records it (the HITL endpoint's own function), by a named user."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import conf_with_own_mlflow, configured
from tests.dags.dag_runner import BackgroundDagRun

pytestmark = pytest.mark.slow
DS = "2026-02-01"
APPROVER = "risk.officer@bank.example"


def run_env(root: Path) -> dict[str, str]:
    """A config copy whose MLflow store is under ``root`` (3 Optuna trials), a lakehouse there; the run is recorded
    in the test session's Airflow DB."""
    return {"RISKPIPE_CONF_DIR": str(conf_with_own_mlflow(root, n_trials={"credit_default": 3})),
            "RISKPIPE_LAKEHOUSE": str(root / "lakehouse")}


@contextlib.contextmanager
def gold_and_an_approver(root: Path) -> Iterator[dict]:
    """In the run's process: before the run, a gold training table (through a Spark Connect client of the
    session's server, released before the tasks make their own); during it, a person who approves the scorecard
    in Airflow's human-in-the-loop step when asked; yields ``{"answered": <the run id answered>}`` once the run
    has ended."""
    from jobs.lib.config import load_use_case
    from jobs.lib.spark import get_spark, release_session
    from plugins.approvals import prepare_responder, respond_when_asked
    from tests.integration.train_data import write_gold_training

    write_gold_training(get_spark("riskpipe-tests-train-dag"), load_use_case("credit_default"))
    release_session()
    prepare_responder()
    answered: list[str | None] = []
    approver = threading.Thread(target=lambda: answered.append(
        respond_when_asked("credit_default_train", "approve_scorecard", "Activate", APPROVER, timeout_s=1500)))
    approver.start()
    extra: dict = {}
    yield extra
    approver.join(timeout=60)
    extra["answered"] = answered[0] if answered else None


RUN = BackgroundDagRun("credit_default_train", DS, run_env, around=f"{__name__}:gold_and_an_approver")


def test_train_dag_promotes_a_champion_and_activates_the_approved_scorecard(tmp_path_factory, airflow_db, spark,
                                                                            spark_connect_server):
    from jobs import scorecard_job
    from jobs.lib import lake, registry, tables
    from jobs.lib.config import load_use_case

    run = RUN.result(tmp_path_factory.mktemp("traindag"))
    assert run["tasks"] == {"train": "success", "governance": "success", "gate": "success",
                            "scorecard_draft": "success", "approve_scorecard": "success",
                            "activate_scorecard": "success", "reject_scorecard": "skipped"}
    assert run["extra"]["answered"] == run["run_id"]
    with configured(**RUN.env):
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
