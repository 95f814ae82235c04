"""The retraining decision (jobs/lib/retrain_policy.py): drift window, performance drop, cooldown, determinism."""
from __future__ import annotations

import datetime as dt

from jobs.lib.config import RetrainPolicy
from jobs.lib.retrain_policy import (CohortPerformance, PreviousDecision, RunAlerts, decide, summarise_drift,
                                     top_features)

POLICY = RetrainPolicy(alert_runs=3, window_runs=5, min_alert_features=1, performance_drop=0.05,
                       min_cohort_rows=200, cooldown_runs=5)
START = dt.date(2026, 1, 1)


def day(i: int) -> str:
    return (START + dt.timedelta(days=i)).isoformat()


def run(i: int, alert: bool) -> RunAlerts:
    if alert:
        return RunAlerts(ds=day(i), alert_features=frozenset({"credit_amount"}),
                         psi={"credit_amount": 0.4, "age_in_years": 0.12, "__score__": 0.05},
                         status={"credit_amount": "alert", "age_in_years": "warn", "__score__": "ok"})
    return RunAlerts(ds=day(i), psi={"credit_amount": 0.01}, status={"credit_amount": "ok"})


def replay(pattern: list[bool], policy: RetrainPolicy = POLICY, cohorts=None):
    """Decide day after day as the daily DAG would; the decisions, in order."""
    runs, previous, out = [], [], []
    for i, alert in enumerate(pattern):
        runs.append(run(i, alert))
        d = decide(day(i), runs, previous, (cohorts or {}).get(i, []), policy)
        previous.append(PreviousDecision(day(i), d.retrain))
        out.append(d)
    return out


def test_no_drift_no_retrain():
    decisions = replay([False] * 8)
    assert not any(d.retrain for d in decisions)
    assert decisions[-1].alerting_runs == 0 and decisions[-1].window == [day(i) for i in range(3, 8)]
    assert decisions[-1].reason.startswith("no retrain: 0 of the last 5 runs alerting")
    assert decisions[-1].top_features == []


def test_alerts_in_two_of_five_runs_do_not_retrain():
    decisions = replay([True, False, True, False, False])
    assert [d.retrain for d in decisions] == [False] * 5
    assert decisions[-1].alerting_runs == 2
    assert [d.run_alerts for d in decisions] == [True, False, True, False, False]


def test_third_alerting_run_retrains_exactly_then():
    decisions = replay([True, False, True, False, True, True])
    assert [d.retrain for d in decisions] == [False, False, False, False, True, False]
    hit = decisions[4]
    assert hit.trigger == "drift" and hit.alerting_runs == 3 and hit.window == [day(i) for i in range(5)]
    assert hit.reason.startswith("drift: 3 of the last 5 runs alerting")
    assert hit.top_features == [("credit_amount", 0.4), ("age_in_years", 0.12)]  # alert first, then warn; not ok


def test_old_alerts_leave_the_window():
    # Alerts on days 0, 1 then quiet: on day 6 the window is days 2..6, so a 3rd alert never comes together.
    decisions = replay([True, True, False, False, False, False, True])
    assert not any(d.retrain for d in decisions)
    assert decisions[-1].alerting_runs == 1


def test_cooldown_prevents_an_immediate_retrigger():
    decisions = replay([True] * 12)
    assert [d.retrain for d in decisions] == [False, False, True, False, False, False, False, False, True,
                                              False, False, False]
    held = decisions[3]
    assert held.cooldown and not held.retrain
    assert held.reason.startswith(f"cooldown: retraining was decided on {day(2)}, run 1 of 5 since; would retrain "
                                  "for drift: 4 of the last 4 runs alerting")
    assert decisions[7].reason.startswith(f"cooldown: retraining was decided on {day(2)}, run 5 of 5")


def test_performance_drop_triggers():
    dropped = CohortPerformance(score_date=day(0), rows=250, auc=0.69, holdout_auc=0.75, model_version="3")
    decisions = replay([False, False], cohorts={1: [dropped]})
    assert [d.retrain for d in decisions] == [False, True]
    assert decisions[1].trigger == "performance"
    assert decisions[1].reason == (f"performance: cohort {day(0)} (model v3): AUC 0.6900 on 250 matured rows <= "
                                   "training holdout AUC 0.7500 - 0.05")
    assert decisions[1].performance[0]["verdict"] == "dropped"


def test_performance_needs_enough_rows_and_a_real_drop():
    small = CohortPerformance(score_date=day(0), rows=199, auc=0.5, holdout_auc=0.75)
    slight = CohortPerformance(score_date=day(0), rows=400, auc=0.71, holdout_auc=0.75, model_version="3")
    one_class = CohortPerformance(score_date=day(0), rows=400, auc=None, holdout_auc=0.75)
    d = decide(day(1), [run(1, False)], [], [small, slight, one_class], POLICY)
    assert not d.retrain
    assert sorted(c["verdict"] for c in d.performance) == ["no AUC", "ok", "too few rows (199 < 200)"]
    boundary = CohortPerformance(score_date=day(0), rows=200, auc=0.70, holdout_auc=0.75)  # exactly the drop
    assert decide(day(1), [run(1, False)], [], [boundary], POLICY).retrain


def test_drift_and_performance_together_name_both():
    dropped = CohortPerformance(score_date=day(0), rows=300, auc=0.6, holdout_auc=0.8)
    d = decide(day(2), [run(0, True), run(1, True), run(2, True)], [], [dropped], POLICY)
    assert d.retrain and d.trigger == "drift+performance"
    assert d.reason.startswith("drift: 3 of the last 3 runs") and "; performance: cohort" in d.reason


def test_rerun_of_the_same_date_gives_the_same_decision():
    runs = [run(i, True) for i in range(4)]
    previous = [PreviousDecision(day(0), False), PreviousDecision(day(1), False), PreviousDecision(day(2), True)]
    first = decide(day(2), runs, previous, [], POLICY)
    # The rerun sees its own earlier decision and later runs recorded since: both are ignored; a duplicate of
    # the date's drift (e.g. read twice) counts once.
    again = decide(day(2), [*runs, run(2, True), run(5, True)],
                   [*previous, PreviousDecision(day(3), False)], [], POLICY)
    assert first == again
    assert first.retrain and first.alerting_runs == 3


def test_no_drift_results_for_the_date():
    d = decide(day(3), [run(0, True), run(1, True), run(2, True)], [], [], POLICY)
    assert not d.retrain and d.reason == f"no drift results for {day(3)} (no champion yet?)"
    assert d.window == [] and d.alerting_runs == 0


def test_min_alert_features():
    policy = RetrainPolicy(alert_runs=1, window_runs=1, min_alert_features=2, cooldown_runs=0)
    one = RunAlerts(ds=day(0), alert_features=frozenset({"a"}), status={"a": "alert"})
    two = RunAlerts(ds=day(0), alert_features=frozenset({"a", "__score__"}), status={"a": "alert", "__score__": "alert"})
    assert not decide(day(0), [one], [], [], policy).retrain
    assert decide(day(0), [two], [], [], policy).retrain


def test_summarise_drift_from_table_rows():
    rows = [
        {"ds": day(0), "feature": "credit_amount", "metric": "psi", "value": 0.3, "status": "alert", "model_version": "2"},
        {"ds": day(0), "feature": "credit_amount", "metric": "ks_pvalue", "value": 0.001, "status": "alert"},
        {"ds": day(0), "feature": "purpose", "metric": "psi", "value": 0.15, "status": "warn"},
        {"ds": day(0), "feature": "purpose", "metric": "chi2_pvalue", "value": 0.001, "status": "alert"},
        {"ds": day(0), "feature": "__score__", "metric": "psi", "value": 0.02, "status": "ok"},
        {"ds": dt.date(2026, 1, 2), "feature": "housing", "metric": "psi", "value": float("nan"), "status": "ok"},
    ]
    first, second = summarise_drift(rows)
    assert first.ds == day(0) and first.alert_features == {"credit_amount", "purpose"}
    assert first.status == {"credit_amount": "alert", "purpose": "alert", "__score__": "ok"}
    assert first.model_version == "2"
    assert top_features(first, 5) == [("credit_amount", 0.3), ("purpose", 0.15)]
    assert top_features(first, 1) == [("credit_amount", 0.3)]
    assert second.ds == day(1) and second.psi == {} and not second.alerts(1)


def test_to_dict_is_json_ready():
    import json

    d = replay([True, True, True])[-1]
    data = json.loads(json.dumps(d.to_dict()))
    assert data["retrain"] is True and data["window_runs"] == 3
    assert data["top_features"] == [["credit_amount", 0.4], ["age_in_years", 0.12]]
