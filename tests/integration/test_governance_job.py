"""The governance job on a real training run (German credit gold rows, a real MLflow store in a tmp dir).

Training runs without the gate (as the DAG does: governance, then the gate), so the governance job registers
the run's version itself; the gate then judges that same version with the governance report's fairness.
"""
from __future__ import annotations

import json

import pytest

from tests.conftest import conf_with_own_mlflow, configured
from tests.integration.train_data import write_gold_training

pytestmark = pytest.mark.slow
DS = "2026-02-01"
ARTIFACTS = {"governance/report.json", "governance/report.html", "governance/model_card.md",
             "governance/model_card.html"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, spark):
    """One training run (2 trials, no gate) in a tmp MLflow store and lakehouse."""
    from jobs import train
    from jobs.lib import config

    root = tmp_path_factory.mktemp("governance")
    conf = conf_with_own_mlflow(root)
    with configured(RISKPIPE_CONF_DIR=str(conf), RISKPIPE_LAKEHOUSE=str(root / "lakehouse")):
        credit = config.load_use_case("credit_default")
        write_gold_training(spark, credit)
        result = train.train(spark, credit, DS, n_trials=2, gate=False)
        yield {"use_case": credit, "run_id": result.run_id}


@pytest.fixture(scope="module")
def first(trained):
    from jobs import governance_report

    assert governance_report.main(["--use-case", "credit_default", "--ds", DS]) == 0
    return governance_report.governance(trained["use_case"], DS)  # a rerun, as a retried task would


def _client():
    from jobs.lib import registry

    return registry.client()


def _governance_rows():
    from deltalake import DeltaTable

    from jobs.lib import tables

    return DeltaTable(tables.governance("credit_default")).to_pandas()


def test_report_artifacts_and_tags_are_on_the_run_and_the_version(trained, first):
    import mlflow

    c = _client()
    listed = {a.path for a in c.list_artifacts(trained["run_id"], "governance")}
    assert listed == ARTIFACTS
    with open(mlflow.artifacts.download_artifacts(run_id=trained["run_id"], artifact_path="governance/report.json")) as f:
        report = json.load(f)
    assert report["model"]["model_version"] == "1" and report["model"]["run_id"] == trained["run_id"]
    assert report["n_rows"] == 200 and set(report["fairness"]["attributes"]) == {
        "age_in_years", "personal_status_and_sex", "foreign_worker"}
    assert report["privacy"]["pii_ok"] and report["privacy"]["protected_used"] == []
    card = mlflow.artifacts.download_artifacts(run_id=trained["run_id"], artifact_path="governance/model_card.md")
    assert "credit_default" in open(card).read()
    run_tags = c.get_run(trained["run_id"]).data.tags
    version_tags = c.get_model_version("credit_default", "1").tags
    for tags in (run_tags, version_tags):
        assert float(tags["governance_score"]) == pytest.approx(first.overall_score, abs=0.01)
        assert tags["trust_level"] == first.trust_level in {"low", "medium", "high"}
        assert tags["fairness_ok"] == str(first.fairness_ok).lower()
    assert version_tags["run_id"] == trained["run_id"]  # registered by the governance job, as challenger
    from jobs.lib import registry

    assert registry.aliases(c, "credit_default") == {"challenger": "1"}


def test_governance_table_has_one_row_per_version_after_a_rerun(trained, first):
    rows = _governance_rows()
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row.model_name, row.model_version, row.run_id) == ("credit_default", "1", trained["run_id"])
    assert row.overall_score == pytest.approx(first.overall_score) and bool(row.fairness_ok) == first.fairness_ok
    assert str(row.created_at.date()) == DS  # the logical date, not the clock
    assert json.loads(row.json)["trust_level"] == first.trust_level


def test_gate_judges_the_same_version_with_the_reports_fairness(trained, first):
    from jobs import governance_report, train
    from jobs.lib import modeling, registry

    holdout = registry.load_holdout(trained["run_id"])
    credit = trained["use_case"]
    protected = holdout[credit.protected_attributes]
    args = (protected, holdout[modeling.LABEL].to_numpy(), holdout["score"].to_numpy(), credit,
            credit.model.decision_cutoff)
    from_report = governance_report.gate_fairness_check(trained["run_id"])(*args)
    computed = registry.fairness_check(*args)
    assert (from_report.ok, from_report.reasons) == (computed.ok, computed.reasons) == (
        first.fairness_ok, first.fairness_reasons)

    c = _client()
    version, decision = train.register_and_gate(c, credit, trained["run_id"],
                                                governance_report.gate_fairness_check(trained["run_id"]))
    assert str(version.version) == "1"  # the version governance registered; not a second one
    assert len(c.search_model_versions("name = 'credit_default'")) == 1
    assert decision.fairness_ok == first.fairness_ok
    assert version.tags["fairness_status"] == ("ok" if first.fairness_ok else "failed")


def test_a_date_without_a_run_fails_clearly(trained, capsys):
    from jobs import governance_report

    assert governance_report.main(["--use-case", "credit_default", "--ds", "2027-01-01"]) == 1
    assert "no finished training run of credit_default for 2027-01-01" in capsys.readouterr().err


def test_command_has_help():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "jobs.governance_report", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--use-case" in out.stdout and "--ds" in out.stdout and "--run-id" in out.stdout
