"""Benchmark: one day of ~1M rows through bronze → silver → gold, next to a plain Spark read-cast-write.

    python benchmarks/medallion.py [--rows 1000000] [--use-case credit_default] [--multiline-share 0.01]
                                   [--layers bronze,silver,gold]

The day is the German credit sample **scaled up by resampling with noise** (``jobs.replay`` with
``--rows-per-day``; 1% malformed lines), so figures are for replayed data, not for 1M real loans.
In the same SparkSession the benchmark times:

* each layer's job as the DAG runs it (``bronze.ingest``, ``silver.refine``, ``gold.publish``):
  everything included — quarantine, Great Expectations validation, quality records, reconciliation;
* the baseline: ``spark.read.csv(schema)`` → cast to the schema → ``write.parquet`` of the same file;
* bronze again on a copy of the day where ``--multiline-share`` of the records (default 1%) carry a quoted
  field with a line break, a comma and doubled quotes (RFC 4180 records spanning two lines), next to Spark's
  own ``multiLine`` CSV read-cast-write of that copy.

Prints a table (step, rows, seconds, rows/s) and writes it as JSON to ``.bench/medallion.json``.
All data goes to a temp dir under /tmp, removed at the end. Not a test: run it on demand.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
RESULTS = PROJECT_ROOT / ".bench" / "medallion.json"
DS = "2026-01-01"
DS_MULTILINE = "2026-01-02"


def write_multiline_copy(source: Path, target: Path, share: float, column: int, n_columns: int) -> int:
    """Copy a landing file, giving every ``1/share``-th record a quoted value with a line break in ``column``;
    returns how many records were changed (malformed lines are copied as they are)."""
    import csv
    import io

    every = max(1, round(1 / share)) if share > 0 else 0
    changed = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open(encoding="utf-8", newline="") as src, target.open("w", encoding="utf-8", newline="") as out:
        out.write(src.readline())
        writer = csv.writer(out, lineterminator="\n")
        for i, line in enumerate(src):
            if every and i % every == every // 2:
                fields = next(csv.reader(io.StringIO(line)), [])
                if len(fields) == n_columns:
                    fields[column] = f'{fields[column]}\nsecond line, with "quotes"'
                    writer.writerow(fields)
                    changed += 1
                    continue
            out.write(line)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the day (default 1,000,000)")
    parser.add_argument("--use-case", default="credit_default")
    parser.add_argument("--multiline-share", type=float, default=0.01,
                        help="share of the records given a line break inside quotes for the multi-line bronze run "
                             "(default 0.01; 0 skips that run)")
    parser.add_argument("--layers", default="bronze,silver,gold",
                        help="comma-separated layers to time (default bronze,silver,gold; each needs the one before)")
    parser.add_argument("--connect", action="store_true",
                        help="use the profile's session (Spark Connect on the local profile) instead of a classic "
                             "session with its own JVM (the default: the figures in README were measured so, and "
                             "Spark jobs can be counted)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="riskpipe-bench-medallion-"))
    os.environ["RISKPIPE_LAKEHOUSE"] = str(work / "lakehouse")
    os.environ["RISKPIPE_LANDING"] = str(work / "landing")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from jobs import bronze, gold, silver
    from jobs.lib.config import load_use_case
    from jobs.lib.spark import get_spark
    from jobs.replay import replay

    use_case = load_use_case(args.use_case)
    try:
        t = time.perf_counter()
        summary = replay(use_case, DS, 1, rows_per_day=args.rows, malformed_rate=0.01,
                         landing_root=str(work / "landing"))
        replay_s = time.perf_counter() - t
        print(f"replayed {summary.total_events:,} rows in {replay_s:.1f}s (not part of the layers below)")
        try:
            spark = get_spark("riskpipe-bench-medallion", classic=not args.connect)
        except TypeError:  # a get_spark without the classic switch
            spark = get_spark("riskpipe-bench-medallion")
        spark.range(1000).count()  # JVM and Python workers up before timing
        # Great Expectations' import, like the JVM's start, is paid once per process, whatever the rows: done
        # before timing (and printed), so silver's figure is its work on the day's rows.
        t = time.perf_counter()
        from jobs.lib.validation import _batch_definition

        _batch_definition()
        print(f"Great Expectations imported and its context built in {time.perf_counter() - t:.1f}s "
              "(once per process; not part of the layers below)")

        def jobs_so_far() -> int | None:
            try:  # classic sessions only: Spark Connect has no SparkContext
                return len(spark.sparkContext.statusTracker().getJobIdsForGroup())
            except Exception:
                return None

        results = []

        def timed(step: str, rows_of, fn):
            jobs = jobs_so_far()
            start = time.perf_counter()
            out = fn()
            seconds = time.perf_counter() - start
            jobs = jobs_so_far() - jobs if jobs is not None else None
            rows = rows_of(out)
            results.append({"step": step, "rows": rows, "seconds": round(seconds, 2),
                            "rows_per_s": round(rows / seconds) if seconds else None, "spark_jobs": jobs})
            print(f"  {step:34s} {rows:>10,} rows {seconds:8.1f}s {jobs if jobs is not None else '?':>5} jobs",
                  flush=True)
            return out

        # The baseline runs before and after the layers; ratios are against the faster of the two.
        from pyspark.sql import functions as F

        landing = Path(os.environ["RISKPIPE_LANDING"]) / use_case.name / "events" / f"ds={DS}"

        def baseline():
            ddl = ", ".join(f"`{c}` STRING" for c in use_case.schema)
            raw = spark.read.csv(str(landing), header=True, schema=ddl)
            typed = raw.select(*[F.expr(f"try_cast(`{c}` AS {t})").alias(c) for c, t in use_case.schema.items()])
            typed.write.mode("overwrite").parquet(str(work / "baseline"))
            return spark.read.parquet(str(work / "baseline")).count()

        timed("baseline: csv -> cast -> parquet", lambda n: n, baseline)
        layers = args.layers.split(",")
        wall = time.perf_counter()
        timed("bronze (landing -> bronze)", lambda r: r[0].rows_in, lambda: bronze.ingest(spark, use_case, DS))
        if "silver" in layers:
            timed("silver (bronze -> silver, GX)", lambda r: r[0].rows_in, lambda: silver.refine(spark, use_case, DS))
        if "gold" in layers:
            timed("gold (silver -> features)", lambda r: r[0].rows_in, lambda: gold.publish(spark, use_case, DS))
        wall = time.perf_counter() - wall
        if args.multiline_share > 0:
            text_column = next(i for i, (c, t) in enumerate(use_case.schema.items())
                               if t == "string" and c not in use_case.primary_key and c != use_case.entity)
            copy = landing.parent / f"ds={DS_MULTILINE}" / "part-00000.csv"
            changed = write_multiline_copy(landing / "part-00000.csv", copy, args.multiline_share, text_column,
                                           len(use_case.schema))
            print(f"multi-line copy: {changed:,} records span two lines "
                  f"(column {list(use_case.schema)[text_column]!r})")

            def spark_multiline():
                ddl = ", ".join(f"`{c}` STRING" for c in use_case.schema)
                raw = spark.read.csv(str(copy.parent), header=True, schema=ddl, multiLine=True, escape='"')
                typed = raw.select(*[F.expr(f"try_cast(`{c}` AS {t})").alias(c) for c, t in use_case.schema.items()])
                typed.write.mode("overwrite").parquet(str(work / "baseline_multiline"))
                return spark.read.parquet(str(work / "baseline_multiline")).count()

            timed("bronze, multi-line records", lambda r: r[0].rows_in,
                  lambda: bronze.ingest(spark, use_case, DS_MULTILINE))
            timed("spark csv multiLine -> cast -> parquet", lambda n: n, spark_multiline)
        timed("baseline again (warm JVM)", lambda n: n, baseline)

        base = min(r["seconds"] for r in results if r["step"].startswith("baseline"))  # plain, not multiLine
        print(f"\n{'step':34s} {'rows':>10s} {'seconds':>8s} {'rows/s':>10s} {'x baseline':>10s} {'jobs':>5s}")
        for r in results:
            print(f"{r['step']:34s} {r['rows']:>10,} {r['seconds']:8.1f} {r['rows_per_s'] or 0:>10,} "
                  f"{r['seconds'] / base:>9.1f}x {r['spark_jobs'] if r['spark_jobs'] is not None else '?':>5}")
        print(f"{'bronze+silver+gold wall time':34s} {'':>10s} {wall:8.1f}")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({
            "rows": args.rows, "use_case": use_case.name, "data": "German credit resampled with noise",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "results": results, "layers_wall_seconds": round(wall, 2)}, indent=2))
        print(f"\nwritten to {RESULTS}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
