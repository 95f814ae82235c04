"""The scorecard job on real gold training rows (German credit), real Delta tables in a tmp lakehouse.

One scenario, in order: a draft on the rows up to D1 (nothing active: comparison checks pass by default), a
rerun of it (same version), its activation by a person; a draft on the rows up to D2 through the command
line, compared with the active one; its rejection.
"""
from __future__ import annotations

import json

import pytest

from tests.integration.train_data import write_gold_training

pytestmark = pytest.mark.slow
D1, D2 = "2026-01-20", "2026-01-26"  # labels of applications up to 01-14 (700 rows) and up to 01-20 (all 1000)
CHECKS = {"min_samples", "default_rate", "auc_floor", "max_weight_change", "score_correlation", "band_psi"}


@pytest.fixture(scope="module")
def scenario(lakehouse, spark):
    from jobs import scorecard_job
    from jobs.lib.config import load_use_case

    credit = load_use_case("credit_default")
    write_gold_training(spark, credit)
    first = scorecard_job.draft(spark, credit, D1)
    rerun = scorecard_job.draft(spark, credit, D1)
    activated = scorecard_job.activate(credit, first.version, "alice", D1)
    cli_draft = scorecard_job.main(["draft", "--use-case", "credit_default", "--ds", D2])
    second = scorecard_job.status(credit)["versions"][-1]
    rejected = scorecard_job.main(["reject", "--use-case", "credit_default", "--version", str(second["version"]),
                                   "--approver", "bob", "--reason", "weights moved too far", "--ds", D2])
    return dict(use_case=credit, first=first, rerun=rerun, activated=activated, cli_draft=cli_draft,
                second=second, rejected=rejected)


def _store():
    from jobs import scorecard_job

    return scorecard_job.store("credit_default")


def test_first_draft_is_saved_with_its_checks(scenario):
    first = scenario["first"]
    assert first.version == 1 and scenario["rerun"].version == 1  # a rerun of the date: same version
    assert {c.check for c in first.checks} == CHECKS and first.compared_to_version is None
    assert first.checks_passed, str(first)
    assert first.n_samples == 560  # train + validation of 700 rows; the most recent 140 measure the AUC
    protected = {"age_in_years", "personal_status_and_sex", "foreign_worker", "customer_id"}
    assert first.features and not protected & set(first.features)
    row = _store().versions().iloc[0]
    assert row.created_for_ds.isoformat() == D1 and row.checks_passed
    stored = {c["check"]: c for c in json.loads(row.checks)}
    assert stored.keys() == CHECKS and stored["auc_floor"]["value"] == pytest.approx(first.auc)
    assert stored["auc_floor"]["threshold"] == 0.7 and stored["default_rate"]["threshold"] == [0.01, 0.5]
    assert json.loads(row.params)["pdo"] == 20 and json.loads(row.params)["base_score"] == 600
    assert not _store().points(1).empty


def test_activation_makes_it_active_at_the_logical_date(scenario):
    assert "v1 is active (approved by alice" in scenario["activated"]
    v = _store().versions().set_index("scorecard_version")
    assert v.loc[1, "approved_by"] == "alice" and v.loc[1, "decided_at"].isoformat() == f"{D1}T00:00:00+00:00"
    assert _store().active_version() == 1


def test_second_draft_is_compared_with_the_active_one(scenario):
    assert scenario["cli_draft"] == 0
    second = scenario["second"]
    assert second["version"] == 2 and second["compared_to_version"] == 1
    checks = {c["check"]: c for c in second["checks"]}
    assert checks.keys() == CHECKS
    for name in ("max_weight_change", "score_correlation", "band_psi"):
        assert checks[name]["value"] is not None  # measured against v1, not passed by default
    row = _store().versions().set_index("scorecard_version").loc[2]
    comparison = json.loads(row.comparison)
    assert comparison["n_rows"] == 200 and comparison["max_weight_change"] == pytest.approx(
        checks["max_weight_change"]["value"])


def test_rejection_keeps_the_draft_marked_rejected_and_the_active_one(scenario, capsys):
    from jobs import scorecard_job

    assert scenario["rejected"] == 0
    v = _store().versions().set_index("scorecard_version")
    assert v.loc[2, "status"] == "rejected" and v.loc[2, "approved_by"] == "bob"
    assert v.loc[2, "decision_reason"] == "weights moved too far"
    assert v.loc[2, "decided_at"].isoformat() == f"{D2}T00:00:00+00:00"
    assert v.loc[1, "status"] == "active" and not _store().points(2).empty  # kept, not deleted
    capsys.readouterr()
    assert scorecard_job.main(["activate", "--use-case", "credit_default", "--version", "2", "--approver", "carol",
                               "--ds", D2]) == 1
    assert "v2 is rejected; only a draft can be activated" in capsys.readouterr().err
    assert scorecard_job.main(["status", "--use-case", "credit_default"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["active_version"] == 1 and [x["status"] for x in status["versions"]] == ["active", "rejected"]


def test_a_use_case_without_a_scorecard_section_is_refused(scenario, capsys):
    from jobs import scorecard_job

    assert scorecard_job.main(["status", "--use-case", "lead_scoring"]) == 0  # nothing stored: empty
    capsys.readouterr()
    assert scorecard_job.main(["activate", "--use-case", "lead_scoring", "--version", "1", "--approver", "a",
                               "--ds", D1]) == 1
    assert "has no 'scorecard' section" in capsys.readouterr().err


def test_command_has_help():
    import subprocess
    import sys

    top = subprocess.run([sys.executable, "-m", "jobs.scorecard_job", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert top.returncode == 0, top.stderr
    assert all(command in top.stdout for command in ("draft", "activate", "reject", "status"))
    sub = subprocess.run([sys.executable, "-m", "jobs.scorecard_job", "reject", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert sub.returncode == 0 and all(a in sub.stdout for a in ("--version", "--approver", "--reason", "--ds"))
