"""The embedded Delta engine: a Spark Python Data Source named ``delta`` backed by delta-rs.

Used when the Delta JVM classes (delta-spark) are not on the Spark classpath. Spark's own reader and
writer (``format("delta")``) drive it:

* **write** — executors write Parquet files into the table folder (Hive-style partition folders) and
  return what they wrote; the driver commits all of them as **one** Delta transaction through delta-rs.
  Files of a job that never commits are not in the log, so readers never see them; ``vacuum`` removes
  them later. Overwrites of a subset of partitions (``replaceWhere``) remove and add in the same commit.
* **read** — the driver lists the snapshot's files from the Delta log (optionally at ``versionAsOf``),
  prunes them with pushed-down filters on partition columns, and executors read them with pyarrow.

Options (set by :mod:`jobs.lib.lake`, which jobs use instead of this module):
``path``, ``versionAsOf``, ``minPartitions`` (read splits to aim for; default: the CPU count),
``partitionColumns`` (JSON list; Spark refuses ``.partitionBy`` for Python data sources), ``replaceWhere``,
``mergeSchema``.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceReader,
    EqualTo,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    InputPartition,
    LessThan,
    LessThanOrEqual,
    WriterCommitMessage,
)
from pyspark.sql.types import StructType

TARGET_SPLIT_BYTES = 128 * 1024 * 1024
OPEN_COST_BYTES = 4 * 1024 * 1024  # what opening a file costs, in bytes read (Spark's openCostInBytes)
ROW_GROUP_ROWS = 1024 * 1024  # a written file's row groups: up to this many rows ...
ROW_GROUP_BYTES = 64 * 1024 * 1024  # ... or this many bytes of Arrow data
TASK_BUFFER_BYTES = 128 * 1024 * 1024  # a write task flushes all its files when it buffers more than this
MAX_FILES_PER_SPLIT = 64


class DeltaLakeError(ValueError):
    """A Delta operation was refused; the message says which table and why."""


# ------------------------------------------------------------------------------------------ helpers
def table_uri(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path.rstrip("/")


def filesystem(uri: str):
    import pyarrow.fs as pafs

    if "://" not in uri:
        return pafs.LocalFileSystem(), uri
    return pafs.FileSystem.from_uri(uri)


def spark_schema_to_delta(schema: StructType):
    from deltalake import Schema

    return Schema.from_json(schema.json())


def as_nullable(schema: StructType) -> StructType:
    """``schema`` with every field (also nested ones) nullable: what delta-spark stores for a DataFrame
    write, so that the nullability of one frame (``spark.range``, ``lit``) never becomes a table's
    NOT NULL constraint that later nulls would break."""
    def relax(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: True if k in ("nullable", "containsNull", "valueContainsNull")
                    else v if k == "metadata" else relax(v) for k, v in node.items()}
        if isinstance(node, list):
            return [relax(v) for v in node]
        return node

    return StructType.fromJson(relax(schema.jsonValue()))


def delta_schema_to_spark(delta_schema) -> StructType:
    return StructType.fromJson(json.loads(delta_schema.to_json()))


def partition_value_to_string(value: Any) -> str | None:
    """Delta stores partition values as strings (ISO for dates/timestamps)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_HIVE_UNSAFE = re.compile(r'[\x00-\x1f"#%\'*/:=?\\\x7f{}\[\]^]')


def _hive_escape(value: str) -> str:
    return _HIVE_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", value)


def partition_dir(columns: Sequence[str], values: Sequence[str | None]) -> str:
    return "/".join(
        f"{c}={'__HIVE_DEFAULT_PARTITION__' if v is None else _hive_escape(v)}" for c, v in zip(columns, values)
    )


def table_exists(uri: str) -> bool:
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(table_uri(uri))


def open_table(uri: str, version: int | None = None):
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(table_uri(uri), version=version)
    except TableNotFoundError as exc:
        raise DeltaLakeError(f"no Delta table at {uri}") from exc
    except Exception as exc:  # delta-rs raises a generic error for a version that does not exist
        if version is not None and "version" in str(exc).lower():
            raise DeltaLakeError(f"Delta table {uri} has no version {version}: {exc}") from exc
        raise


# ------------------------------------------------------------------------------------- predicates
@dataclass(frozen=True)
class Comparison:
    column: str
    op: str  # one of = != < <= > >= in
    value: Any  # str, or list[str] for "in"

    def as_filter(self) -> tuple[str, str, Any]:
        return (self.column, self.op, self.value)

    def holds(self, partition_value: str | None) -> bool:
        if partition_value is None:
            return False
        if self.op == "in":
            return partition_value in self.value
        left, right = _comparable(partition_value, self.value)
        return {
            "=": left == right, "!=": left != right, "<": left < right,
            "<=": left <= right, ">": left > right, ">=": left >= right,
        }[self.op]


def _comparable(left: str, right: str) -> tuple[Any, Any]:
    try:
        return float(left), float(right)
    except ValueError:
        return left, right


_LITERAL = r"(?:'(?:[^']|'')*'|-?\d+(?:\.\d+)?|true|false)"
_COMPARISON = re.compile(
    rf"^\s*`?(?P<col>[A-Za-z_][A-Za-z0-9_]*)`?\s*(?:(?P<op>=|==|!=|<>|<=|>=|<|>)\s*(?P<lit>{_LITERAL})"
    rf"|\s+(?P<in>IN)\s*\((?P<list>\s*{_LITERAL}(?:\s*,\s*{_LITERAL})*\s*)\))\s*$",
    re.IGNORECASE,
)


def _unquote_literal(text: str) -> str:
    text = text.strip()
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    return text


def parse_partition_predicate(predicate: str, partition_columns: Sequence[str], table: str) -> list[Comparison]:
    """Parse a ``replaceWhere`` predicate: comparisons on partition columns joined by AND."""
    comparisons = []
    for part in re.split(r"\s+AND\s+", predicate.strip(), flags=re.IGNORECASE):
        match = _COMPARISON.match(part)
        if not match:
            raise DeltaLakeError(
                f"replaceWhere {predicate!r} on {table}: the delta-rs engine accepts comparisons "
                "(=, !=, <, <=, >, >=, IN) on partition columns joined by AND; cannot read {part!r}"
            )
        column = match.group("col")
        if column not in partition_columns:
            raise DeltaLakeError(
                f"replaceWhere {predicate!r} on {table}: column '{column}' is not a partition column "
                f"(partition columns: {list(partition_columns) or 'none'})"
            )
        if match.group("in"):
            values = [_unquote_literal(v) for v in re.findall(_LITERAL, match.group("list"))]
            comparisons.append(Comparison(column, "in", values))
        else:
            op = {"==": "=", "<>": "!="}.get(match.group("op"), match.group("op"))
            comparisons.append(Comparison(column, op, _unquote_literal(match.group("lit"))))
    return comparisons


# ------------------------------------------------------------------------------------------- write
@dataclass
class FileAdded:
    path: str  # relative to the table root, as on disk (delta-rs URI-encodes it in the log)
    size: int
    partition_values: dict[str, str | None]
    modification_time: int
    num_records: int
    stats: str


@dataclass
class DeltaCommitMessage(WriterCommitMessage):
    files: list[FileAdded] = field(default_factory=list)


class FileStats:
    """Delta per-file statistics (numRecords, nullCount, min/max of numbers and dates), built batch by batch."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self.rows = 0
        self.nulls = {c: 0 for c in columns}
        self.mins: dict[str, Any] = {}
        self.maxs: dict[str, Any] = {}

    def update(self, table) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.rows += table.num_rows
        for name in self.columns:
            column = table.column(name)
            self.nulls[name] += column.null_count
            t = column.type
            if column.null_count == len(column) or not (
                pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_date(t)
            ):
                continue
            mm = pc.min_max(column)
            lo, hi = mm["min"].as_py(), mm["max"].as_py()
            if isinstance(lo, float) and (lo != lo or hi != hi):  # NaN: no usable bounds
                continue
            self.mins[name] = lo if name not in self.mins else min(self.mins[name], lo)
            self.maxs[name] = hi if name not in self.maxs else max(self.maxs[name], hi)

    def to_json(self) -> str:
        def plain(v: Any) -> Any:
            return v.isoformat() if isinstance(v, dt.date) else v

        return json.dumps({
            "numRecords": self.rows,
            "minValues": {k: plain(v) for k, v in self.mins.items()},
            "maxValues": {k: plain(v) for k, v in self.maxs.items()},
            "nullCount": self.nulls,
        })


class DeltaRsWriter(DataSourceArrowWriter):
    """Executors: write Parquet files per partition. Driver: one Delta commit of all of them."""

    def __init__(self, uri: str, schema: StructType, overwrite: bool, partition_columns: list[str],
                 replace_where: str | None, merge_schema: bool, table_existed: bool) -> None:
        self.uri = uri
        self.schema = schema
        self.overwrite = overwrite
        self.partition_columns = partition_columns
        self.replace_where = replace_where
        self.merge_schema = merge_schema
        self.table_existed = table_existed
        self.comparisons = (
            parse_partition_predicate(replace_where, partition_columns, uri) if replace_where else []
        )
        self.job_id = uuid.uuid4().hex[:12]

    # executor side ---------------------------------------------------------------------------
    def write(self, iterator: Iterator[Any]) -> DeltaCommitMessage:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from pyspark import TaskContext

        fs, root = filesystem(self.uri)
        context = TaskContext.get()
        task = f"{context.partitionId():05d}" if context else "00000"
        data_columns = [f.name for f in self.schema.fields if f.name not in self.partition_columns]
        writers: dict[tuple, _OpenFile] = {}
        files: list[FileAdded] = []
        buffered = 0  # bytes waiting in all of this task's files
        try:
            for batch in iterator:
                if batch.num_rows == 0:
                    continue
                table = pa.Table.from_batches([batch])
                for key, part in _split_by_partition(table, self.partition_columns):
                    entry = writers.get(key)
                    if entry is None:
                        rel_dir = partition_dir(self.partition_columns, key)
                        name = f"part-{task}-{self.job_id}-{uuid.uuid4().hex[:8]}.c000.snappy.parquet"
                        rel = f"{rel_dir}/{name}" if rel_dir else name
                        # the table folder itself may not exist yet (first write of a table)
                        fs.create_dir(f"{root}/{rel_dir}" if rel_dir else root, recursive=True)
                        writer = pq.ParquetWriter(f"{root}/{rel}", part.select(data_columns).schema, filesystem=fs,
                                                  compression="snappy", coerce_timestamps="us",
                                                  allow_truncated_timestamps=True)
                        entry = writers[key] = _OpenFile(writer, rel, data_columns)
                    buffered += entry.add(part.select(data_columns))
                if buffered > TASK_BUFFER_BYTES:
                    for entry in writers.values():
                        entry.flush()
                    buffered = 0
            for key, entry in writers.items():
                entry.close()
                info = fs.get_file_info(f"{root}/{entry.rel}")
                files.append(FileAdded(
                    path=entry.rel, size=info.size,
                    partition_values=dict(zip(self.partition_columns, key)),
                    modification_time=int(info.mtime.timestamp() * 1000) if info.mtime else int(time.time() * 1000),
                    num_records=entry.stats.rows, stats=entry.stats.to_json(),
                ))
        except BaseException:
            for entry in writers.values():
                try:
                    entry.writer.close()
                    fs.delete_file(f"{root}/{entry.rel}")
                except Exception:  # best effort; vacuum removes what is left
                    pass
            raise
        return DeltaCommitMessage(files=files)

    # driver side ------------------------------------------------------------------------------
    def commit(self, messages: list[DeltaCommitMessage | None]) -> None:
        from deltalake import DeltaTable
        from deltalake.transaction import AddAction, CommitProperties, create_table_with_add_actions

        files = [f for m in messages if m is not None for f in m.files]
        for f in files:
            for c in self.comparisons:
                if not c.holds(f.partition_values.get(c.column)):
                    self.abort(messages)
                    raise DeltaLakeError(
                        f"write to {self.uri}: data does not conform to replaceWhere {self.replace_where!r} "
                        f"(a row has {c.column}={f.partition_values.get(c.column)!r}); nothing was committed"
                    )
        adds = [
            AddAction(path=f.path, size=f.size, partition_values=f.partition_values,
                      modification_time=f.modification_time, data_change=True, stats=f.stats)
            for f in files
        ]
        schema = spark_schema_to_delta(as_nullable(self.schema))
        operation = {"mode": "Overwrite" if self.overwrite else "Append",
                     "partitionBy": json.dumps(self.partition_columns)}
        if self.replace_where:
            operation["predicate"] = self.replace_where
        props = CommitProperties(custom_metadata={"engine": "riskpipe-delta-rs", **operation},
                                 max_commit_retries=50)
        uri = table_uri(self.uri)
        if not self.table_existed and not DeltaTable.is_deltatable(uri):
            try:
                create_table_with_add_actions(uri, schema, adds, mode="error",
                                              partition_by=self.partition_columns or None,
                                              commit_properties=props)
                return
            except Exception:
                if not DeltaTable.is_deltatable(uri):  # not a lost creation race: a real failure
                    raise
        table = DeltaTable(uri)
        if self.merge_schema:
            _add_missing_columns(table, self.schema)
            table = DeltaTable(uri)
        if self.overwrite:
            filters = [c.as_filter() for c in self.comparisons] or None
            table.create_write_transaction(adds, "overwrite", schema, self.partition_columns or None,
                                           partition_filters=filters, commit_properties=props)
        else:
            table.create_write_transaction(adds, "append", schema, self.partition_columns or None,
                                           commit_properties=props)

    def abort(self, messages: list[DeltaCommitMessage | None]) -> None:
        fs, root = filesystem(self.uri)
        for message in messages:
            for f in (message.files if message else []):
                try:
                    fs.delete_file(f"{root}/{unquote(f.path)}")
                except Exception:  # best effort; vacuum removes what is left
                    pass


class _OpenFile:
    """A Parquet file one write task is writing. Spark hands the writer Arrow batches of only
    ``spark.sql.execution.arrow.maxRecordsPerBatch`` rows (10,000 by default); they are buffered and
    written as row groups of up to ROW_GROUP_ROWS rows / ROW_GROUP_BYTES bytes, so that files are not
    made of thousands of tiny row groups (larger files, slower reads)."""

    def __init__(self, writer, rel: str, columns: Sequence[str]) -> None:
        self.writer = writer
        self.rel = rel
        self.stats = FileStats(columns)
        self.pending: list[Any] = []
        self.rows = 0
        self.bytes = 0

    def add(self, table) -> int:
        """Buffer ``table``; write a row group when enough is buffered. Returns the bytes now buffered
        that were not before (negative after a flush)."""
        before = self.bytes
        self.pending.append(table)
        self.rows += table.num_rows
        self.bytes += table.nbytes
        if self.rows >= ROW_GROUP_ROWS or self.bytes >= ROW_GROUP_BYTES:
            self.flush()
        return self.bytes - before

    def flush(self) -> None:
        import pyarrow as pa

        if not self.pending:
            return
        data = pa.concat_tables(self.pending)
        self.pending, self.rows, self.bytes = [], 0, 0
        self.writer.write_table(data, row_group_size=ROW_GROUP_ROWS)
        self.stats.update(data)

    def close(self) -> None:
        self.flush()
        self.writer.close()


def _add_missing_columns(table, schema: StructType) -> None:
    from deltalake import Field, Schema

    existing = {f.name for f in table.schema().fields}
    new = [f for f in Schema.from_json(schema.json()).fields if f.name not in existing]
    if new:
        table.alter.add_columns([Field(f.name, f.type, nullable=True) for f in new])


def _split_by_partition(table, columns: Sequence[str]):
    """Yield ``(partition value strings, rows)`` for each distinct partition in an Arrow table."""
    if not columns:
        yield (), table
        return
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = table.select(list(columns))
    if keys.num_rows and all(pc.count_distinct(keys.column(c), mode="all").as_py() == 1 for c in columns):
        yield tuple(partition_value_to_string(keys.column(c)[0].as_py()) for c in columns), table
        return
    # One integer code per row for its combination of partition values (null is a value of its own), then a
    # single stable sort: each partition is a contiguous, zero-copy slice of the sorted rows.
    code = np.zeros(table.num_rows, dtype=np.int64)
    for i, c in enumerate(columns):
        encoded = pc.dictionary_encode(keys.column(c).combine_chunks(), null_encoding="encode")
        code = code * len(encoded.dictionary) + encoded.indices.to_numpy(zero_copy_only=False)
        if i + 1 < len(columns):  # renumber densely (codes < rows) so that many columns cannot overflow
            code = np.unique(code, return_inverse=True)[1].astype(np.int64).reshape(-1)
    order = np.argsort(code, kind="stable")
    starts = np.flatnonzero(np.diff(code[order])) + 1
    ordered = table.take(pa.array(order))
    for start, stop in zip([0, *starts.tolist()], [*starts.tolist(), table.num_rows]):
        part = ordered.slice(start, stop - start)
        yield tuple(partition_value_to_string(part.column(c)[0].as_py()) for c in columns), part


# -------------------------------------------------------------------------------------------- read
@dataclass
class FileSplit(InputPartition):
    files: list[tuple[str, dict[str, str | None]]]  # (relative URI-encoded path, partition values)

    def __init__(self, files):
        super().__init__(len(files))
        self.files = files


class DeltaRsReader(DataSourceReader):
    def __init__(self, uri: str, version: int | None, schema: StructType, partition_columns: list[str],
                 min_partitions: int | None = None) -> None:
        self.uri = uri
        self.version = version
        self.schema = schema
        self.partition_columns = partition_columns
        self.min_partitions = min_partitions
        self.pruning: list[Comparison] = []

    def pushFilters(self, filters):  # noqa: N802 - Spark's API name
        """Prune files on partition columns; Spark still evaluates every filter after the scan."""
        ops = {EqualTo: "=", GreaterThan: ">", GreaterThanOrEqual: ">=", LessThan: "<", LessThanOrEqual: "<="}
        for f in filters:
            attribute = getattr(f, "attribute", None)  # Not(...) has a child filter instead
            column = attribute[0] if attribute is not None and len(attribute) == 1 else None
            if column in self.partition_columns:
                if type(f) in ops:
                    self.pruning.append(Comparison(column, ops[type(f)], partition_value_to_string(f.value)))
                elif isinstance(f, In):
                    self.pruning.append(Comparison(column, "in", [partition_value_to_string(v) for v in f.value]))
            yield f

    def partitions(self) -> Sequence[InputPartition]:
        import pyarrow as pa

        table = open_table(self.uri, self.version)
        actions = pa.table(table.get_add_actions(flatten=True))
        rows = actions.to_pylist()
        files = []
        for row in rows:
            values = {c: partition_value_to_string(row.get(f"partition.{c}")) for c in self.partition_columns}
            if all(c.holds(values[c.column]) for c in self.pruning):
                files.append((row["path"], values, row["size_bytes"]))
        files.sort(key=lambda f: -f[2])
        # Like Spark's file sources: splits of up to TARGET_SPLIT_BYTES, but small enough that a small table
        # still gives every core a split (two 100 MB files are two tasks, not one).
        parallelism = self.min_partitions or os.cpu_count() or 1
        weight = sum(size + OPEN_COST_BYTES for _, _, size in files)
        target = min(TARGET_SPLIT_BYTES, max(OPEN_COST_BYTES, weight // parallelism))
        splits: list[list[tuple[str, dict]]] = []
        sizes: list[int] = []
        for path, values, size in files:  # first fit decreasing
            size += OPEN_COST_BYTES
            for i, total in enumerate(sizes):
                if total + size <= target and len(splits[i]) < MAX_FILES_PER_SPLIT:
                    splits[i].append((path, values))
                    sizes[i] += size
                    break
            else:
                splits.append([(path, values)])
                sizes.append(size)
        return [FileSplit(s) for s in splits] or [FileSplit([])]

    def read(self, partition: FileSplit) -> Iterator[Any]:
        import pyarrow.parquet as pq
        from pyspark.sql.pandas.types import to_arrow_schema

        target = to_arrow_schema(self.schema, timezone="UTC")
        fs, root = filesystem(self.uri)
        for path, values in partition.files:
            full = path if "://" in path else f"{root}/{unquote(path)}"
            parquet = pq.ParquetFile(fs.open_input_file(full))
            typed = {f.name: _partition_scalar(values[f.name], f.type) for f in target if f.name in values}
            for batch in parquet.iter_batches(batch_size=65536):
                yield _conform(batch, target, typed)


def _partition_scalar(value: str | None, type_):
    """A partition value (a string in the log) as an Arrow scalar of the column's type."""
    import pyarrow as pa

    raw = pa.array([value], pa.string())
    if pa.types.is_timestamp(type_) and type_.tz is not None and value is not None:
        try:  # ISO 8601 with an offset ("...Z", "...+00:00")
            return raw.cast(type_)[0]
        except pa.ArrowInvalid:  # "YYYY-MM-DD HH:MM:SS[.ffffff]": UTC by the Delta protocol
            return raw.cast(pa.timestamp(type_.unit)).cast(type_)[0]
    return raw.cast(type_)[0]


def _conform(batch, target, partition_values: dict[str, Any]):
    """Shape a file's batch to the table schema: add partition columns (typed scalars), fill missing
    columns, cast."""
    import pyarrow as pa

    arrays = []
    names = batch.schema.names
    for f in target:
        if f.name in partition_values:
            arrays.append(pa.repeat(partition_values[f.name], batch.num_rows))
        elif f.name in names:
            column = batch.column(names.index(f.name))
            arrays.append(column if column.type == f.type else column.cast(f.type))
        else:  # column added by a later schema change: null in older files
            arrays.append(pa.nulls(batch.num_rows, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=target)


# --------------------------------------------------------------------------------------- data source
class DeltaRsDataSource(DataSource):
    """``spark.read.format("delta")`` / ``df.write.format("delta")`` through delta-rs."""

    @classmethod
    def name(cls) -> str:
        return "delta"

    def _path(self) -> str:
        path = self.options.get("path")
        if not path:
            raise DeltaLakeError("format('delta') needs a path: .load(path) or .save(path)")
        return table_uri(path)

    def _version(self) -> int | None:
        version = self.options.get("versionAsOf")
        return int(version) if version is not None else None

    def schema(self) -> StructType:
        return delta_schema_to_spark(open_table(self._path(), self._version()).schema())

    def reader(self, schema: StructType) -> DeltaRsReader:
        table = open_table(self._path(), self._version())
        min_partitions = self.options.get("minPartitions")
        return DeltaRsReader(self._path(), self._version(), schema, list(table.metadata().partition_columns),
                             int(min_partitions) if min_partitions else None)

    def writer(self, schema: StructType, overwrite: bool) -> DeltaRsWriter:
        uri = self._path()
        requested = json.loads(self.options.get("partitionColumns") or "null")
        merge_schema = str(self.options.get("mergeSchema", "false")).lower() == "true"
        existed = table_exists(uri)
        if existed:
            table = open_table(uri)
            partitions = list(table.metadata().partition_columns)
            if requested is not None and list(requested) != partitions:
                raise DeltaLakeError(
                    f"write to {uri}: partition columns {requested} do not match the table's {partitions}"
                )
            check_schema(uri, delta_schema_to_spark(table.schema()), schema, merge_schema, overwrite)
        else:
            partitions = list(requested or [])
            missing = [c for c in partitions if c not in schema.names]
            if missing:
                raise DeltaLakeError(f"write to {uri}: partition columns {missing} are not in the data")
        return DeltaRsWriter(uri, schema, overwrite, partitions, self.options.get("replaceWhere"),
                             merge_schema, existed)


def check_schema(uri: str, table_schema: StructType, data_schema: StructType, merge_schema: bool,
                 overwrite: bool = False) -> None:
    """Delta schema enforcement: same columns with the same types, new columns only with mergeSchema."""
    table_types = {f.name: f.dataType for f in table_schema.fields}
    data_types = {f.name: f.dataType for f in data_schema.fields}
    problems = []
    missing = [c for c in table_types if c not in data_types]
    if missing:
        problems.append(f"missing column(s) {missing}")
    for name, type_ in data_types.items():
        if name in table_types and table_types[name] != type_:
            problems.append(
                f"column '{name}' is {type_.simpleString()} in the data but {table_types[name].simpleString()} "
                "in the table"
            )
    extra = [c for c in data_types if c not in table_types]
    if extra and not merge_schema:
        problems.append(f"new column(s) {extra} (set merge_schema=True to add them)")
    if problems:
        raise DeltaLakeError(f"schema mismatch writing to {uri}: " + "; ".join(problems) +
                             ". Nothing was written.")
