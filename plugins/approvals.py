"""Human-in-the-loop approvals of the DAGs (the standard provider's HITL operators).

* :class:`RecordedBranchOperator` — ``HITLBranchOperator`` that also pushes who decided (XCom ``decision``), so
  the task that activates or rejects a scorecard draft records the approver by name;
* :func:`respond` — record a decision for a task awaiting input, exactly as the Airflow UI's *Required actions*
  page or ``PATCH /api/v2/.../hitlDetails`` does (it calls that endpoint's function against the metadata DB).
  For tests and for ``make run``'s unattended demo, which answers as a named user; people decide in the UI.
"""
from __future__ import annotations

import time
from typing import Any

from airflow.providers.standard.operators.hitl import HITLBranchOperator


class RecordedBranchOperator(HITLBranchOperator):
    """``HITLBranchOperator`` whose decision (option, who, when) is kept in XCom ``decision``."""

    def execute_complete(self, context, event: dict[str, Any]) -> Any:
        if "error" not in event:
            user = event.get("responded_by_user") or {}
            context["ti"].xcom_push(key="decision", value={
                "chosen": list(event.get("chosen_options") or []),
                "by": user.get("name") or user.get("id") or "unknown",
                "at": str(event.get("responded_at")),
                "params": dict(event.get("params_input") or {}),
            })
        return super().execute_complete(context, event)


class _User:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_id(self) -> str:
        return self.name

    def get_name(self) -> str:
        return self.name


def awaiting_input(dag_id: str, task_id: str) -> list[str]:
    """Run ids whose ``task_id`` waits for a human response."""
    from sqlalchemy import select

    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        return list(session.scalars(select(TaskInstance.run_id).where(
            TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id,
            TaskInstance.state == TaskInstanceState.AWAITING_INPUT)))


def respond(dag_id: str, run_id: str, task_id: str, option: str, user: str,
            params_input: dict[str, Any] | None = None) -> None:
    """Record ``user``'s choice of ``option`` for the task awaiting input (the REST endpoint's own function)."""
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.utils.session import create_session

    with create_session() as session:
        update_hitl_detail(dag_id=dag_id, dag_run_id=run_id, task_id=task_id,
                           update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[option],
                                                                              params_input=params_input or {}),
                           user=_User(user), session=session)


def prepare_responder() -> None:
    """Import and configure Airflow's ORM models in this (main) thread before a responder thread queries the
    DB: otherwise the thread's first query imports them while the main thread imports modules too, and the two
    deadlock on Python's import locks."""
    from sqlalchemy.orm import configure_mappers

    import airflow.api_fastapi.core_api.routes.public.hitl  # noqa: F401  (the endpoint respond() calls)
    import airflow.models.dagbag  # noqa: F401
    from airflow.models import import_all_models

    import_all_models()
    configure_mappers()


def respond_when_asked(dag_id: str, task_id: str, option: str, user: str, timeout_s: float = 600,
                       params_input: dict[str, Any] | None = None) -> str | None:
    """Wait until ``task_id`` of ``dag_id`` awaits input, then answer; the run id answered, or None on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = awaiting_input(dag_id, task_id)
        if runs:
            respond(dag_id, runs[0], task_id, option, user, params_input)
            return runs[0]
        time.sleep(0.5)
    return None
