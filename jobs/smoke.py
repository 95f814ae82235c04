"""Smoke check of the lake layer: write, read, merge and time-travel a Delta table; print its history.

Run: ``make smoke`` or ``python -m jobs.smoke [--table PATH]``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def smoke(table: str) -> str:
    from pyspark.sql import functions as F

    from jobs.lib import lake
    from jobs.lib.spark import get_spark

    spark = get_spark("riskpipe-smoke")
    accounts = spark.createDataFrame(
        [(1, "2026-01-01", 1000.0), (2, "2026-01-01", 2500.0), (3, "2026-01-02", 400.0)],
        "account_id INT, ds STRING, balance DOUBLE")
    lake.write(accounts, table, mode="overwrite", partition_by=["ds"])
    first = lake.version(table)
    changes = spark.createDataFrame([(2, "2026-01-01", 2600.0), (4, "2026-01-02", 50.0)],
                                    "account_id INT, ds STRING, balance DOUBLE")
    lake.merge(changes, table, keys=["account_id"])
    lines = [f"engine: {lake.engine(spark)}", f"table: {table}"]
    now = lake.read(table).orderBy("account_id")
    lines.append("current: " + ", ".join(f"{r.account_id}={r.balance}" for r in now.collect()))
    then = lake.read(table, version=first).orderBy("account_id")
    lines.append(f"version {first}: " + ", ".join(f"{r.account_id}={r.balance}" for r in then.collect()))
    total = now.agg(F.sum("balance")).first()[0]
    lines.append(f"total balance now {total}")
    lines.append("history:")
    lines += [f"  v{c.version} {c.operation} {c.parameters.get('mode', '')}" for c in lake.history(table)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from jobs.lib.config import settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=settings().table_path("smoke", "lake", "accounts"),
                        help="where to write the smoke table (default: <lakehouse>/smoke/lake/accounts)")
    args = parser.parse_args(argv)
    print(smoke(args.table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
