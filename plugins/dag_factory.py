"""Builds every use case's DAGs from ``conf/use_cases/*.yaml``; the files in ``dags/`` only call it.

``<use_case>_daily`` (one run per logical date ``ds``):

    land ──► bronze ──► silver ──► gold ──► score ──► drift ──► performance ──► decide ──► retrain_branch
                                                                                   ├──► trigger_train
                                                                                   └──► no_retrain

(the steps after gold for use cases with a ``scoring`` section; see :func:`monitoring`).

* ``land`` waits (sensor, poke mode) for the landing folder of ``ds`` and fails after
  ``airflow.landing_timeout_minutes`` naming the folder;
* ``bronze``/``silver``/``gold`` run ``jobs/<layer>.py``'s ``run(spark, use_case, ds)`` through the Spark
  provider:

  - ``spark.connect.enabled`` (the local profile): ``@task.pyspark`` on the ``spark_connect`` connection
    (``airflow.spark_connect_conn_id``), a thin client of the one warm Spark Connect server
    (``make spark-up``; a task starts it when it is not running): no JVM per task. A 100-row bronze task took
    1.9 s this way against 24 s spark-submitted on a quiet 2-core machine (``benchmarks/task_overhead.py``).
  - otherwise (the cluster profile): ``SparkSubmitOperator`` submitting ``jobs/<layer>.py --use-case <name>
    --ds {{ ds }}`` on connection ``airflow.spark_conn_id``, one JVM per task as a cluster wants.

``<use_case>_train`` (use cases with a ``model`` section; see :func:`train_dag`): train ──► governance ──►
gate, and for use cases with a ``scorecard`` the draft, a person's approval and the activation or rejection.

Every task reads and writes only the partition of ``ds`` (Delta ``replaceWhere``), so a retry, a
rerun or a backfill gives the same tables. Nothing heavy is imported here: parsing stays well under a
second.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from jobs.lib.config import UseCase, load_use_case, settings, use_case_names

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("bronze", "silver", "gold")


def default_args() -> dict:
    """Owner, retries, and a Slack message (``alerts.slack_conn_id``; logged when unset) when a task fails for good."""
    from plugins.alerts import failure_notifier

    a = settings().airflow
    return {"owner": a.owner, "retries": a.retries, "retry_delay": dt.timedelta(minutes=a.retry_delay_minutes),
            "on_failure_callback": failure_notifier()}


def spark_task(job: str, use_case: UseCase, mode: str | None = None, *, task_id: str | None = None,
               entry: str = "run", options: dict | None = None):
    """The task running ``jobs/<job>.py`` for ``use_case`` on ``{{ ds }}``.

    ``mode``: ``connect`` (``@task.pyspark`` on the Spark Connect connection), ``submit`` (``SparkSubmitOperator``,
    a JVM per task) or ``submit-remote`` (``SparkSubmitOperator`` whose submitted Python is a client of the
    configured Connect server; spark-submit's launcher JVM still starts: measured in
    ``benchmarks/task_overhead.py``). Default: ``connect`` when
    ``spark.connect.enabled``, else ``submit``.
    """
    cfg = settings()
    mode = mode or ("connect" if cfg.spark.connect.enabled else "submit")
    task_id = task_id or job
    options = dict(options or {})
    if mode == "connect":
        return _connect_task(job, use_case, task_id, entry, options)
    if mode not in ("submit", "submit-remote"):
        raise ValueError(f"spark task mode {mode!r}: use connect, submit or submit-remote")
    flags = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        flags += [flag] if value is True else [] if value in (False, None) else [flag, str(value)]
    return _submit_task(job, use_case, task_id, flags, remote=mode == "submit-remote")


def _connect_task(job: str, use_case: UseCase, task_id: str, entry: str, options: dict):
    from airflow.sdk import task

    cfg = settings()
    name = use_case.name

    @task.pyspark(task_id=task_id, conn_id=cfg.airflow.spark_connect_conn_id,
                  doc_md=f"`jobs/{job}.py` `{entry}()` for `{name}` on `{{{{ ds }}}}` as a Spark Connect client.")
    def run(ds: str | None = None, spark=None) -> str:
        from plugins.spark_tasks import run_job

        return run_job(spark, job, name, ds, entry=entry, **options)

    return run()


def _submit_task(layer: str, use_case: UseCase, task_id: str, flags: list[str], remote: bool = False):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    from jobs.lib.spark import driver_java_options, profile_conf

    cfg = settings()
    return SparkSubmitOperator(
        task_id=task_id,
        application=str(PROJECT_ROOT / "jobs" / f"{layer}.py"),
        application_args=["--use-case", use_case.name, "--ds", "{{ ds }}", *flags],
        conn_id=cfg.airflow.spark_conn_id,
        name=f"riskpipe-{layer}-{use_case.name}",
        properties_file=str(cfg.conf_dir / "spark-defaults.conf"),
        # Short batch jobs: quiet driver logs, and C1-only JIT (halves a cold job's CPU on small nodes), after the
        # configured options (this --conf replaces the properties file's value).
        conf={"spark.driver.extraJavaOptions": driver_java_options(profile_conf(cfg), cfg, "-XX:TieredStopAtLevel=1")},
        # Not SPARK_REMOTE: spark-submit refuses it next to the --master the provider always passes.
        env_vars={"RISKPIPE_SPARK_CONNECT": "1"} if remote else None,
        doc_md=f"`jobs/{layer}.py` for `{use_case.name}` on `{{{{ ds }}}}` (see the module docstring).",
    )


def daily_dag(use_case: UseCase):
    from airflow.sdk import DAG, PokeReturnValue, task

    cfg = settings()
    if cfg.spark.connect.enabled:
        from plugins.spark_tasks import ensure_connection

        ensure_connection()
    with DAG(
        dag_id=f"{use_case.name}_daily",
        description=f"{use_case.description} Landing -> bronze -> silver -> gold for one date.",
        schedule="@daily",
        start_date=dt.datetime.fromisoformat(cfg.airflow.start_date).replace(tzinfo=dt.timezone.utc),
        catchup=False,
        max_active_runs=1,
        default_args=default_args(),
        tags=["riskpipe", "medallion", use_case.name],
        doc_md=__doc__,
    ) as dag:

        @task.sensor(task_id="land", poke_interval=cfg.airflow.landing_poke_seconds,
                     timeout=cfg.airflow.landing_timeout_minutes * 60, mode="poke")
        def land(ds: str | None = None) -> PokeReturnValue:
            """Wait for the day's landing folder of events; hand its file list on."""
            from jobs.bronze import landing_files

            folder = settings().landing_dir(use_case.name, "events", ds)
            files = landing_files(folder)
            if files is None:
                print(f"waiting for {folder}")
            return PokeReturnValue(is_done=bool(files), xcom_value=files)

        previous = land()
        for layer in LAYERS:
            current = spark_task(layer, use_case)
            previous >> current
            previous = current
        if use_case.scoring is not None:
            monitoring(use_case, previous)
    return dag


def monitoring(use_case: UseCase, gold):
    """gold ──► score ──► drift ──► performance ──► decide ──► retrain_branch ──► trigger_train | no_retrain.

    ``score`` writes the CRM's scores (champion, canary, the challenger's shadow); ``drift`` compares the day with
    the champion's reference statistics; ``performance`` scores the cohorts whose labels matured; ``decide``
    applies the retraining policy (``monitoring.retrain``) and records the decision; ``retrain_branch`` posts
    the drift alert / retraining decision to Slack and picks ``trigger_train`` (a run of ``<use_case>_train``
    for the same logical date) or ``no_retrain``. Each step reads and writes only its date: a rerun replaces.
    """
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
    from airflow.sdk import task

    name = use_case.name
    scored = spark_task("score", use_case)
    drifted = spark_task("drift", use_case)
    performed = spark_task("performance", use_case)
    decided = spark_task("decide", use_case, entry="decision_json")

    @task.branch(task_id="retrain_branch")
    def retrain_branch(ds: str | None = None, ti=None) -> str:
        """Slack: a drift alert when the day alerts, the decision when it retrains. Then the branch."""
        import json

        from plugins import alerts

        raw = ti.xcom_pull(task_ids="decide")
        if raw:
            decision = json.loads(raw)
        else:  # a spark-submitted decide task returns nothing: read the recorded decision
            from jobs.decide import recorded_decision

            decision = recorded_decision(name, ds)
        print(f"{name} {ds}: retrain={decision.get('retrain')} ({decision.get('reason')})")
        if decision.get("run_alerts"):
            alerts.post_drift_alert(name, ds, decision)
        if decision.get("retrain"):
            alerts.post_retrain_decision(name, ds, decision, train_dag_id=f"{name}_train")
            return "trigger_train"
        return "no_retrain"

    trigger = TriggerDagRunOperator(
        task_id="trigger_train", trigger_dag_id=f"{name}_train", trigger_run_id="retrain__{{ ds }}",
        logical_date="{{ logical_date }}", conf={"reason": "{{ ti.xcom_pull(task_ids='decide') }}"},
        skip_when_already_exists=True, wait_for_completion=False,
        doc_md="Start the training DAG for this date: the drift or performance rule of `monitoring.retrain` held.")
    end = EmptyOperator(task_id="no_retrain")
    branch = retrain_branch()
    gold >> scored >> drifted >> performed >> decided >> branch >> [trigger, end]


def train_dag(use_case: UseCase):
    """``<use_case>_train``: manual (or triggered by the daily DAG when drift calls for it).

    train (Optuna/XGBoost on gold training rows up to ``ds``, MLflow run, registered as ``challenger``) ──►
    governance (report, model card, governance table) ──► gate (``champion`` or stays ``challenger``, reason
    recorded).
    """
    from airflow.sdk import DAG, task

    cfg = settings()
    name = use_case.name
    if cfg.spark.connect.enabled:
        from plugins.spark_tasks import ensure_connection

        ensure_connection()
    with DAG(
        dag_id=f"{name}_train",
        description=f"{use_case.description} Train, govern, register and gate a model.",
        schedule=None,
        start_date=dt.datetime.fromisoformat(cfg.airflow.start_date).replace(tzinfo=dt.timezone.utc),
        catchup=False,
        max_active_runs=1,
        default_args=default_args(),
        tags=["riskpipe", "training", name],
        doc_md=train_dag.__doc__,
    ) as dag:
        trained = spark_task("train", use_case, options={"no_gate": True})

        @task(task_id="governance")
        def governance(ds: str | None = None) -> str:
            """Governance report and model card of the date's model version (MLflow artifacts + Delta table)."""
            from jobs import governance_report
            from jobs.lib.config import load_use_case

            return str(governance_report.governance(load_use_case(name), ds))

        @task(task_id="gate")
        def gate(ds: str | None = None) -> str:
            """Quality gate: promote the challenger to champion, or record why not."""
            from jobs import registry_cli

            code = registry_cli.main(["gate", "--use-case", name, "--ds", ds])
            if code != 0:
                raise RuntimeError(f"gate for {name} on {ds} exited {code}")
            return "gate done"

        gated = gate()
        trained >> governance() >> gated
        if use_case.scorecard is not None:
            gated >> scorecard_approval(use_case)
    return dag


SCORECARD_OPTIONS = {"Activate": "activate_scorecard", "Reject": "reject_scorecard"}


def scorecard_approval(use_case: UseCase):
    """``scorecard_draft`` (WoE + logistic regression, PDO points, compared with the active version, quality
    checks) ──► ``approve_scorecard`` (a person decides in Airflow's *Required actions*) ──► ``activate_scorecard``
    or ``reject_scorecard`` (kept, marked rejected, with who and why). Returns the first task."""
    from airflow.sdk import Param, task

    from plugins.approvals import RecordedBranchOperator

    cfg = settings()
    name = use_case.name
    conn = cfg.airflow.spark_connect_conn_id if cfg.spark.connect.enabled else cfg.airflow.spark_conn_id

    @task.pyspark(task_id="scorecard_draft", conn_id=conn)
    def scorecard_draft(ds: str | None = None, spark=None) -> dict:
        """Draft a scorecard version from gold training rows up to ``ds``; its checks and comparison."""
        from plugins.spark_tasks import run_job

        result = run_job(spark, "scorecard_job", name, ds, entry="draft", as_text=False)
        print(result)
        return {**result.to_dict(), "summary": str(result)}

    draft = scorecard_draft()
    approve = RecordedBranchOperator(
        task_id="approve_scorecard",
        subject=f"{name}: activate scorecard draft v{{{{ ti.xcom_pull(task_ids='scorecard_draft')['version'] }}}}?",
        body="```\n{{ ti.xcom_pull(task_ids='scorecard_draft')['summary'] }}\n```\n"
             "Activate makes this draft the scorecard the decision engine uses (the active one is retired); "
             "Reject keeps it, marked rejected, with your reason.",
        options=list(SCORECARD_OPTIONS), options_mapping=SCORECARD_OPTIONS,
        params={"reason": Param("", type="string", description="why (kept with the decision)")},
        response_timeout=dt.timedelta(days=7),
    )

    def _decision(ti) -> dict:
        return ti.xcom_pull(task_ids="approve_scorecard", key="decision") or {}

    @task(task_id="activate_scorecard")
    def activate_scorecard(ds: str | None = None, ti=None) -> str:
        from jobs import scorecard_job
        from jobs.lib.config import load_use_case

        version = ti.xcom_pull(task_ids="scorecard_draft")["version"]
        return scorecard_job.activate(load_use_case(name), version, _decision(ti).get("by", "unknown"), ds)

    @task(task_id="reject_scorecard")
    def reject_scorecard(ds: str | None = None, ti=None) -> str:
        from jobs import scorecard_job
        from jobs.lib.config import load_use_case

        decision = _decision(ti)
        version = ti.xcom_pull(task_ids="scorecard_draft")["version"]
        reason = (decision.get("params") or {}).get("reason") or "rejected in Airflow"
        return scorecard_job.reject(load_use_case(name), version, decision.get("by", "unknown"), reason, ds)

    draft >> approve >> [activate_scorecard(), reject_scorecard()]
    return draft


def build_all() -> dict[str, object]:
    """Every use case's DAGs, by dag_id."""
    dags = {}
    for name in use_case_names():
        use_case = load_use_case(name)
        builders = [daily_dag] + ([train_dag] if use_case.model is not None else [])
        for build in builders:
            dag = build(use_case)
            dags[dag.dag_id] = dag
    return dags
