"""End to end on the embedded default (what ``make run`` does).

1. replay each use case's sample data into landing files: the history load on the first date, then daily files
   with drift injected from ``--drift-from-day`` on (:data:`DEMO_DRIFT`: one numeric and one categorical feature
   per use case, with values the suite knows, so the rows pass validation and the drift reaches the statistics);
2. start the warm local Spark Connect server unless it runs (the local profile; ``make spark-down`` stops it)
   and prepare Airflow's local SQLite database;
3. run each use case's ``<use_case>_daily`` DAG with ``dag.test()`` for ``--days`` logical dates — real Airflow
   runs whose Spark tasks are thin clients of that server (``spark-submit`` under the cluster profile):
   land → bronze → silver → gold → score → drift → performance → decide → trigger_train | no_retrain;
   ``<use_case>_train`` on the first date (the first champion, from the history), and on every date whose
   decide task triggered it (the run the trigger queued is run here, as the scheduler would);
4. print the data-quality table, what was scored, the drift alerts, the retraining decisions and the models.

Run: ``make run`` or ``python -m jobs.run_pipeline --start 2026-01-01 --replay-days 60 --days 21``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from jobs.lib.cli import iso_date
from jobs.lib.config import PROJECT_ROOT, load_use_case, settings, use_case_names


# Drift ``make run`` injects into the daily stream (``jobs.replay`` specs): values the suites accept.
DEMO_DRIFT = {
    "credit_default": ["credit_amount=shift:1.8", "purpose=mix:business:0.4"],
    "lead_scoring": ["balance=shift:2.5", "contact=mix:telephone:0.5"],
}


def ensure_landing(name: str, start: str, days: int, malformed_rate: float, drift_from: str | None) -> None:
    """Replay the landing files unless the same replay (same arguments: a stamp file records them) is there."""
    import json

    from jobs.replay import replay

    cfg = settings()
    drift = DEMO_DRIFT.get(name, []) if drift_from else []
    stamp = Path(cfg.paths.landing) / name / ".replay.json"
    wanted = {"start": start, "days": days, "malformed_rate": malformed_rate, "drift_from": drift_from,
              "drift": drift}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        print(f"[{name}] landing files of this replay already there: {cfg.paths.landing}/{name}")
        return
    replay(load_use_case(name), start, days, malformed_rate=malformed_rate, log=print,
           drift_from=drift_from if drift else None, drift=drift)
    stamp.write_text(json.dumps(wanted))


def prepare_spark() -> None:
    """The local profile's tasks are clients of one warm Spark Connect server: make sure it runs."""
    cfg = settings()
    if not cfg.spark.connect.enabled:
        return
    from jobs.lib import connect_server
    from plugins.spark_tasks import ensure_connection

    print(connect_server.ensure_running(cfg).describe())
    ensure_connection()


def prepare_airflow() -> None:
    home = Path(os.environ.setdefault("AIRFLOW_HOME", settings().paths.airflow_home))
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(PROJECT_ROOT / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW_CONN_SPARK_DEFAULT", '{"conn_type": "spark", "host": "local[2]"}')
    airflow = Path(sys.executable).with_name("airflow")
    print(f"[airflow] migrating the metadata database in {home}")
    subprocess.run([str(airflow), "db", "migrate"], check=True, stdout=subprocess.DEVNULL)


@functools.cache
def _dags() -> dict:
    """The project's DAGs, parsed once per run (a parse costs ~1 s; make run starts ~48 DAG runs)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags


def run_dag(name: str, ds: str, kind: str = "daily") -> str:
    dag = _dags()[f"{name}_{kind}"]
    logical = dt.datetime.fromisoformat(ds).replace(tzinfo=dt.timezone.utc)
    run = dag.test(logical_date=logical)
    return str(getattr(run, "state", run))


def quality_table(names: Sequence[str]) -> str:
    from pyspark.sql import functions as F

    from jobs.lib import lake, tables
    from jobs.lib.spark import get_spark

    get_spark("riskpipe-report")  # name the session after the report; lake.read uses it
    lines = []
    for name in names:
        path = tables.quality(name)
        if not lake.exists(path):
            continue
        rows = (lake.read(path).orderBy("ds", F.expr("case layer when 'bronze' then 0 when 'silver' then 1 else 2 end"),
                                         "stream").collect())
        lines.append(f"\n== data quality: {name} ({path})")
        lines.append(f"{'ds':10s} {'layer':6s} {'stream':6s} {'in':>6s} {'out':>6s} {'quar':>5s} {'dup':>4s} "
                     f"{'score':>6s} {'reconciled':10s} status")
        for r in rows:
            lines.append(f"{r.ds:10s} {r.layer:6s} {r.stream:6s} {r.rows_in:6d} {r.rows_out:6d} {r.quarantined:5d} "
                         f"{r.duplicates:4d} {r.quality_score:6.3f} {str(r.reconciled):10s} {r.status}")
    return "\n".join(lines)


def run_dag_logged(name: str, ds: str, kind: str, where: str, started: float) -> str:
    """Run one DAG for ``ds``, with a progress line before and after (date n of N, elapsed)."""
    print(f"[{where}] {name}_{kind} {ds}: running ({time.time() - started:.0f}s elapsed)", flush=True)
    t0 = time.time()
    approver = demo_approver(name) if kind == "train" else None
    state = run_dag(name, ds, kind)
    if approver is not None:
        approver.join(timeout=30)
    print(f"[{where}] {name}_{kind} {ds}: {state} in {time.time() - t0:.0f}s "
          f"({time.time() - started:.0f}s elapsed)", flush=True)
    return state


def retrain_decided(name: str, ds: str) -> bool:
    """Whether the daily run of ``ds`` decided to retrain (its trigger_train task queued ``<name>_train``)."""
    from jobs.decide import recorded_decision
    from jobs.lib import lake, tables

    if not lake.exists(tables.decisions(name)):
        return False
    try:
        return bool(recorded_decision(name, ds)["retrain"])
    except RuntimeError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=iso_date, default="2026-01-01", help="first date of the replay and of the runs")
    parser.add_argument("--replay-days", type=int, default=60, help="days of landing files to replay")
    parser.add_argument("--days", type=int, default=21, help="logical dates to run the daily DAGs for (default 21)")
    parser.add_argument("--use-cases", nargs="+", default=use_case_names(), help="use cases (default: all)")
    parser.add_argument("--no-train", dest="train", action="store_false",
                        help="do not run the <use_case>_train DAGs (default: train each use case on the first date "
                             "and whenever the daily run decides to retrain)")
    parser.add_argument("--malformed-rate", type=float, default=0.02,
                        help="share of replayed lines made malformed, to show quarantine at work (default 0.02)")
    parser.add_argument("--drift-from-day", type=int, default=8,
                        help="inject DEMO_DRIFT into the daily stream from this date on (1 = the first; 0: no drift; "
                             "default 8)")
    args = parser.parse_args(argv)
    started = time.time()
    first = dt.date.fromisoformat(args.start)
    drift_from = ((first + dt.timedelta(days=args.drift_from_day - 1)).isoformat() if args.drift_from_day > 0
                  else None)
    for name in args.use_cases:
        ensure_landing(name, args.start, args.replay_days, args.malformed_rate, drift_from)
    prepare_spark()
    prepare_airflow()
    failures = []
    trainable = {name for name in args.use_cases if load_use_case(name).model is not None and args.train}
    trainings: list[tuple[str, str, str]] = []  # (use case, ds, why)
    dates = [(first + dt.timedelta(days=offset)).isoformat() for offset in range(args.days)]
    for n, ds in enumerate(dates, start=1):
        for name in args.use_cases:
            where = f"date {n} of {len(dates)}"
            state = run_dag_logged(name, ds, "daily", where, started)
            if "success" not in state:
                failures.append(f"{name}_daily {ds}: {state}")
                continue
            why = None
            if n == 1 and name in trainable:
                why = "first champion, from the history load"  # the first date carries the history
            elif name in trainable and retrain_decided(name, ds):
                why = "the daily run decided to retrain"
            if why:
                trainings.append((name, ds, why))
                state = run_dag_logged(name, ds, "train", where, started)
                if "success" not in state:
                    failures.append(f"{name}_train {ds}: {state}")
    print(quality_table(args.use_cases))
    print(monitoring_summary(args.use_cases, dates))
    print(models_summary(sorted(trainable)))
    if failures:
        print("\nFAILED runs:\n  " + "\n  ".join(failures))
        return 1
    runs = len(dates) * len(args.use_cases) + len(trainings)
    print(f"\nAll {runs} DAG runs succeeded in {time.time() - started:.0f}s: {len(dates)} dates x "
          f"{len(args.use_cases)} use cases, {len(trainings)} training runs "
          f"({'; '.join(f'{n} {d}: {w}' for n, d, w in trainings) or 'none'}).")
    print(f"Tables under {settings().paths.lakehouse}; the CRM reads scores/<use_case>/daily and "
          "scores/<use_case>/latest (README: 'Scores for the CRM').")
    return 0


def monitoring_summary(names: Sequence[str], dates: Sequence[str]) -> str:
    """Rows scored per use case, drift alerts by feature, and every retraining decision with its reason."""
    from pyspark.sql import functions as F

    from jobs.lib import lake, tables
    from jobs.lib.spark import get_spark

    spark = get_spark("riskpipe-report")
    lines = []
    for name in names:
        scores = tables.scores(name)
        if lake.exists(scores):
            rows = (lake.read(scores, spark=spark).groupBy("model_role", "model_version").count()
                    .orderBy("model_role", "model_version").collect())
            total = sum(r["count"] for r in rows)
            by = ", ".join(f"{r['model_role']} v{r['model_version']}: {r['count']}" for r in rows)
            lines.append(f"\n== scored: {name}: {total} rows ({by}) -> {scores}")
        drift = tables.drift(name)
        if lake.exists(drift):
            alerts = (lake.read(drift, spark=spark).where(F.col("status") == "alert")
                      .groupBy("feature", "metric").agg(F.count("*").alias("days"), F.min("ds").alias("first"),
                                                        F.max("value").alias("max"))
                      .orderBy(F.desc("days"), "feature").collect())
            lines.append(f"== drift alerts: {name} ({len(alerts)} feature/metric pairs)")
            lines += [f"  {r['feature']:40s} {r['metric']:20s} {r['days']:3d} days from {r['first']} (max {r['max']:.3f})"
                      for r in alerts]
        decisions = tables.decisions(name)
        if lake.exists(decisions):
            rows = lake.read(decisions, spark=spark).orderBy("ds").collect()
            retrains = [r for r in rows if r["retrain"]]
            lines.append(f"== retraining decisions: {name}: {len(retrains)} of {len(rows)} runs retrain")
            lines += [f"  {r['ds']} {'RETRAIN' if r['retrain'] else 'keep   '} {r['reason']}" for r in rows
                      if r["retrain"] or r["alerting_runs"]]
    return "\n".join(lines)


DEMO_APPROVER = "make-run (unattended demo)"


def demo_approver(name: str):
    """``make run`` is unattended: answer the scorecard's human-in-the-loop step as a named demo user (activate
    the draft when its quality checks passed, else reject it), recorded like any approval. In a deployment a
    person decides in Airflow's *Required actions*."""
    import threading

    if load_use_case(name).scorecard is None:
        return None
    from plugins.approvals import prepare_responder, respond

    prepare_responder()

    def answer() -> None:
        from plugins.approvals import awaiting_input

        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            runs = awaiting_input(f"{name}_train", "approve_scorecard")
            if runs:
                passed = _latest_draft_passed(name)
                option = "Activate" if passed else "Reject"
                respond(f"{name}_train", runs[0], "approve_scorecard", option, DEMO_APPROVER,
                        {"reason": "" if passed else "quality checks failed"})
                print(f"[{name}_train] scorecard draft: {option} by {DEMO_APPROVER}", flush=True)
                return
            time.sleep(1)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def _latest_draft_passed(name: str) -> bool:
    from jobs import scorecard_job

    drafts = [v for v in scorecard_job.status(name)["versions"] if v["status"] == "draft"]
    return bool(drafts and drafts[-1]["checks_passed"])


def models_summary(names: Sequence[str]) -> str:
    """Registered models, their aliases and gate outcomes; where the MLflow store is."""
    if not names:
        return ""
    import contextlib
    import io

    from jobs import registry_cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for name in names:
            print(f"\n== model registry: {name}")
            registry_cli.main(["status", "--use-case", name])
    uri = settings().paths.mlflow_tracking_uri
    return out.getvalue() + f"\nMLflow store: {uri}  (browse: .venv/bin/mlflow ui --backend-store-uri {uri})"


if __name__ == "__main__":
    sys.exit(main())
