"""Slack alerts through the Slack provider's incoming-webhook hook: task failures, drift alerts, retraining decisions.

* :func:`failure_notifier` — an ``on_failure_callback`` for a DAG's ``default_args``: names the DAG, task, logical
  date, try number, run, the error and the log URL. It fires when a task has failed for good (a try that will be
  retried calls ``on_retry_callback``, not this).
* :func:`post_drift_alert` / :func:`post_retrain_decision` — a message (Block Kit blocks + a plain-text fallback)
  with the use case, date, top drifting features with their PSI, the decision and its reason; for the daily DAG's
  decide step (the dict :func:`jobs.decide.run` returns).

All of them post on the Airflow connection ``alerts.slack_conn_id`` of ``conf/base.yaml`` (``slack_alerts``). The
webhook URL is a secret: it lives in that connection, e.g. in the environment (never in git)::

    AIRFLOW_CONN_SLACK_ALERTS='{"conn_type": "slackwebhook", "password": "<your Slack incoming-webhook URL>"}'

Connection format (``SlackWebhookHook._build_conn_params`` of apache-airflow-providers-slack 9.11.1): type
``slackwebhook``; the **password** holds the webhook. When it contains ``://`` it is the whole URL; otherwise it is
the token path (``T0/B0/XXXX``) appended to ``<schema or https>://<host or hooks.slack.com/services>``. The port
field is ignored (put it in the host, or in the URL in the password). Extras: ``timeout``, ``proxy``. So a local
stand-in at ``http://127.0.0.1:8099/hook`` (plain http) is::

    AIRFLOW_CONN_SLACK_ALERTS='{"conn_type": "slackwebhook", "password": "http://127.0.0.1:8099/hook"}'
    # or, same URL, as a connection URI (the password percent-encoded):
    AIRFLOW_CONN_SLACK_ALERTS='slackwebhook://:http%3A%2F%2F127.0.0.1%3A8099%2Fhook@'
    # or host + schema + token path:
    AIRFLOW_CONN_SLACK_ALERTS='{"conn_type": "slackwebhook", "schema": "http", "host": "127.0.0.1:8099", "password": "hook"}'

(``slackwebhook://:hook@127.0.0.1:8099/http`` does *not* work: the hook drops the port and posts to
``http://127.0.0.1/hook``.)

**No connection** (or one without a password): nothing is sent, a warning with the message is logged, nothing
raises — the DAGs run the same without Slack. Whether it exists is what ``BaseHook.get_connection`` says
(``AirflowNotFoundException`` otherwise): environment variables first, then the task's API server / metastore; about
20 ms from the environment. A post that fails (Slack down, HTTP error) is logged as an error and does not raise
either: an alert must never fail the work it reports on.

Nothing heavy is imported when this module is: the DAG files call :func:`failure_notifier` when parsed (the Slack
provider and ``slack_sdk`` cost ~0.6 s to import; they are imported when a message is sent).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

log = logging.getLogger("riskpipe.alerts")
TIMEOUT_SECONDS = 10
SECTION_LIMIT = 2900  # Slack refuses a section text over 3000 characters


def _settings():
    from jobs.lib.config import settings

    return settings().alerts


def connection_configured(conn_id: str | None = None) -> bool:
    """Whether the Slack connection exists (no network call)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id or _settings().slack_conn_id)
    except AirflowNotFoundException:
        return False
    return True


def send(text: str, blocks: list[dict] | None = None, *, conn_id: str | None = None) -> bool:
    """Post ``text`` (and ``blocks``) on the Slack webhook connection; True when Slack accepted it. Never raises:
    no connection → a warning with the message; a failed post → an error, both logged."""
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    cfg = _settings()
    conn_id = conn_id or cfg.slack_conn_id
    extra = {"channel": cfg.channel} if cfg.channel else {}  # honoured by legacy webhooks only (the hook warns)
    try:
        hook = SlackWebhookHook(slack_webhook_conn_id=conn_id, timeout=TIMEOUT_SECONDS)
        hook.send(text=text, blocks=blocks, **extra)
    except AirflowNotFoundException as exc:
        log.warning("Slack alert not sent: connection %r is not configured (%s; set AIRFLOW_CONN_%s). Message:\n%s",
                    conn_id, exc, conn_id.upper(), text)
        return False
    except Exception as exc:  # Slack down, HTTP error, bad URL: report, never fail the caller
        log.error("Slack alert could not be posted on connection %r: %s: %s. Message:\n%s", conn_id,
                  type(exc).__name__, exc, text)
        return False
    return True


# ------------------------------------------------------------------------------------------ task failures
class SlackFailureNotifier(BaseNotifier):
    """``on_failure_callback``: one Slack message per failed task (see :func:`failure_notifier`).

    The text is built from the callback's context at call time (not a Jinja template rendered into the
    notifier: one notifier instance serves every task of the DAG, and rendering would overwrite it)."""

    def __init__(self, slack_conn_id: str | None = None):
        super().__init__()
        self.slack_conn_id = slack_conn_id

    @staticmethod
    def message(context: Mapping[str, Any]) -> str:
        ti = context.get("ti") or context.get("task_instance")
        dag = context.get("dag")
        dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", "?")
        task_id = getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", "?")
        map_index = getattr(ti, "map_index", -1)
        task = f"{task_id}[{map_index}]" if isinstance(map_index, int) and map_index >= 0 else task_id
        logical = context.get("logical_date")
        logical = logical.isoformat() if hasattr(logical, "isoformat") else (logical or context.get("ds") or "none")
        try:
            log_url = getattr(ti, "log_url", None) or "n/a"
        except Exception:  # a property that needs configuration
            log_url = "n/a"
        lines = [f":red_circle: Airflow task failed: {dag_id} / {task}",
                 f"DAG: {dag_id}", f"Task: {task}", f"Logical date: {logical}",
                 f"Try number: {getattr(ti, 'try_number', '?')}", f"Run: {context.get('run_id') or getattr(ti, 'run_id', '?')}"]
        error = context.get("exception")
        if error is not None:
            lines.append(f"Error: {type(error).__name__}: {str(error)[:500]}" if isinstance(error, BaseException)
                         else f"Error: {str(error)[:500]}")
        lines.append(f"Log: {log_url}")
        return "\n".join(lines)

    def notify(self, context) -> None:
        send(self.message(context), conn_id=self.slack_conn_id)


def failure_notifier(slack_conn_id: str | None = None) -> SlackFailureNotifier:
    """The ``on_failure_callback`` for every DAG's ``default_args`` (connection ``alerts.slack_conn_id``)."""
    return SlackFailureNotifier(slack_conn_id or _settings().slack_conn_id)


# ------------------------------------------------------------------------------------ drift and retraining
def _features(decision: Mapping[str, Any], limit: int | None = None) -> list[tuple[str, float | None]]:
    out = []
    for item in decision.get("top_features") or []:
        feature, psi = (item[0], item[1]) if isinstance(item, (list, tuple)) else (item, None)
        out.append((str(feature), None if psi is None else float(psi)))
    return out[:limit] if limit else out


def _psi(psi: float | None) -> str:
    return "n/a" if psi is None else f"{psi:.3f}"


def _cut(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _message(title: str, use_case: str, ds: str, decision: Mapping[str, Any], extra: Sequence[str] = ()
             ) -> tuple[str, list[dict]]:
    """(plain text, blocks) of a drift / decision message."""
    features = _features(decision, _settings().top_features)
    retrain = bool(decision.get("retrain"))
    verdict = "retrain" if retrain else "no retrain"
    runs = f"{decision.get('alerting_runs', 0)} of the last {decision.get('window_runs', len(decision.get('window') or []))}"
    reason = str(decision.get("reason") or "")
    feature_lines = [f"• {f}: PSI {_psi(p)}" for f, p in features] or ["none"]
    version = decision.get("model_version")
    text = "\n".join([
        f"{title}: {use_case} {ds}",
        f"Use case: {use_case} | Date: {ds} | Model version: {version or 'n/a'} | Alerting runs: {runs}",
        "Top drifting features (PSI):", *feature_lines,
        f"Decision: {verdict}", f"Reason: {reason}", *extra,
    ])
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(f"{title}: {use_case} {ds}", 150)}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Use case*\n{use_case}"},
            {"type": "mrkdwn", "text": f"*Date*\n{ds}"},
            {"type": "mrkdwn", "text": f"*Decision*\n{verdict}"},
            {"type": "mrkdwn", "text": f"*Alerting runs*\n{runs}"},
        ]},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": _cut("*Top drifting features (PSI)*\n" + "\n".join(feature_lines))}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"*Reason*\n{reason}")}},
    ]
    context = [f"model version {version}" if version else "", *extra]
    if any(context):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(" | ".join(c for c in context
                                                                                                if c))}]})
    return text, blocks


def post_drift_alert(use_case: str, ds: str, decision: Mapping[str, Any], *, conn_id: str | None = None) -> bool:
    """A drift alert for ``use_case`` on ``ds`` (``decision``: :func:`jobs.decide.run`'s dict); True if posted."""
    text, blocks = _message(":warning: Drift alert", use_case, ds, decision)
    return send(text, blocks, conn_id=conn_id)


def post_retrain_decision(use_case: str, ds: str, decision: Mapping[str, Any], *, train_dag_id: str | None = None,
                          conn_id: str | None = None) -> bool:
    """The retraining decision for ``use_case`` on ``ds``: retrain (and which DAG is triggered) or not, and why."""
    retrain = bool(decision.get("retrain"))
    title = ":arrows_counterclockwise: Retraining triggered" if retrain else ":information_source: No retraining"
    extra = [f"Triggered DAG: {train_dag_id or use_case + '_train'}"] if retrain else []
    text, blocks = _message(title, use_case, ds, decision, extra)
    return send(text, blocks, conn_id=conn_id)
