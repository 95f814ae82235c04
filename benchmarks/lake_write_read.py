"""Benchmark: the lake layer's Delta engine against Spark's native Parquet writer and reader.

    python benchmarks/lake_write_read.py [--rows 5000000] [--repeat 2]

Generates ``--rows`` deterministic rows x 10 columns (long, double, string, date) with ``spark.range`` and
materialises them in memory first (generation is not timed). Then times, in the same session:

* write: ``lake.write(df, table, mode="overwrite")`` vs ``df.write.parquet(path)``;
* read: a full scan touching every column (``count(*)`` + ``sum(xxhash64(all columns))``) through
  ``lake.read(table)`` vs ``spark.read.parquet(path)``; both must return the same checksum.

Each measurement runs ``--repeat`` times and the best run counts (every run is in the JSON).
Prints a table (operation, engine, rows, seconds, rows/s, ratio vs native Parquet), writes the same
as JSON to ``.bench/lake_write_read.json``. The goal: the lake engine within 2x of native Parquet.
All data goes to a temp dir under /tmp, removed at the end. Not a test: run it on demand.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
RESULTS = PROJECT_ROOT / ".bench" / "lake_write_read.json"
GOAL_RATIO = 2.0


def source_frame(spark, rows: int, partitions: int):
    """``rows`` rows x 10 columns, a pure function of ``id`` (deterministic whatever the partitioning)."""
    from pyspark.sql import functions as F

    id_ = F.col("id")
    return spark.range(0, rows, numPartitions=partitions).select(
        id_.alias("id"),                                                              # long
        ((id_ * 2654435761) % 1_000_003).alias("account"),                            # long
        (id_ % 97 * 1000 + id_ % 13).alias("segment"),                                # long
        (id_ * 0.37 % 10_000).alias("balance"),                                       # double
        (F.pmod(F.xxhash64(id_), F.lit(1_000_000)) / 1e6).alias("score"),             # double
        F.concat(F.lit("cust-"), (id_ % 250_000).cast("string")).alias("customer"),   # string
        F.element_at(F.array(*[F.lit(c) for c in ("AAA", "AA", "A", "BBB", "BB", "B", "C")]),
                     (id_ % 7 + 1).cast("int")).alias("rating"),                      # string
        F.substring(F.sha2(id_.cast("string"), 256), 1, 16).alias("token"),           # string
        F.date_add(F.lit(dt.date(2015, 1, 1)), (id_ % 3650).cast("int")).alias("opened"),  # date
        F.date_add(F.lit(dt.date(2024, 1, 1)), (id_ % 366).cast("int")).alias("ds"),       # date
    )


def full_scan(df) -> tuple[int, int]:
    """Touch every column of every row: (row count, sum of row hashes)."""
    from pyspark.sql import functions as F

    row = df.agg(F.count(F.lit(1)).alias("n"),
                 F.sum(F.xxhash64(*df.columns).cast("decimal(38,0)")).alias("h")).first()
    return int(row["n"]), int(row["h"])


def timed(fn, repeat: int) -> tuple[list[float], object]:
    """Run ``fn`` ``repeat`` times: every run's seconds, and the last result."""
    runs, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return runs, result


def folder_bytes(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--partitions", type=int, default=0,
                        help="Spark partitions of the source (default: the session's parallelism)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs per measurement; the best is reported (the first run of a big read still "
                             "pays JIT warm-up)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="lake-bench-", dir="/tmp"))
    os.environ.setdefault("RISKPIPE_LAKEHOUSE", str(work / "lakehouse"))
    os.environ.setdefault("RISKPIPE_LANDING", str(work / "landing"))
    try:
        from pyspark import StorageLevel

        from jobs.lib import lake
        from jobs.lib.spark import get_spark

        spark = get_spark("bench-lake-write-read", classic=True)  # a JVM of its own (sparkContext: parallelism)
        engine = lake.engine(spark)
        partitions = args.partitions or spark.sparkContext.defaultParallelism
        source = source_frame(spark, args.rows, partitions).persist(StorageLevel.MEMORY_AND_DISK)
        generated = source.count()  # materialise: generation is not timed
        assert generated == args.rows, generated

        # Warm up both paths (JIT, Python workers, imports) on a small frame, untimed.
        warm = source_frame(spark, 50_000, partitions)
        lake.write(warm, str(work / "warm-delta"), mode="overwrite")
        warm.write.mode("overwrite").parquet(str(work / "warm-parquet"))
        full_scan(lake.read(str(work / "warm-delta")))
        full_scan(spark.read.parquet(str(work / "warm-parquet")))

        delta_path, parquet_path = str(work / "delta"), str(work / "parquet")
        write_delta, _ = timed(lambda: lake.write(source, delta_path, mode="overwrite"), args.repeat)
        write_parquet, _ = timed(lambda: source.write.mode("overwrite").parquet(parquet_path), args.repeat)
        read_delta, delta_scan = timed(lambda: full_scan(lake.read(delta_path)), args.repeat)
        read_parquet, parquet_scan = timed(lambda: full_scan(spark.read.parquet(parquet_path)), args.repeat)
        if delta_scan != parquet_scan or delta_scan[0] != args.rows:
            raise SystemExit(f"the two reads disagree: delta {delta_scan} vs parquet {parquet_scan}")

        results = []
        for op, name, runs, native, path in [
            ("write", f"lake ({engine})", write_delta, write_parquet, delta_path),
            ("write", "spark parquet", write_parquet, write_parquet, parquet_path),
            ("read", f"lake ({engine})", read_delta, read_parquet, delta_path),
            ("read", "spark parquet", read_parquet, read_parquet, parquet_path),
        ]:
            seconds = min(runs)
            results.append({"operation": op, "engine": name, "rows": args.rows, "seconds": round(seconds, 3),
                            "rows_per_s": round(args.rows / seconds),
                            "ratio_vs_parquet": round(seconds / min(native), 2),
                            "runs_seconds": [round(r, 3) for r in runs], "bytes_on_disk": folder_bytes(path)})

        header = f"{'operation':<10}{'engine':<20}{'rows':>10}{'seconds':>10}{'rows/s':>12}{'ratio':>8}"
        print(header)
        print("-" * len(header))
        for r in results:
            print(f"{r['operation']:<10}{r['engine']:<20}{r['rows']:>10}{r['seconds']:>10.2f}"
                  f"{r['rows_per_s']:>12,}{r['ratio_vs_parquet']:>7.2f}x")
        worst = max(r["ratio_vs_parquet"] for r in results)
        verdict = "within" if worst <= GOAL_RATIO else "NOT within"
        print(f"\nlake engine {verdict} {GOAL_RATIO:g}x of native Parquet (worst ratio {worst:.2f}x)")

        import deltalake

        from benchmarks._common import save_results

        save_results(RESULTS, "lake_write_read", {
            "rows": args.rows, "columns": len(source.columns), "source_partitions": partitions,
            "repeat": args.repeat, "engine": engine, "goal_ratio": GOAL_RATIO, "worst_ratio": worst,
            "checksum": {"rows": delta_scan[0], "sum_xxhash64": str(delta_scan[1])},
        }, results, {"deltalake": deltalake.__version__, "spark_master": spark.sparkContext.master,
                     "arrow_max_records_per_batch": spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")})
        source.unpersist()
        spark.stop()
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
