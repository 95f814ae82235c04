"""Landing → bronze: the day's landing files as received, plus ingestion metadata.

For each stream of the use case (``events``, and ``labels`` once they mature) the job reads
``<landing>/<use_case>/<stream>/ds=<ds>/*.csv`` and writes the rows — every value still a string, as
received — to ``bronze/<use_case>/<stream>`` partition ``ds``, with ``_batch_id``, ``_source_file``
(relative to the landing root), ``_row_number`` (the line number in that file; the header is line 1)
and ``_ingest_time`` (when the file landed: its modification time, so a rerun reproduces it).

Lines that cannot be parsed go to the quarantine table with the raw line and the reason:
``header`` (the file's header lacks or adds columns), ``field_count`` (a truncated or overlong line),
``encoding`` (not valid UTF-8), ``blank_line``. Nothing is dropped: per stream,
``lines received = bronze rows + quarantined``, checked against what was committed.

A missing events folder for the date is an error (nothing arrived; the task fails and says where it
looked). Labels land only once they mature, so a missing labels folder means "none today".

Run: ``spark-submit jobs/bronze.py --use-case credit_default --ds 2026-01-15`` (or ``python -m jobs.bronze``).
"""
from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from jobs.lib import lake, tables
from jobs.lib.cli import run_job
from jobs.lib.config import UseCase, settings
from jobs.lib.delta_rs import filesystem
from jobs.lib.quality import BatchQuality, empty_quarantine, reconcile_and_record, write_quarantine

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

LAYER = "bronze"


class LandingError(FileNotFoundError):
    """The landing folder or files the date needs are not there."""


def batch_id(use_case: str, stream: str, ds: str) -> str:
    """Deterministic id of one day's batch of one stream: reruns keep it."""
    return f"{use_case}/{stream}/{ds}"


def landing_files(folder: str) -> list[str] | None:
    """Data files in a landing folder (hidden and ``_``-prefixed temp files skipped); None if no folder."""
    import pyarrow.fs as pafs

    fs, root = filesystem(folder)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        return None
    if info.type != pafs.FileType.Directory:
        raise LandingError(f"landing path {folder} exists but is not a folder")
    selector = pafs.FileSelector(root, recursive=False)
    files = [i.path for i in fs.get_file_info(selector)
             if i.type == pafs.FileType.File and not i.base_name.startswith((".", "_"))]
    prefix = folder[: len(folder) - len(root)] if "://" in folder else ""
    return sorted(prefix + f for f in files)


def read_lines(spark: SparkSession, files: Sequence[str]) -> tuple[DataFrame, int, dict[str, str]]:
    """Every line of the files with its file, 1-based line number and the file's modification time; also the
    number of lines and each file's first line (its header).

    Line numbers without sorting: Spark reads a file in splits (``_metadata.file_block_start``) and a line
    belongs to the split it starts in, so a file's lines are its splits' lines in split order. One small
    aggregate gives each split's line count and first row id (``monotonically_increasing_id`` grows by one
    along a split); a line's number is then the lines of the file's earlier splits plus its place in its own
    split. (A window numbering rows per file puts a whole file in one task and sorts it.)
    """
    from pyspark.sql import functions as F

    raw = (spark.read.text(list(files))
           .select("value", F.col("_metadata.file_path").alias("file_path"),
                   F.col("_metadata.file_modification_time").alias("file_time"),
                   F.col("_metadata.file_block_start").alias("_block"))
           .withColumn("_order", F.monotonically_increasing_id()))
    splits = (raw.groupBy("file_path", "_block")
              .agg(F.min("_order").alias("first"), F.count(F.lit(1)).alias("n"),
                   F.min_by("value", "_order").alias("first_line"))
              .collect())
    base, headers, seen, total = [], {}, {}, 0
    for split in sorted(splits, key=lambda r: (r["file_path"], r["_block"])):
        done = seen.get(split["file_path"], 0)
        if done == 0:
            headers[split["file_path"]] = split["first_line"]
        base.append((split["file_path"], split["_block"], done + 1 - split["first"]))
        seen[split["file_path"]] = done + split["n"]
        total += split["n"]
    offsets = spark.createDataFrame(base, "file_path string, _block bigint, _base bigint")
    lines = (raw.join(F.broadcast(offsets), ["file_path", "_block"])
             .select("value", "file_path", "file_time", (F.col("_order") + F.col("_base")).alias("line_number")))
    return lines, total, headers


def _split_header(line: str, delimiter: str) -> list[str]:
    return [c.strip() for c in next(csv.reader(io.StringIO(line), delimiter=delimiter), [])]


def parse(lines: DataFrame, columns: Sequence[str], delimiter: str, landing_root: str,
          ds: str, batch: str, headers: dict[str, str]) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Split landing lines into bronze rows and quarantine rows (with reason and rule).

    ``headers``: each file's first line. Also returns the checked lines (every line after the header, with
    its ``reason``, null when good): both outputs read it, so the caller may persist it.
    """
    from pyspark.sql import functions as F

    expected = list(columns)
    file_header_problem: dict[str, str] = {}
    file_columns: dict[str, list[str]] = {}
    for path, header in headers.items():
        found = _split_header(header.lstrip("\ufeff"), delimiter)
        missing = [c for c in expected if c not in found]
        extra = [c for c in found if c not in expected]
        if missing or extra or len(set(found)) != len(found):
            problem = []
            if missing:
                problem.append(f"missing column(s) {missing}")
            if extra:
                problem.append(f"unexpected column(s) {extra}")
            if len(set(found)) != len(found):
                problem.append("repeated column names")
            file_header_problem[path] = "header: " + "; ".join(problem)
        file_columns[path] = found

    root = landing_root.rstrip("/")
    relative = F.regexp_replace(F.col("file_path"), "^(file:)?" + re.escape(root) + "/?", "")
    body = lines.where("line_number > 1")
    quoted = r'"(?:[^"]|"")*"'
    # Quoted fields count as one field whatever they hold; lines without a quote skip the regex (most lines).
    unquoted = F.when(F.col("value").contains('"'), F.regexp_replace("value", quoted, "Q")).otherwise(F.col("value"))
    field_count = F.size(F.split(unquoted, re.escape(delimiter), -1))
    header_problem = F.lit(None).cast("string")
    for path, problem in file_header_problem.items():
        header_problem = F.when(F.col("file_path") == path, F.lit(problem)).otherwise(header_problem)
    n_fields = F.lit(len(expected))
    for path, found in file_columns.items():
        if len(found) != len(expected):
            n_fields = F.when(F.col("file_path") == path, F.lit(len(found))).otherwise(n_fields)
    reason = (
        F.when(header_problem.isNotNull(), header_problem)
        .when(~F.is_valid_utf8("value"), F.lit("encoding: line is not valid UTF-8"))
        .when(F.trim("value") == "", F.lit("blank_line: empty line"))
        .when(field_count != n_fields,
              F.format_string("field_count: expected %d fields, got %d", n_fields, field_count))
    )
    rule = F.regexp_extract("reason", r"^([a-z_]+):", 1)
    checked = body.select("value", "file_path", "file_time", "line_number", reason.alias("reason"),
                          relative.alias("_source_file"))

    quarantine = checked.where(F.col("reason").isNotNull()).select(
        F.lit(None).cast("string").alias("stream"), F.lit(batch).alias("batch_id"),
        F.col("_source_file").alias("source_file"), F.col("line_number").cast("bigint").alias("row_number"),
        F.concat_ws(":", "_source_file", F.col("line_number").cast("string")).alias("row_id"),
        F.lit(None).cast("string").alias("record_key"), "reason", rule.alias("rule"),
        F.make_valid_utf8("value").alias("raw"),  # invalid bytes shown as U+FFFD
    )
    good = checked.where(F.col("reason").isNull())
    # Parse each file with its own header order (same column set, any order), then select in schema order.
    parsed_frames = []
    for path, found in file_columns.items():
        if path in file_header_problem:
            continue
        ddl = ", ".join(f"`c{i}` STRING" for i in range(len(found)))
        fields = F.from_csv("value", ddl, {"sep": delimiter, "mode": "PERMISSIVE", "nullValue": ""})
        part = good.where(F.col("file_path") == path).withColumn("_f", fields)
        parsed_frames.append(part.select(
            *[F.col(f"_f.c{found.index(c)}").alias(c) for c in expected],
            F.lit(batch).alias("_batch_id"), F.col("_source_file"),
            F.col("line_number").cast("bigint").alias("_row_number"),
            F.col("file_time").cast("timestamp").alias("_ingest_time"), F.lit(ds).alias("ds"),
        ))
    if parsed_frames:
        rows = parsed_frames[0]
        for frame in parsed_frames[1:]:
            rows = rows.unionByName(frame)
    else:
        rows = lines.sparkSession.createDataFrame([], bronze_ddl(expected))
    return rows, quarantine, checked


def bronze_ddl(columns: Sequence[str]) -> str:
    return ", ".join([*(f"`{c}` STRING" for c in columns), "_batch_id STRING", "_source_file STRING",
                      "_row_number BIGINT", "_ingest_time TIMESTAMP", "ds STRING"])


def ingest(spark: SparkSession, use_case: UseCase, ds: str) -> list[BatchQuality]:
    """Land ``ds`` of every stream of ``use_case`` into bronze; returns the quality records written."""
    from pyspark.sql import functions as F

    cfg = settings()
    records: list[BatchQuality] = []
    quarantined: list[DataFrame] = []
    cached: list[DataFrame] = []
    for stream in tables.STREAMS:
        folder = cfg.landing_dir(use_case.name, stream, ds)
        batch = batch_id(use_case.name, stream, ds)
        columns = list(use_case.stream_schema(stream))
        files = landing_files(folder)
        if files is None and stream == "events":
            raise LandingError(f"{use_case.name} {ds}: landing folder {folder} does not exist; nothing arrived "
                               "for this date (check the upstream delivery, or replay it with `make replay`)")
        if not files and stream == "events":
            raise LandingError(f"{use_case.name} {ds}: landing folder {folder} holds no data files")
        record = BatchQuality(stream=stream, batch_id=batch, rows_in=0, rows_out=0,
                              status="ok" if files is not None else "no_landing_folder",
                              detail=f"{len(files or [])} file(s) from {folder}")
        if files:
            lines, n_lines, headers = read_lines(spark, files)
            rows, bad, checked = parse(lines, columns, use_case.source.delimiter, cfg.paths.landing, ds, batch,
                                       headers)
            record.rows_in = n_lines - len(headers)  # every line but each file's header
            # Both writes (bronze rows, quarantine) read the checked lines: parse the landing files once.
            cached.append(checked.persist())
            quarantined.append(bad.withColumn("stream", F.lit(stream)))
        else:
            rows = spark.createDataFrame([], bronze_ddl(columns))
        lake.write(rows, tables.bronze(use_case.name, stream), mode="overwrite", partition_by=["ds"],
                   replace_where=f"ds = '{ds}'")
        records.append(record)

    all_bad = empty_quarantine(spark).drop("ds", "layer")
    for frame in quarantined:
        all_bad = all_bad.unionByName(frame)
    try:
        write_quarantine(spark, use_case.name, ds, LAYER, all_bad)
    finally:
        for frame in cached:
            frame.unpersist()
    # Reconcile against what was committed, not against what we meant to write; the quarantined counts by
    # rule come from the committed quarantine rows too.
    reconcile_and_record(spark, use_case.name, ds, LAYER, records, lambda stream: tables.bronze(use_case.name, stream),
                         reasons_from_quarantine=True)
    return records


def summary(records: list[BatchQuality]) -> str:
    return "\n".join(
        f"bronze {r.stream:6s} {r.batch_id}: {r.rows_in} received, {r.rows_out} to bronze, "
        f"{r.quarantined} quarantined {r.quarantined_by_reason or ''}" for r in records)


def run(spark: SparkSession, use_case: UseCase, ds: str) -> str:
    return summary(ingest(spark, use_case, ds))


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("Landing files of a date -> bronze Delta tables (+ quarantine, quality).", run, argv)


if __name__ == "__main__":
    sys.exit(main())
