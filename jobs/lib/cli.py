"""Command-line entry points of the jobs: ``--use-case`` and ``--ds`` for every job, with ``--help``."""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from jobs.lib.config import use_case_names


def iso_date(text: str) -> str:
    """Validate a YYYY-MM-DD logical date (argparse type)."""
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def job_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the two arguments every job takes."""
    parser = argparse.ArgumentParser(description=description)
    names = use_case_names()
    parser.add_argument("--use-case", required=True, metavar="NAME",
                        help=f"use case from conf/use_cases/ ({', '.join(names) or 'none found'})")
    parser.add_argument("--ds", required=True, type=iso_date, metavar="YYYY-MM-DD",
                        help="logical date of the run (Airflow's {{ ds }}); the job reads and writes that date only")
    return parser


def run_job(description: str, job: Callable[..., object], argv: Sequence[str] | None = None,
            configure: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    """Parse arguments, run ``job(use_case, ds, **extra)`` in a SparkSession, print its result."""
    from jobs.lib.config import ConfigError, load_use_case
    from jobs.lib.connect_server import ConnectServerError
    from jobs.lib.spark import get_spark, is_connect, server_gone

    parser = job_parser(description)
    if configure:
        configure(parser)
    args = vars(parser.parse_args(argv))
    try:
        use_case = load_use_case(args.pop("use_case"))
    except ConfigError as exc:
        parser.error(str(exc))
    ds = args.pop("ds")
    module = sys.modules[job.__module__]
    job_name = Path(getattr(module, "__file__", None) or job.__module__).stem
    try:
        spark = get_spark(f"riskpipe-{job_name}-{use_case.name}-{ds}")
    except ConnectServerError as exc:
        print(f"{job_name}: {exc}", file=sys.stderr)
        return 1
    try:
        result = job(spark, use_case, ds, **args)
    except Exception as exc:
        if not (is_connect(spark) and server_gone(exc)):
            raise
        print(f"{job_name}: lost the Spark Connect server mid-job (connection refused: it was stopped or killed). "
              "Each table is at its previous version or its new one, never between; rerun the job (it starts the "
              f"server again, as does make spark-up) to finish the date.\n{type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    if result is not None:
        print(result)
    return 0
