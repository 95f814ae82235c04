"""``make onboard`` drafts run unedited: for both shipped samples, ``jobs.onboard`` writes a use case and its suite
into a temporary configuration folder, and replay → bronze → silver → gold runs on them with the unchanged jobs.

Small on purpose: one date per use case, which carries the replay's history load (80% of the sample, labels
matured) and a few resampled rows with malformed lines, so the drafted suite has something to quarantine.
"""
from __future__ import annotations


import pytest

from tests.conftest import PROJECT_ROOT, configured
from tests.integration.conftest import conf_folder, run_layers

SAMPLES = PROJECT_ROOT / "data" / "samples"
DRAFTS = {  # use case -> (sample, label, positive)
    "german_draft": ("german_credit.csv", "creditability", "bad"),
    "bank_draft": ("bank_marketing.csv.gz", "y", "yes"),
}
DS = "2026-03-01"
ROWS_PER_DAY = 40


@pytest.fixture(scope="module")
def draft_conf(tmp_path_factory, lakehouse):
    """A configuration folder with no use case but the two drafts ``jobs.onboard`` wrote (its stdout kept)."""
    from jobs import onboard

    root = tmp_path_factory.mktemp("onboard_conf")
    conf = conf_folder(root, samples=str(SAMPLES))
    with configured(RISKPIPE_CONF_DIR=str(conf)):
        for name, (sample, label, positive) in DRAFTS.items():
            code = onboard.main(["--sample", str(SAMPLES / sample), "--name", name, "--label", label,
                                 "--positive", positive])
            assert code == 0, name
        yield root


@pytest.mark.parametrize("name", list(DRAFTS))
def test_an_onboarded_draft_runs_through_the_medallion_layers_unedited(draft_conf, lakehouse, spark, name):
    from jobs.lib import lake, tables
    from jobs.lib.config import load_use_case, use_case_names
    from jobs.replay import replay

    assert use_case_names() == sorted(DRAFTS)
    assert (draft_conf / "expectations" / f"{name}_silver.json").is_file()
    use_case = load_use_case(name)
    summary = replay(use_case, DS, 1, rows_per_day=ROWS_PER_DAY, malformed_rate=0.1,
                     landing_root=str(lakehouse / "landing"))
    run_layers(spark, use_case, DS)

    silver = lake.read(tables.silver(name, "events")).toPandas()
    quarantine = lake.read(tables.quarantine(name)).toPandas()
    quality = lake.read(tables.quality(name)).toPandas()
    gold = lake.read(tables.gold_features(name)).toPandas()
    training = lake.read(tables.gold_training(name)).toPandas()

    # Every event row replayed is in silver or quarantined (or was a duplicate line), and the counts reconcile.
    assert quality["reconciled"].all()
    events_in = sum(summary.events.values())
    duplicates = summary.total_malformed("duplicate")
    assert len(silver) + len(quarantine[quarantine["stream"] == "events"]) + duplicates == events_in
    # The history rows are clean: all in silver; the malformed lines are what the drafted suite and silver refused
    # (a duplicate line's copy is dropped as a duplicate, the other kinds are quarantined).
    assert summary.total_malformed() > 0
    assert len(silver) == summary.history_events + ROWS_PER_DAY - summary.total_malformed()
    assert len(quarantine[quarantine["stream"] == "events"]) == summary.total_malformed() - duplicates
    # Gold: one feature row per silver event, with the drafted features; PII hashed, leaking columns not features.
    assert len(gold) == len(silver)
    features = use_case.features.numeric + use_case.features.categorical
    assert set(features) <= set(gold.columns)
    assert gold[use_case.entity].str.fullmatch(r"[0-9a-f]{64}").all()
    assert not set(use_case.forbidden_features) & set(features)
    # Training: the history's matured labels, joined on the date they landed, both classes, 1 = the positive value.
    assert len(training) == summary.history_events
    assert set(training["label"]) == {0, 1}
    assert ((training["label"] == 1) == (training["label_raw"] == use_case.label.positive)).all()


def test_bank_marketing_draft_forbids_duration_only(draft_conf):
    from jobs.lib.config import load_use_case

    use_case = load_use_case("bank_draft")
    assert list(use_case.forbidden_features) == ["duration"]
    assert "AUC 0.81" in use_case.forbidden_features["duration"]
    assert load_use_case("german_draft").forbidden_features == {}
