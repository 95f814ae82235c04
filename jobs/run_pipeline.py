"""End to end on the embedded default (what ``make run`` does).

1. replay each use case's sample data into daily landing files (skipped when already there);
2. start the warm local Spark Connect server unless it runs (the local profile; ``make spark-down`` stops it)
   and prepare Airflow's local SQLite database;
3. run each use case's ``<use_case>_daily`` DAG with ``dag.test()`` for ``--days`` logical dates —
   real Airflow runs whose Spark tasks are thin clients of that server (``spark-submit`` under the cluster
   profile);
4. print the data-quality table of every date and layer.

Run: ``make run`` or ``python -m jobs.run_pipeline --start 2026-01-01 --replay-days 60 --days 7``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from jobs.lib.cli import iso_date
from jobs.lib.config import PROJECT_ROOT, load_use_case, settings, use_case_names


def ensure_landing(name: str, start: str, days: int, malformed_rate: float) -> None:
    from jobs.replay import replay

    cfg = settings()
    last = (dt.date.fromisoformat(start) + dt.timedelta(days=days - 1)).isoformat()
    if Path(cfg.landing_dir(name, "events", start)).is_dir() and Path(cfg.landing_dir(name, "events", last)).is_dir():
        print(f"[{name}] landing files for {start}..{last} already there: {cfg.paths.landing}/{name}")
        return
    replay(load_use_case(name), start, days, malformed_rate=malformed_rate, log=print)


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


def run_dag(name: str, ds: str, kind: str = "daily") -> str:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags[f"{name}_{kind}"]
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=iso_date, default="2026-01-01", help="first date of the replay and of the runs")
    parser.add_argument("--replay-days", type=int, default=60, help="days of landing files to replay")
    parser.add_argument("--days", type=int, default=7, help="logical dates to run the daily DAGs for")
    parser.add_argument("--use-cases", nargs="+", default=use_case_names(), help="use cases (default: all)")
    parser.add_argument("--no-train", dest="train", action="store_false",
                        help="do not run the <use_case>_train DAGs (default: train each use case on the first date)")
    parser.add_argument("--malformed-rate", type=float, default=0.02,
                        help="share of replayed lines made malformed, to show quarantine at work (default 0.02)")
    args = parser.parse_args(argv)
    started = time.time()
    for name in args.use_cases:
        ensure_landing(name, args.start, args.replay_days, args.malformed_rate)
    prepare_spark()
    prepare_airflow()
    failures = []
    first = dt.date.fromisoformat(args.start)
    trained = {name for name in args.use_cases if load_use_case(name).model is not None and args.train}
    for offset in range(args.days):
        ds = (first + dt.timedelta(days=offset)).isoformat()
        for name in args.use_cases:
            kinds = ["daily"] + (["train"] if offset == 0 and name in trained else [])
            for kind in kinds:  # the first date carries the history load: the first champion is trained on it
                t0 = time.time()
                approver = demo_approver(name) if kind == "train" else None
                state = run_dag(name, ds, kind)
                if approver is not None:
                    approver.join(timeout=30)
                print(f"[{name}_{kind}] {ds}: {state} in {time.time() - t0:.0f}s "
                      f"({offset + 1}/{args.days} dates, {time.time() - started:.0f}s so far)", flush=True)
                if "success" not in state:
                    failures.append(f"{name}_{kind} {ds}: {state}")
    print(quality_table(args.use_cases))
    print(models_summary(sorted(trained)))
    if failures:
        print("\nFAILED runs:\n  " + "\n  ".join(failures))
        return 1
    runs = args.days * len(args.use_cases) + len(trained)
    print(f"\nAll {runs} DAG runs succeeded in {time.time() - started:.0f}s. Tables under {settings().paths.lakehouse}")
    return 0


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
