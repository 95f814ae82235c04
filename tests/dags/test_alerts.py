"""Slack alerts (plugins/alerts.py) against a real local HTTP server standing in for the webhook
(tests/webhook_server.py), on the connection ``AIRFLOW_CONN_SLACK_ALERTS``: a failing task of a real DAG run, the
drift alert and the retraining decision, and what happens without a connection or when Slack refuses."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from tests.conftest import PROJECT_ROOT
from tests.webhook_server import wait_for, webhook_server

CONN_ENV = "AIRFLOW_CONN_SLACK_ALERTS"
DECISION = {"use_case": "credit_default", "ds": "2026-01-07", "retrain": True, "trigger": "drift",
            "reason": "drift: 3 of the last 4 runs alerting (retrain at >= 3 of 5, a run alerting with >= 1 "
                      "feature(s) in alert); top features: purpose (PSI 0.520), credit_amount (PSI 0.300)",
            "alerting_runs": 3, "window_runs": 4, "window": ["2026-01-04", "2026-01-05", "2026-01-06", "2026-01-07"],
            "top_features": [["purpose", 0.52], ["credit_amount", 0.3], ["__score__", 0.271]], "model_version": "1"}


def conn_value(url: str) -> str:
    """The connection in the environment's JSON form: the whole webhook URL in the password."""
    return json.dumps({"conn_type": "slackwebhook", "password": url})


def _all_text(body: dict) -> str:
    return json.dumps(body)


def test_post_drift_alert_posts_use_case_date_features_and_psi(monkeypatch):
    from plugins.alerts import post_drift_alert

    with webhook_server() as (url, received):
        monkeypatch.setenv(CONN_ENV, conn_value(url))
        assert post_drift_alert("credit_default", "2026-01-07", DECISION) is True
    (body,) = received
    assert "Drift alert: credit_default 2026-01-07" in body["text"]
    for needle in ("credit_default", "2026-01-07", "purpose: PSI 0.520", "credit_amount: PSI 0.300",
                   "__score__: PSI 0.271", "Decision: retrain", "3 of the last 4", DECISION["reason"]):
        assert needle in body["text"], needle
    blocks = _all_text({"blocks": body["blocks"]})
    assert body["blocks"][0]["type"] == "header"
    for needle in ("credit_default", "2026-01-07", "purpose", "0.520", "credit_amount", "0.300", "*Decision*\\nretrain"):
        assert needle in blocks, needle


def test_post_retrain_decision_names_the_train_dag(monkeypatch):
    from plugins.alerts import post_retrain_decision

    no = {**DECISION, "retrain": False, "reason": "no retrain: 1 of the last 5 runs alerting", "top_features": []}
    with webhook_server() as (url, received):
        monkeypatch.setenv(CONN_ENV, conn_value(url))
        assert post_retrain_decision("credit_default", "2026-01-07", DECISION) is True
        assert post_retrain_decision("credit_default", "2026-01-08", no) is True
    first, second = received
    assert "Retraining triggered: credit_default 2026-01-07" in first["text"]
    assert "Triggered DAG: credit_default_train" in first["text"] and "purpose: PSI 0.520" in first["text"]
    assert "No retraining: credit_default 2026-01-08" in second["text"]
    assert "Decision: no retrain" in second["text"] and "no retrain: 1 of the last 5" in second["text"]


def test_no_connection_logs_a_warning_and_never_raises(monkeypatch, caplog):
    from airflow.sdk import DAG

    from plugins.alerts import connection_configured, failure_notifier, post_drift_alert

    monkeypatch.delenv(CONN_ENV, raising=False)
    assert connection_configured() is False
    with caplog.at_level(logging.WARNING, logger="riskpipe.alerts"):
        assert post_drift_alert("credit_default", "2026-01-07", DECISION) is False
        ti = SimpleNamespace(dag_id="credit_default_daily", task_id="silver", try_number=3, map_index=-1,
                             run_id="manual__2026-01-07", log_url="http://localhost:8080/dags/x")
        failure_notifier()({"ti": ti, "dag": DAG(dag_id="credit_default_daily", schedule=None),
                            "logical_date": None, "exception": RuntimeError("boom")})
    warnings = [r for r in caplog.records if r.name == "riskpipe.alerts" and r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "connection 'slack_alerts' is not configured" in warnings[0].getMessage()
    assert "purpose: PSI 0.520" in warnings[0].getMessage()  # the message is in the log instead
    assert "credit_default_daily / silver" in warnings[1].getMessage()
    assert "Try number: 3" in warnings[1].getMessage() and "RuntimeError: boom" in warnings[1].getMessage()


def test_slack_refusing_the_post_is_logged_not_raised(monkeypatch, caplog):
    from plugins.alerts import post_drift_alert

    with webhook_server(status=500, body="internal_error") as (url, received), \
            caplog.at_level(logging.ERROR, logger="riskpipe.alerts"):
        monkeypatch.setenv(CONN_ENV, conn_value(url))
        assert post_drift_alert("credit_default", "2026-01-07", DECISION) is False
    assert received and received[0]["text"].startswith(":warning: Drift alert")
    (error,) = [r for r in caplog.records if r.name == "riskpipe.alerts" and r.levelno == logging.ERROR]
    assert "500" in error.getMessage()


@pytest.mark.parametrize("value", [
    "slackwebhook://:http%3A%2F%2F127.0.0.1%3A{port}%2Fhook@",
    '{{"conn_type": "slackwebhook", "schema": "http", "host": "127.0.0.1:{port}", "password": "hook"}}',
])
def test_other_connection_forms_reach_the_same_url(monkeypatch, value):
    from plugins.alerts import send

    with webhook_server() as (url, received):
        port = url.split(":")[2].split("/")[0]
        monkeypatch.setenv(CONN_ENV, value.format(port=port))
        assert send("hello") is True
    assert received == [{"text": "hello"}]


DAG_FILE = '''
import datetime as dt

from airflow.sdk import DAG, task

from plugins.alerts import failure_notifier

with DAG("alerts_probe", schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), catchup=False,
         default_args={"retries": 0, "on_failure_callback": failure_notifier()}):

    @task(task_id="explode")
    def explode():
        raise RuntimeError("deliberate failure for the Slack test")

    explode()
'''

_RUN = """
import datetime as dt, json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
dag = bag.dags["alerts_probe"]
run = dag.test(logical_date=dt.datetime.fromisoformat(sys.argv[2]).replace(tzinfo=dt.timezone.utc))
print("DAG-RESULT " + json.dumps({"state": str(run.state),
                                  "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}}))
"""


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory, airflow_db) -> dict[str, str]:
    """An Airflow home of its own (a copy of the test session's migrated SQLite DB) whose DAG folder holds only
    ``alerts_probe``: the run does not touch the test session's Airflow DB nor parse the project's DAGs."""
    root = tmp_path_factory.mktemp("alerts_airflow")
    dags = root / "dags"
    dags.mkdir()
    (dags / "alerts_probe.py").write_text(textwrap.dedent(DAG_FILE))
    (root / "home").mkdir()
    shutil.copyfile(airflow_db, root / "home" / "airflow.db")
    return {**os.environ, "AIRFLOW_HOME": str(root / "home"), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}


@pytest.mark.slow
def test_failing_task_of_a_real_dag_run_posts_one_message(airflow_env):
    with webhook_server() as (url, received):
        env = {**airflow_env, CONN_ENV: conn_value(url)}
        done = subprocess.run([sys.executable, "-c", _RUN, env["AIRFLOW__CORE__DAGS_FOLDER"], "2026-01-05"],
                              cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
        wait_for(received, 1, timeout_s=5)
    lines = [line for line in done.stdout.splitlines() if line.startswith("DAG-RESULT ")]
    assert lines, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    result = json.loads(lines[-1][len("DAG-RESULT "):])
    assert result["tasks"] == {"explode": "failed"} and result["state"] == "failed"
    assert len(received) == 1, received
    text = received[0]["text"]
    assert text.startswith(":red_circle: Airflow task failed: alerts_probe / explode")
    for needle in ("DAG: alerts_probe", "Task: explode", "Logical date: 2026-01-05", "Try number: 1",
                   "RuntimeError: deliberate failure for the Slack test", "Log: http", "/dags/alerts_probe/runs/",
                   "/tasks/explode"):
        assert needle in text, (needle, text)
