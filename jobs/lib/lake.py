"""The lake layer: every job reads and writes Delta tables through these functions only.

Two engines write the same Delta protocol (see docs in README, "Delta on two engines"):

* ``delta-spark`` — the Delta JVM classes are on the Spark classpath (clusters, the docker image);
* ``delta-rs`` — the embedded default: a Spark Python Data Source registered as ``delta``
  (:mod:`jobs.lib.delta_rs`).

Both are driven through Spark's own ``format("delta")`` reader and writer, so a job never knows which
one runs. ``RISKPIPE_DELTA_ENGINE=delta-rs`` forces the embedded engine even when the jars are present.
Rules the layer enforces the same way on both engines: schema enforcement (missing, retyped or — without
``merge_schema`` — new columns fail before anything is written), ``replace_where`` overwrites only the
matching partitions, ``merge`` upserts by key and refuses a source with duplicate keys.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobs.lib.delta_rs import DeltaLakeError, check_schema, table_exists, table_uri

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DELTA_SPARK = "delta-spark"
DELTA_RS = "delta-rs"
MODES = ("append", "overwrite")

__all__ = ["DeltaLakeError", "exists", "engine", "history", "install", "merge", "read", "restore", "vacuum", "write"]


def _jvm_has_delta(spark: SparkSession) -> bool:
    """Whether the session's JVM has delta-spark. A classic session asks the JVM whether the class loads; a Spark
    Connect client has no JVM gateway, so it asks the server's configuration whether Delta's SQL extension is on
    (the cluster profile and the docker image set it together with the jars)."""
    from jobs.lib.spark import is_connect

    if is_connect(spark):
        try:
            extensions = spark.conf.get("spark.sql.extensions", "") or ""
        except Exception:
            return False
        return "io.delta.sql.DeltaSparkSessionExtension" in extensions
    try:
        jvm = spark.sparkContext._jvm
        return bool(jvm.org.apache.spark.util.Utils.classIsLoadable("io.delta.tables.DeltaTable"))
    except Exception:  # no such class
        return False


def install(spark: SparkSession) -> str:
    """Choose the engine for this session; register the delta-rs data source when it is the one."""
    forced = os.environ.get("RISKPIPE_DELTA_ENGINE")
    chosen = forced or (DELTA_SPARK if _jvm_has_delta(spark) else DELTA_RS)
    if chosen not in (DELTA_SPARK, DELTA_RS):
        raise ValueError(f"RISKPIPE_DELTA_ENGINE={forced!r}: use {DELTA_SPARK} or {DELTA_RS}")
    if chosen == DELTA_RS:
        from jobs.lib.delta_rs import DeltaRsDataSource

        spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")
        spark.dataSource.register(DeltaRsDataSource)
    spark.conf.set("riskpipe.delta.engine", chosen)
    return chosen


def _spark(spark: SparkSession | None = None) -> SparkSession:
    if spark is not None:
        return spark
    from jobs.lib.spark import get_spark

    return get_spark()


def engine(spark: SparkSession | None = None) -> str:
    """``delta-spark`` or ``delta-rs``: which engine this session's ``format("delta")`` uses."""
    spark = _spark(spark)
    chosen = spark.conf.get("riskpipe.delta.engine", None)
    return chosen or install(spark)


def exists(table: str) -> bool:
    """Whether a Delta table exists at ``table`` (a path or URI)."""
    return table_exists(table)


def read(table: str, version: int | None = None, spark: SparkSession | None = None) -> DataFrame:
    """The table's current snapshot, or the snapshot at ``version`` (time travel)."""
    spark = _spark(spark)
    if not exists(table):
        raise DeltaLakeError(f"no Delta table at {table}")
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", int(version))
    if engine(spark) == DELTA_RS:
        parallelism = _default_parallelism(spark)
        if parallelism:
            reader = reader.option("minPartitions", parallelism)
    return reader.load(table_uri(table))


def _default_parallelism(spark: SparkSession) -> int | None:
    try:
        return int(spark.sparkContext.defaultParallelism)
    except Exception:  # no SparkContext here (Spark Connect)
        return None


def schema(table: str, spark: SparkSession | None = None):
    """The table's Spark schema (from the Delta log only; no data is read)."""
    return read(table, spark=spark).schema


def write(
    df: DataFrame,
    table: str,
    mode: str = "append",
    partition_by: Sequence[str] | None = None,
    replace_where: str | None = None,
    merge_schema: bool = False,
) -> None:
    """Write ``df`` to a Delta table as one atomic commit.

    ``mode``: ``append`` or ``overwrite``. ``replace_where`` (with ``overwrite``) replaces only the rows
    matching the predicate — under delta-rs a predicate on partition columns — and leaves the rest.
    ``merge_schema`` allows new columns. A schema mismatch fails before anything is written.
    """
    if mode not in MODES:
        raise ValueError(f"write to {table}: mode must be one of {MODES}, got {mode!r}")
    if replace_where and mode != "overwrite":
        raise ValueError(f"write to {table}: replace_where needs mode='overwrite'")
    spark = df.sparkSession
    if exists(table):
        current = schema(table, spark)
        check_schema(table, current, df.schema, merge_schema, overwrite=mode == "overwrite")
        # Same column order as the table; new columns (merge_schema) at the end.
        df = df.select(*current.names, *[c for c in df.columns if c not in current.names])
    writer = df.write.format("delta").mode(mode)
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    if replace_where:
        writer = writer.option("replaceWhere", replace_where)
    if engine(spark) == DELTA_SPARK:
        if partition_by:
            writer = writer.partitionBy(*partition_by)
    elif partition_by:
        # Spark refuses .partitionBy() for a Python data source: the columns travel as an option.
        writer = writer.option("partitionColumns", json.dumps(list(partition_by)))
    writer.save(table_uri(table))


def merge(df: DataFrame, table: str, keys: Sequence[str]) -> None:
    """Upsert ``df`` into ``table`` by ``keys``: matched rows are updated, new rows inserted, others kept.

    Creates the table when it does not exist. Fails if ``df`` has two rows with the same key.
    """
    from pyspark.sql import functions as F

    keys = list(keys)
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise DeltaLakeError(f"merge into {table}: key column(s) {missing} not in the data")
    duplicated = df.groupBy(*keys).count().where(F.col("count") > 1).limit(3).collect()
    if duplicated:
        sample = [{k: r[k] for k in keys} for r in duplicated]
        raise DeltaLakeError(f"merge into {table}: the source has duplicate keys, e.g. {sample}; nothing was written")
    if not exists(table):
        write(df, table, mode="append")
        return
    spark = df.sparkSession
    current = schema(table, spark)
    check_schema(table, current, df.schema, merge_schema=False)
    condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    if engine(spark) == DELTA_SPARK:
        from delta.tables import DeltaTable

        (DeltaTable.forPath(spark, table_uri(table)).alias("t").merge(df.alias("s"), condition)
         .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
        return
    from deltalake import DeltaTable

    source = df.select(*current.names).toArrow()
    delta_condition = " AND ".join(f't."{k}" = s."{k}"' for k in keys)
    (DeltaTable(table_uri(table)).merge(source, delta_condition, source_alias="s", target_alias="t",
                                        merge_schema=False)
     .when_matched_update_all().when_not_matched_insert_all().execute())


@dataclass(frozen=True)
class Commit:
    version: int
    timestamp_ms: int
    operation: str
    parameters: dict[str, Any]


def history(table: str, spark: SparkSession | None = None) -> list[Commit]:
    """Every commit of the table, newest first, with its operation (WRITE, MERGE, RESTORE, ...)."""
    if not exists(table):
        raise DeltaLakeError(f"no Delta table at {table}")
    if spark is not None and engine(spark) == DELTA_SPARK:
        from delta.tables import DeltaTable

        rows = DeltaTable.forPath(spark, table_uri(table)).history().collect()
        return [Commit(r["version"], int(r["timestamp"].timestamp() * 1000), r["operation"],
                       dict(r["operationParameters"] or {})) for r in rows]
    from deltalake import DeltaTable

    commits = DeltaTable(table_uri(table)).history()
    return [Commit(c["version"], int(c.get("timestamp", 0)), c.get("operation", "?"), _parameters(c))
            for c in commits]


def _parameters(commit_info: dict[str, Any]) -> dict[str, Any]:
    """A delta-rs commit's operation parameters. The engine records a replaceWhere overwrite's predicate
    in the commit info (delta-rs has no slot for it); report it where delta-spark does."""
    parameters = dict(commit_info.get("operationParameters") or {})
    if commit_info.get("predicate") and "predicate" not in parameters:
        parameters["predicate"] = commit_info["predicate"]
    return parameters


def version(table: str) -> int:
    """The table's current version."""
    from deltalake import DeltaTable

    return DeltaTable(table_uri(table)).version()


def restore(table: str, to_version: int, spark: SparkSession | None = None) -> None:
    """Make the table's current state that of ``to_version`` (a new commit; history is kept)."""
    if spark is not None and engine(spark) == DELTA_SPARK:
        from delta.tables import DeltaTable

        DeltaTable.forPath(spark, table_uri(table)).restoreToVersion(to_version)
        return
    from deltalake import DeltaTable

    DeltaTable(table_uri(table)).restore(to_version)


def vacuum(table: str, retention_hours: float = 168, spark: SparkSession | None = None) -> list[str]:
    """Delete files the table no longer references (removed, or never committed by a crashed writer)
    and older than ``retention_hours``. Returns what was deleted (delta-rs engine)."""
    if spark is not None and engine(spark) == DELTA_SPARK:
        from delta.tables import DeltaTable

        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
        DeltaTable.forPath(spark, table_uri(table)).vacuum(retention_hours)
        return []
    from deltalake import DeltaTable

    return DeltaTable(table_uri(table)).vacuum(retention_hours=int(retention_hours), dry_run=False,
                                               enforce_retention_duration=False, full=True)
