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

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobs.lib.delta_rs import DeltaLakeError, check_schema, table_exists, table_uri

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DELTA_SPARK = "delta-spark"
DELTA_RS = "delta-rs"
MODES = ("append", "overwrite")

__all__ = ["DeltaLakeError", "exists", "engine", "history", "install", "merge", "read", "restore", "vacuum", "write",
           "write_diverting"]


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
        _register(spark, DeltaRsDataSource)
    spark.conf.set("riskpipe.delta.engine", chosen)
    return chosen


def _register(spark: SparkSession, source: type, attempts: int = 5) -> None:
    """Register the Python data source ``source`` on ``spark``. Registering a name again replaces it, but two
    clients of one shared Connect session registering at the same instant (two tasks, two test workers, on a
    server just started) can make the loser fail with ``DATA_SOURCE_ALREADY_EXISTS``: the name is then being
    registered by the other, so the call is made again (a moment later) rather than failing the task."""
    for attempt in range(1, attempts + 1):
        try:
            spark.dataSource.register(source)
            return
        except Exception as exc:  # noqa: BLE001 - Connect raises AnalysisException, classic its own class
            if "DATA_SOURCE_ALREADY_EXISTS" not in str(exc) or attempt == attempts:
                raise
            time.sleep(0.1 * attempt)


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
    if engine(spark) == DELTA_RS and native_io():
        return _read_native(spark, table, version)
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", int(version))
    if engine(spark) == DELTA_RS:
        parallelism = _default_parallelism(spark)
        if parallelism:
            reader = reader.option("minPartitions", parallelism)
    return reader.load(table_uri(table))


def native_io() -> bool:
    """Whether the delta-rs engine reads and writes through Spark's own Parquet reader and writer (the default)
    rather than the Python data source. ``RISKPIPE_DELTA_NATIVE_IO=0`` turns it off: the data source is
    slower (Python workers plan and move every batch) but needs nothing of Spark's file sources."""
    return os.environ.get("RISKPIPE_DELTA_NATIVE_IO", "1") != "0"


# Table features the native path cannot honour: it reads the snapshot's files as plain Parquet.
_NATIVE_UNSAFE_FEATURES = {"columnMapping", "deletionVectors", "typeWidening", "rowTracking", "v2Checkpoint"}


def _read_native(spark: SparkSession, table: str, version: int | None) -> DataFrame:
    """The snapshot through Spark's native Parquet reader: delta-rs lists the snapshot's files from the Delta
    log (the driver, no Spark job), Spark reads them (JVM only: no Python workers). Partition values come
    from the Hive-style folder names, typed by the table schema. Falls back to the data source for tables
    using features a plain Parquet read would get wrong (column mapping, deletion vectors, ...)."""
    from jobs.lib.delta_rs import delta_schema_to_spark, open_table

    snapshot = open_table(table, version)
    protocol = snapshot.protocol()
    features = set(protocol.reader_features or []) | set(protocol.writer_features or [])
    mapping = (snapshot.metadata().configuration or {}).get("delta.columnMapping.mode", "none")
    if features & _NATIVE_UNSAFE_FEATURES or mapping != "none":
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", int(version))
        return reader.load(table_uri(table))
    schema = delta_schema_to_spark(snapshot.schema())
    files = snapshot.file_uris()
    if not files:
        return spark.createDataFrame([], schema)
    root = os.path.abspath(table_uri(table)) if "://" not in table_uri(table) else table_uri(table)
    if any(not f.startswith(root + "/") for f in files):
        raise DeltaLakeError(f"read {table}: the log names files outside the table folder; "
                             "set RISKPIPE_DELTA_NATIVE_IO=0 to read it through the data source")
    # The reader lists each named file; more than the threshold runs the listing as a Spark job of its own.
    spark.conf.set("spark.sql.sources.parallelPartitionDiscovery.threshold", "100000")
    return (spark.read.schema(schema).option("basePath", root).parquet(*files)).select(*schema.names)


def _default_parallelism(spark: SparkSession) -> int | None:
    try:
        return int(spark.sparkContext.defaultParallelism)
    except Exception:  # no SparkContext here (Spark Connect)
        return None


def schema(table: str, spark: SparkSession | None = None):
    """The table's Spark schema (from the Delta log only; no data is read)."""
    from jobs.lib.delta_rs import delta_schema_to_spark, open_table

    if spark is not None and engine(spark) == DELTA_SPARK:
        return read(table, spark=spark).schema
    return delta_schema_to_spark(open_table(table).schema())


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
    _check_mode(table, mode, replace_where)
    _write_conformed(_conformed(df, table, mode, merge_schema), table, mode, partition_by, replace_where, merge_schema)


def _write_conformed(df: DataFrame, table: str, mode: str, partition_by: Sequence[str] | None,
                     replace_where: str | None, merge_schema: bool) -> None:
    """:func:`write` of a frame already checked against the table (:func:`_conformed`)."""
    spark = df.sparkSession
    if engine(spark) == DELTA_RS and native_io():
        _write_native(df, table, mode, partition_by, replace_where, merge_schema)
        return
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


def _check_mode(table: str, mode: str, replace_where: str | None) -> None:
    if mode not in MODES:
        raise ValueError(f"write to {table}: mode must be one of {MODES}, got {mode!r}")
    if replace_where and mode != "overwrite":
        raise ValueError(f"write to {table}: replace_where needs mode='overwrite'")


def _conformed(df: DataFrame, table: str, mode: str, merge_schema: bool) -> DataFrame:
    """``df`` checked against the table's schema (when the table exists) and in its column order, new columns
    (``merge_schema``) at the end."""
    if not exists(table):
        return df
    current = schema(table, df.sparkSession)
    check_schema(table, current, df.schema, merge_schema, overwrite=mode == "overwrite")
    return df.select(*current.names, *[c for c in df.columns if c not in current.names])


@contextlib.contextmanager
def write_diverting(df: DataFrame, table: str, divert: str, mode: str = "append",
                    partition_by: Sequence[str] | None = None, replace_where: str | None = None,
                    ) -> Iterator[DataFrame]:
    """:func:`write` of the rows of ``df`` whose boolean column ``divert`` is not true (the column itself is not
    written); within the block, the rows where it is true, with ``df``'s other columns: the table never gets them.

    For a job with two outputs of one pass, such as the records it keeps and the ones it refuses. With the delta-rs
    engine's native I/O both come out of one Spark job, one read of the input and nothing cached: Spark writes
    every row into the write's staging folder, partitioned by ``divert`` first; the commit takes the kept rows'
    files, and the block reads the diverted ones from the staging folder, which is removed when the block ends.
    Other engines: ``df`` is persisted, written less the diverted rows, and filtered for them in the block.
    """
    from pyspark.sql import functions as F

    _check_mode(table, mode, replace_where)
    spark = df.sparkSession
    rows = _conformed(df.drop(divert), table, mode, merge_schema=False)  # the table's columns, in its order
    staged = df.withColumn(divert, F.coalesce(F.col(divert), F.lit(False))).select(*rows.columns, divert)
    if not (engine(spark) == DELTA_RS and native_io()):
        kept = staged.persist()
        try:
            _write_conformed(kept.where(~F.col(divert)).drop(divert), table, mode, partition_by, replace_where,
                             merge_schema=False)
            yield kept.where(F.col(divert)).drop(divert)
        finally:
            kept.unpersist()
        return
    diverted = _write_native(staged, table, mode, partition_by, replace_where, merge_schema=False, divert=divert)
    try:
        if os.path.isdir(diverted):
            yield spark.read.schema(rows.schema).option("basePath", diverted).parquet(diverted)
        else:  # Spark writes no folder for a value no row has
            yield spark.createDataFrame([], rows.schema)
    finally:
        shutil.rmtree(os.path.dirname(diverted), ignore_errors=True)


STAGING = "_riskpipe_staging"  # under the table folder: Spark writes here, the commit moves the files into place


def _write_native(df: DataFrame, table: str, mode: str, partition_by: Sequence[str] | None,
                  replace_where: str | None, merge_schema: bool, divert: str | None = None) -> str | None:
    """One Delta commit of files Spark's own Parquet writer wrote (JVM only, no Python workers).

    Spark writes the data into a staging folder of the table (``_riskpipe_staging/<job>``, Hive-style partition
    folders); the client moves each file into its partition folder under a unique name, reads its row count
    and column statistics from the Parquet footer, and commits all of them through delta-rs with the same
    checks as the data source's writer (partition columns, ``replaceWhere`` conformity, schema). A crash
    before the commit leaves files the log does not name: readers never see them, ``vacuum`` deletes them.

    ``divert``: a boolean column of ``df`` (never null) whose true rows are written under
    ``<staging>/<divert>=true`` and not committed; that folder is returned and left for the caller to read and
    remove (:func:`write_diverting`). Without it the staging folder is removed and None returned.
    """
    from jobs.lib.delta_rs import DeltaCommitMessage, DeltaRsWriter, open_table, table_exists

    uri = table_uri(table)
    existed = table_exists(uri)
    if existed:
        partitions = list(open_table(uri).metadata().partition_columns)
        if partition_by is not None and list(partition_by) and list(partition_by) != partitions:
            raise DeltaLakeError(f"write to {uri}: partition columns {list(partition_by)} do not match the "
                                 f"table's {partitions}")
    else:
        partitions = list(partition_by or [])
        missing = [c for c in partitions if c not in df.columns]
        if missing:
            raise DeltaLakeError(f"write to {uri}: partition columns {missing} are not in the data")
    data_schema = df.drop(divert).schema if divert else df.schema
    committer = DeltaRsWriter(uri, data_schema, mode == "overwrite", partitions, replace_where, merge_schema, existed)
    root = os.path.abspath(uri)
    staging = f"{root}/{STAGING}/{committer.job_id}"
    spark = df.sparkSession
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")  # not INT96: delta-rs reads it
    writer = df.write.mode("overwrite").option("compression", "snappy")
    folders = [divert, *partitions] if divert else partitions
    if folders:
        writer = writer.partitionBy(*folders)
    try:
        writer.parquet(staging)
        kept = f"{staging}/{divert}=false" if divert else staging
        files = _adopt_staged(kept, root, partitions, committer.job_id)
        committer.commit([DeltaCommitMessage(files=files)])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if divert:
        return f"{staging}/{divert}=true"
    shutil.rmtree(staging, ignore_errors=True)
    return None


def _adopt_staged(staging: str, root: str, partitions: list[str], job_id: str):
    """Move the Parquet files Spark wrote under ``staging`` into the table's partition folders; describe each
    as a Delta add (path, size, partition values, statistics from the footer). Empty files are dropped."""
    import uuid
    from urllib.parse import unquote

    import pyarrow.parquet as pq

    from jobs.lib.delta_rs import FileAdded, partition_dir

    added = []
    for folder, _, names in os.walk(staging):
        for name in sorted(n for n in names if n.endswith(".parquet")):
            source = os.path.join(folder, name)
            meta = pq.read_metadata(source)
            if meta.num_rows == 0:
                continue
            rel_dir = os.path.relpath(folder, staging)
            values: dict[str, str | None] = {}
            for part in ([] if rel_dir == "." else rel_dir.split(os.sep)):
                column, _, raw = part.partition("=")
                value = unquote(raw)
                values[column] = None if value == "__HIVE_DEFAULT_PARTITION__" else value
            if sorted(values) != sorted(partitions):
                raise DeltaLakeError(f"write to {root}: Spark wrote {source} outside the partition folders "
                                     f"{partitions}; nothing was committed")
            target_dir = partition_dir(partitions, [values[c] for c in partitions])
            task = name.split("-")[1] if name.startswith("part-") else "00000"
            rel = f"{target_dir}/" if target_dir else ""
            rel += f"part-{task}-{job_id}-{uuid.uuid4().hex[:8]}.c000.snappy.parquet"
            os.makedirs(os.path.join(root, target_dir), exist_ok=True)
            os.replace(source, os.path.join(root, rel))
            info = os.stat(os.path.join(root, rel))
            added.append(FileAdded(path=rel, size=info.st_size, partition_values=values,
                                   modification_time=int(info.st_mtime * 1000), num_records=meta.num_rows,
                                   stats=_footer_stats(meta)))
    return added


def _footer_stats(meta) -> str:
    """Delta file statistics (numRecords, nullCount, min/max of numbers and dates) from a Parquet footer."""
    import datetime as dt

    nulls: dict[str, int] = {}
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    usable = True
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for i in range(group.num_columns):
            column = group.column(i)
            name = column.path_in_schema
            if "." in name:  # nested: no statistics
                continue
            stats = column.statistics
            if stats is None or not stats.has_null_count:
                usable = False
                continue
            nulls[name] = nulls.get(name, 0) + stats.null_count
            if not stats.has_min_max:
                continue
            lo, hi = stats.min, stats.max
            if isinstance(lo, bool) or not isinstance(lo, (int, float, dt.date)) or isinstance(lo, dt.datetime):
                continue
            if isinstance(lo, float) and (lo != lo or hi != hi):
                continue
            mins[name] = lo if name not in mins else min(mins[name], lo)
            maxs[name] = hi if name not in maxs else max(maxs[name], hi)

    def plain(v: Any) -> Any:
        return v.isoformat() if isinstance(v, dt.date) else v

    stats_json: dict[str, Any] = {"numRecords": meta.num_rows,
                                  "minValues": {k: plain(v) for k, v in mins.items()},
                                  "maxValues": {k: plain(v) for k, v in maxs.items()}}
    if usable:
        stats_json["nullCount"] = nulls
    return json.dumps(stats_json)


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

    deleted = DeltaTable(table_uri(table)).vacuum(retention_hours=int(retention_hours), dry_run=False,
                                                  enforce_retention_duration=False, full=True)
    return deleted + _vacuum_staging(table, retention_hours)


def _vacuum_staging(table: str, retention_hours: float) -> list[str]:
    """Delete the staging folders of native writes that crashed before their commit, older than the retention;
    returns the data files they held."""
    staging = os.path.join(os.path.abspath(table_uri(table)), STAGING)
    if "://" in table_uri(table) or not os.path.isdir(staging):
        return []
    cutoff = time.time() - retention_hours * 3600
    deleted = []
    for name in sorted(os.listdir(staging)):
        folder = os.path.join(staging, name)
        if os.path.getmtime(folder) <= cutoff:
            for parent, _, names in os.walk(folder):
                deleted += [os.path.relpath(os.path.join(parent, n), os.path.dirname(staging))
                            for n in names if n.endswith(".parquet")]
            shutil.rmtree(folder, ignore_errors=True)
    return deleted
