"""A separate OS process that appends to a Delta table through the lake layer (see test_lake_processes.py).

    python tests/integration/_lake_worker.py '<json spec>'

Spec keys:

``table``           the table path
``start``, ``end``  append the rows ``rows_frame(start, end)``
``partitions``      Spark partitions of the frame (default 2)
``stall_marker``    if set, the task of the frame's last partition creates this file and then sleeps for an
                    hour before yielding any row: the other partitions' Parquet files get written, the commit
                    never comes (the test kills the process)
``start_barrier``   ``{"directory", "parties"}``: wait until that many workers are ready before writing
``commit_barrier``  same, but waited for inside the engine's commit (after every data file is written), so that
                    the workers' Delta commits race each other

The session is built the way jobs build theirs (``jobs.lib.spark.get_spark``), from the environment the test
passes through (``RISKPIPE_LAKEHOUSE``, ``PYSPARK_PYTHON``, ...).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

BARRIER_TIMEOUT_S = 180


def rows_frame(spark, start: int, end: int, partitions: int = 2):
    """Deterministic rows ``id`` in [start, end) spread over ``partitions`` Spark partitions."""
    from pyspark.sql import functions as F

    return spark.range(start, end, numPartitions=partitions).select(
        F.col("id"),
        F.concat(F.lit("row-"), F.col("id").cast("string")).alias("name"),
        (F.col("id") * 0.5).alias("amount"),
    )


def wait_barrier(directory: str, parties: int, timeout_s: float = BARRIER_TIMEOUT_S) -> None:
    """Announce this process in ``directory`` and wait until ``parties`` processes have."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"arrived-{os.getpid()}").touch()
    deadline = time.monotonic() + timeout_s
    while len(list(folder.glob("arrived-*"))) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"barrier {directory}: fewer than {parties} parties after {timeout_s}s")
        time.sleep(0.01)


def stall_last_partition(df, marker: str, partitions: int):
    """``df`` unchanged, except that the last partition's task signals ``marker`` and never finishes."""

    def passthrough(batches):
        from pyspark import TaskContext

        if TaskContext.get().partitionId() == partitions - 1:
            Path(marker).touch()
            time.sleep(3600)
        yield from batches

    return df.mapInArrow(passthrough, df.schema)


def hold_commits(spark, barrier: dict) -> None:
    """Make the engine's commit first wait at ``barrier`` (nothing else changes). The commit runs in this
    process on both write paths (the native Parquet write and the data source's driver-side commit)."""
    from jobs.lib.delta_rs import DeltaRsWriter

    commit = DeltaRsWriter.commit

    def held(self, messages):
        wait_barrier(barrier["directory"], barrier["parties"])
        commit(self, messages)

    DeltaRsWriter.commit = held


def main(spec: dict) -> None:
    from jobs.lib import lake
    from jobs.lib.spark import get_spark

    spark = get_spark("lake-worker")
    partitions = int(spec.get("partitions", 2))
    df = rows_frame(spark, int(spec["start"]), int(spec["end"]), partitions)
    if spec.get("stall_marker"):
        df = stall_last_partition(df, spec["stall_marker"], partitions)
    if spec.get("commit_barrier"):
        if lake.engine(spark) != lake.DELTA_RS:
            raise SystemExit("commit_barrier needs the delta-rs engine")
        hold_commits(spark, spec["commit_barrier"])
    if spec.get("start_barrier"):
        wait_barrier(spec["start_barrier"]["directory"], spec["start_barrier"]["parties"])
    lake.write(df, spec["table"], mode="append")
    print(json.dumps({"pid": os.getpid(), "version": lake.version(spec["table"])}), flush=True)
    spark.stop()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
