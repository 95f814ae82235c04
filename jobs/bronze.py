"""Landing → bronze: the day's landing files as received, plus ingestion metadata.

For each stream of the use case (``events``, and ``labels`` once they mature) the job reads
``<landing>/<use_case>/<stream>/ds=<ds>/*`` (``.csv``, or ``.csv.gz`` decompressed on the fly) and writes the
records — every value still a string, as received — to ``bronze/<use_case>/<stream>`` partition ``ds``, with
``_batch_id``, ``_source_file`` (relative to the landing root), ``_row_number`` (the line the record starts on;
the header is line 1) and ``_ingest_time`` (when the file landed: its modification time, so a rerun reproduces
it).

Files are read as RFC 4180 records, not lines: a quoted field may hold the delimiter, doubled quotes and line
breaks (:func:`landing_records`). Text is decoded with the use case's ``source.encoding`` (UTF-8 by default, or
a single-byte code page such as latin-1 or cp1252).

Records that cannot be parsed go to the quarantine table with the raw record and the reason: ``header`` (the
file's header lacks or adds columns, refused under ``source.on_new_columns`` / ``on_missing_columns``),
``unterminated_quote`` (a quote still open at the end of the file: every line from the record that opened it),
``field_count`` (a record Spark's CSV parser does not split into the header's fields: truncated, overlong,
or with a quote inside a field that splits it otherwise), ``encoding`` (bytes invalid in the declared encoding),
``blank_line``. Nothing is dropped: per stream, ``records received = bronze rows + quarantined``, checked
against what was committed. A file ingested despite a changed header is named in the quality record
(status ``schema_change``).

A missing events folder for the date is an error (nothing arrived; the task fails and says where it
looked). Labels land only once they mature, so a missing labels folder means "none today".

Run: ``spark-submit jobs/bronze.py --use-case credit_default --ds 2026-01-15`` (or ``python -m jobs.bronze``).
"""
from __future__ import annotations

import contextlib
import csv
import functools
import io
import posixpath
import re
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from jobs.lib import lake, tables
from jobs.lib.cli import run_job
from jobs.lib.config import Source, UseCase, landing_encoding, settings
from jobs.lib.delta_rs import filesystem
from jobs.lib.quality import BatchQuality, committed_rows, empty_quarantine, reconcile_and_record, write_quarantine
from jobs.lib.spark import concurrently, sized_for

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


def _class(char: str) -> str:
    """``char`` escaped for a Java regex character class."""
    return "\\" + char if char in "\\]^-[&" else char


def quote_patterns(delimiter: str) -> dict[str, str]:
    """Java regexes telling how a physical line leaves the quoting state of an RFC 4180 file.

    A quoted field opens with a quote at the start of a field and closes at a quote not doubled; it may hold the
    delimiter, doubled quotes and line breaks. ``opens``: a line that starts outside quotes ends inside one (its
    last field opens a quote it does not close). ``stays_open``: a line that starts inside a quoted field ends
    inside one: it never closes that field, or it closes it and opens another one it does not close. Possessive
    quantifiers: no backtracking (and no deep recursion on long fields).
    """
    d = _class(delimiter)
    inside = '(?:[^"]++|"")*+'
    field = f'(?:"{inside}"|[^{d}"][^{d}]*+)?'
    return {"opens": f'^(?:{field}[{d}])*+"{inside}$',
            "stays_open": f'^{inside}(?:"[{d}](?:{field}[{d}])*+"{inside})?$'}


def _decoded(value, encoding: str):
    """The text of a landing line: UTF-8 as read; a single-byte code page decoded byte by byte (bytes the code
    page does not define become U+FFFD, and the record is quarantined under ``encoding``)."""
    import codecs

    from pyspark.sql import functions as F

    if encoding == "utf-8":
        return value
    latin1 = F.decode(value.cast("binary"), "ISO-8859-1")
    if encoding == "iso8859-1":
        return latin1
    table = codecs.lookup(encoding).decode(bytes(range(128, 256)), "replace")[0]
    return F.translate(latin1, "".join(map(chr, range(128, 256))), table)


def read_headers(files: Sequence[str], encoding: str = "utf-8") -> dict[str, str]:
    """Each file's first line (its header), by file name, decoded (bytes invalid in ``encoding`` become U+FFFD);
    files without a byte are left out. The driver reads the first few KB of each file (``*.gz`` decompressed)."""
    header_of = {}
    for path in files:
        fs, local = filesystem(path)
        head = b""
        with fs.open_input_stream(local, compression="detect") as stream:
            while b"\n" not in head:
                chunk = stream.read(1 << 16)
                if not chunk:
                    break
                head += chunk
        if head:
            header_of[posixpath.basename(path)] = head.split(b"\n", 1)[0].decode(encoding, errors="replace")
    return header_of


def text_lines(spark: SparkSession, files: Sequence[str], encoding: str = "utf-8") -> DataFrame:
    """Every line of the files, not yet numbered: value, file_name, file_time (the file's modification time),
    ``_block`` (the start of the split it was read in) and ``_order`` (its row id, one more than the line before it
    in the split). Lines end at LF: a CRLF line keeps its CR until its record is assembled, so a line break inside
    a quoted field stays byte for byte. ``*.gz`` files are decompressed on the fly. A landing folder's file names
    are unique, so a file is known by its name."""
    from pyspark.sql import functions as F

    return (spark.read.option("lineSep", "\n").text(list(files))
            .select(_decoded(F.col("value"), encoding).alias("value"),
                    F.col("_metadata.file_name").alias("file_name"),
                    F.col("_metadata.file_modification_time").alias("file_time"),
                    F.col("_metadata.file_block_start").alias("_block"))
            .withColumn("_order", F.monotonically_increasing_id()))


def opens_a_quote(delimiter: str):
    """True for a line that starts outside quotes and ends inside a quoted field (its record goes on).

    Only a line with an odd number of quotes goes through the regex (:func:`quote_patterns`): an RFC 4180 record
    holds an even number (a quoted field opens and closes, a quote inside is doubled), so a line with an even number
    can leave a field open only if it also holds a stray quote inside an unquoted field, which RFC 4180 forbids.
    The count is a split on the quote, which Spark does on the bytes; a regex first decodes each line into a Java
    string (1M lines, half of them with a quoted field: 1.9-2.2 s -> 0.8-1.1 s for a pass over them). A file
    missed so (stray quotes and a line break in a quoted field on the same line) is read line by line: its
    records' lines go to quarantine as ``field_count`` rows, none lost.
    """
    from pyspark.sql import functions as F

    value = F.col("value")
    odd_quotes = F.size(F.split(value, '"', -1)) % 2 == 0
    return value.contains('"') & odd_quotes & value.rlike(quote_patterns(delimiter)["opens"])


@dataclass
class Numbering:
    """What one aggregate over a stream's unnumbered lines tells (:func:`number_lines`)."""

    offsets: list[tuple[str, int, int]]  # (file_name, _block, what _order adds up to the line number)
    n_lines: int
    files: list[str]  # files with at least one line (the header)
    multiline_files: list[str]


def number_lines(lines: DataFrame) -> Numbering:
    """Line numbers without sorting, from one small aggregate over the lines of :func:`text_lines` (kept, with
    ``_opens``: :func:`opens_a_quote`); also which files hold multi-line records.

    Spark reads a file in splits (``_block``) and a line belongs to the split it starts in, so a file's lines are
    its splits' lines in split order. The aggregate gives each split's line count and first row id; a line's
    number is then the lines of the file's earlier splits plus its place in its own split. (A window numbering
    rows per file puts a whole file in one task and sorts it.) It also counts the lines that leave a quoted field
    open: files without any need no stitching.
    """
    from pyspark.sql import functions as F

    splits = (lines.groupBy("file_name", "_block")
              .agg(F.min("_order").alias("first"), F.count(F.lit(1)).alias("n"),
                   F.count(F.when(F.col("_opens"), 1)).alias("openers"))
              .collect())
    offsets, seen, multiline = [], {}, set()
    for split in sorted(splits, key=lambda r: (r["file_name"], r["_block"])):
        done = seen.get(split["file_name"], 0)
        offsets.append((split["file_name"], split["_block"], done + 1 - split["first"]))
        seen[split["file_name"]] = done + split["n"]
        if split["openers"]:
            multiline.add(split["file_name"])
    return Numbering(offsets, sum(seen.values()), sorted(seen), sorted(multiline))


def numbered(lines: DataFrame, numbering: Numbering) -> DataFrame:
    """``lines`` with their ``line_number`` (1-based; the header is line 1)."""
    from pyspark.sql import functions as F

    offsets = lines.sparkSession.createDataFrame(numbering.offsets, "file_name string, _block bigint, _base bigint")
    return (lines.join(F.broadcast(offsets), ["file_name", "_block"])
            .withColumn("line_number", F.col("_order") + F.col("_base")))


def _without_cr():
    """``value`` less one CR before its end (CRLF files); string functions only, so invalid UTF-8 bytes stay."""
    from pyspark.sql import functions as F

    return F.when(F.col("value").endswith("\r"), F.expr("substring(value, 1, length(value) - 1)")) \
        .otherwise(F.col("value"))


def landing_records(lines: DataFrame, multiline_files: Sequence[str], delimiter: str,
                    ) -> tuple[DataFrame, DataFrame]:
    """The records of files with multi-line records, from their checked, numbered lines (:func:`check`; ``value``
    without its CR, ``_cr`` where it had one). Returns the lines that are records of their own, with their checks
    (``reason`` ``unterminated_quote`` from a quote never closed on, unless the file's header refused it), and the
    stitched records (value, file_name, file_time, line_number: the record's first line, ``lines``: how many it
    spans, ``unterminated``: null), still to check.

    The quoting state at each line is a scan over the file's lines in order: a line either keeps the state (no
    quote), sets it (open or closed whatever came before) or flips it; the state after a line is the last line
    that set it, flipped by the flips since. A record starts at each line that starts outside quotes and takes the
    lines up to the next one. A quote still open at the end of the file quarantines every line from the record
    that opened it to the end (``unterminated_quote``), one quarantine row per line.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from jobs.lib.spark import checkpoint

    pattern = quote_patterns(delimiter)
    file_index = F.lit(None).cast("int")
    for i, name in enumerate(multiline_files):
        file_index = F.when(F.col("file_name") == name, F.lit(i)).otherwise(file_index)
    multi = lines.withColumn("_file", file_index)
    # Only lines holding a quote can change the state, so the scan sorts those alone, narrowed to the file index,
    # the line number and two flags: the state after the line when it starts outside / inside quotes.
    order = Window.partitionBy("_file").orderBy("line_number")
    upto = order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    scan = (multi.where(F.col("value").contains('"'))
            .select("_file", "line_number", F.col("value").rlike(pattern["opens"]).alias("_out"),
                    F.col("value").rlike(pattern["stays_open"]).alias("_in"))
            .withColumn("_flips", F.sum((F.col("_out") & ~F.col("_in")).cast("int")).over(upto))
            .withColumn("_set", F.when(F.col("_out") == F.col("_in"), F.col("_out")))
            .withColumn("_set_value", F.last("_set", ignorenulls=True).over(upto))
            .withColumn("_set_flips", F.last(F.when(F.col("_set").isNotNull(), F.col("_flips")), ignorenulls=True)
                        .over(upto)))
    open_after = F.coalesce("_set_value", F.lit(False)) != (
        (F.col("_flips") - F.coalesce("_set_flips", F.lit(0))) % 2 == 1)
    scan = (scan.withColumn("_open", open_after)
            .withColumn("_open_before", F.coalesce(F.lag("_open").over(order), F.lit(False)))
            .withColumn("_from", F.last(F.when(~F.col("_open_before") & F.col("_open"), F.col("line_number")),
                                        ignorenulls=True).over(upto))
            .withColumn("_last", F.lead("line_number").over(order).isNull()))
    # A multi-line record runs from the line that opens a quote to the next line that leaves it closed (the lines
    # between hold no quote, or stay inside). Kept: one row per record (~1% of a typical export's lines), and per
    # file whose last quote is never closed the line it opened on (everything from there on is quarantined).
    closes = F.col("_open_before") & ~F.col("_open")
    marks = checkpoint(scan.where(closes | (F.col("_last") & F.col("_open")))
                       .select("_file", "_from", F.col("line_number").alias("_to"), (~closes).alias("_tail")))
    tail_from = F.lit(None).cast("long")
    for row in marks.where("_tail").collect():
        tail_from = F.when(F.col("_file") == row["_file"], F.lit(row["_from"])).otherwise(tail_from)
    parts_of = marks.where(~F.col("_tail")).select(
        "_file", F.explode(F.sequence("_from", "_to")).alias("line_number"), F.col("_from").alias("_start"))
    marked = (multi.join(F.broadcast(parts_of), ["_file", "line_number"], "left")
              .withColumn("_tail_from", tail_from))
    in_tail = F.coalesce(F.col("line_number") >= F.col("_tail_from"), F.lit(False)) \
        & ~F.coalesce(F.col("reason").startswith("header:"), F.lit(False))
    one_line = marked.where(F.col("_start").isNull()).withColumn("reason", F.when(in_tail, F.format_string(
        "unterminated_quote: the quoted field opened on line %d is not closed by the end of the file; the rest "
        "of the file is quarantined line by line", "_tail_from")).otherwise(F.col("reason")))
    raw = F.when(F.col("_cr"), F.concat("value", F.lit("\r"))).otherwise(F.col("value"))
    parts = F.array_sort(F.collect_list(F.struct("line_number", raw.alias("value"))))
    stitched = (marked.where(F.col("_start").isNotNull()).groupBy("file_name", F.col("_start").alias("line_number"))
                .agg(F.array_join(F.transform(parts, lambda p: p["value"]), "\n").alias("value"),
                     F.first("file_time").alias("file_time"), F.count(F.lit(1)).alias("lines"))
                .select(_without_cr().alias("value"), "file_name", "file_time", "line_number", "lines",
                        F.lit(None).cast("string").alias("unterminated")))
    return one_line, stitched


def _split_header(line: str, delimiter: str) -> list[str]:
    return [c.strip() for c in next(csv.reader(io.StringIO(line), delimiter=delimiter), [])]


def check_headers(headers: dict[str, str], columns: Sequence[str], required: set[str], source: Source,
                  ) -> tuple[dict[str, list[str]], dict[str, str], dict[str, str]]:
    """Each file's header against the stream's columns and the use case's column-change policy.

    Returns each file's columns as found, the files refused (with a ``header:`` reason for every line of them)
    and the files ingested despite a change (with a ``schema_change:`` note for the quality table). Repeated
    names and a missing required column always refuse the file; new columns are dropped under
    ``on_new_columns: ignore``; missing optional columns are null under ``on_missing_columns: null_if_optional``.
    """
    found_by_file, refused, changed = {}, {}, {}
    for path, header in headers.items():
        found = _split_header(header.lstrip("\ufeff"), delimiter=source.delimiter)
        missing = [c for c in columns if c not in found]
        extra = [c for c in found if c not in columns]
        problem = []
        if missing and (source.on_missing_columns == "quarantine_file" or set(missing) & required):
            problem.append(f"missing column(s) {missing}" if source.on_missing_columns == "quarantine_file" else
                           f"missing required column(s) {[c for c in missing if c in required]}")
        if extra and source.on_new_columns == "quarantine_file":
            problem.append(f"unexpected column(s) {extra}")
        if len(set(found)) != len(found):
            problem.append("repeated column names")
        found_by_file[path] = found
        if problem:
            refused[path] = "header: " + "; ".join(problem)
        elif missing or extra:
            changed[path] = "; ".join(
                ([f"new column(s) {extra} ignored"] if extra else [])
                + ([f"missing column(s) {missing} set to null"] if missing else []))
    return found_by_file, refused, changed


def check(records: DataFrame, columns: Sequence[str], source: Source, source_files: dict[str, str],
          found_by_file: dict[str, list[str]], refused: dict[str, str]) -> DataFrame:
    """Landing records (value, file_name, ``unterminated``; :func:`landing_records`) with their fields as parsed
    (``_f``, in schema order), the ``reason`` to quarantine them (null when good) and ``_source_file`` (the path
    relative to the landing root, from ``source_files``, by file name). Other columns are kept.

    ``found_by_file``/``refused``: each file's header columns and the files refused (:func:`check_headers`).
    Spark's CSV parser (``from_csv``, RFC 4180: a doubled quote inside quotes is one quote) splits each record
    once, with its own file's header order (new columns dropped, missing ones null when the policy allows), and
    judges its field count in the same pass: a record it does not split into exactly the header's fields is a
    ``field_count`` row, so no value is ever dropped or shifted (a quote that does not open a field, as in
    ``1.5, "Bern, Ost"``, is text, and its comma splits). Only those rows count their fields for the message.
    """
    from pyspark.sql import functions as F

    expected = list(columns)
    name = F.col("file_name")
    header_problem = F.lit(None).cast("string")
    for file, problem in refused.items():
        header_problem = F.when(name == file, F.lit(problem)).otherwise(header_problem)
    n_fields = F.lit(len(expected))
    for file, found in found_by_file.items():
        if len(found) != len(expected):
            n_fields = F.when(name == file, F.lit(len(found))).otherwise(n_fields)
    # One parse per header order (files with the same header share it). ``_malformed``: the record, when the
    # parser does not split it into the header's number of fields.
    by_header: dict[tuple[str, ...], list[str]] = {}
    for file, found in found_by_file.items():
        if file not in refused:
            by_header.setdefault(tuple(found), []).append(file)
    fields = F.lit(None).cast("struct<" + ", ".join(f"`{c}`: string" for c in [*expected, "_malformed"]) + ">")
    for found, files in by_header.items():
        ddl = ", ".join([*(f"`c{i}` STRING" for i in range(len(found))), "_malformed STRING"])
        parsed = F.from_csv("value", ddl, {"sep": source.delimiter, "escape": '"', "mode": "PERMISSIVE",
                                           "nullValue": "", "columnNameOfCorruptRecord": "_malformed"})
        in_order = F.struct(*[(parsed[f"c{found.index(c)}"] if c in found else F.lit(None).cast("string")).alias(c)
                              for c in expected], parsed["_malformed"].alias("_malformed"))
        fields = in_order if len(by_header) == 1 and not refused else \
            F.when(name.isin(files), in_order).otherwise(fields)
    if source.encoding == "utf-8":
        bad_encoding = ~F.is_valid_utf8("value")
        encoding_reason = "encoding: record is not valid UTF-8"
    else:
        bad_encoding = F.col("value").contains("\ufffd")
        encoding_reason = f"encoding: record holds bytes that are not valid {source.encoding}"
    reason = (
        F.when(header_problem.isNotNull(), header_problem)
        .when(F.col("unterminated").isNotNull(), F.col("unterminated"))
        .when(bad_encoding, F.lit(encoding_reason))
        .when(F.trim("value") == "", F.lit("blank_line: empty line"))
        .when(F.col("_f._malformed").isNotNull(), _field_count_reason(n_fields, source.delimiter))
    )
    # A file's relative path is looked up (a regex per record cost 0.6 s for 1M records).
    relative = F.create_map(*[F.lit(part) for item in source_files.items() for part in item])[name]
    # The parse is a column of its own, so Spark runs it once per record (not once per field it is read from).
    return (records.withColumn("_f", fields)
            .withColumn("reason", reason)
            .withColumn("_source_file", relative))


REFUSED = "_refused"  # bronze_rows: true for a record quarantine gets (lake.write_diverting leaves it out)


def bronze_rows(checked: DataFrame, columns: Sequence[str], source: Source, ds: str, batch: str) -> DataFrame:
    """Checked records after each file's header (:func:`check`, with ``line_number``) as rows of bronze's schema,
    with :data:`REFUSED`: true for a record to quarantine. A refused record's row carries its quarantine row
    (:func:`quarantine_rows` reads it back): its reason in ``_batch_id`` and the record as landed in the first
    column (every other column null), so that one write of the rows gives bronze and the quarantine alike
    (:func:`jobs.lib.lake.write_diverting`)."""
    from pyspark.sql import functions as F

    refused = F.col("reason").isNotNull()
    raw = F.make_valid_utf8("value") if source.encoding == "utf-8" else F.col("value")  # invalid bytes: U+FFFD
    first, *rest = columns
    return checked.select(
        F.when(refused, raw).otherwise(F.col(f"_f.`{first}`")).alias(first),
        *[F.col(f"_f.`{c}`").alias(c) for c in rest],
        F.when(refused, F.col("reason")).otherwise(F.lit(batch)).alias("_batch_id"), F.col("_source_file"),
        F.col("line_number").cast("bigint").alias("_row_number"),
        F.col("file_time").cast("timestamp").alias("_ingest_time"), F.lit(ds).alias("ds"),
        refused.alias(REFUSED),
    )


def quarantine_rows(refused: DataFrame, columns: Sequence[str], stream: str, batch: str) -> DataFrame:
    """The quarantine rows of the refused records of :func:`bronze_rows` (with reason and rule)."""
    from pyspark.sql import functions as F

    rule = F.regexp_extract("_batch_id", r"^([a-z_]+):", 1)
    return refused.select(
        F.lit(stream).alias("stream"), F.lit(batch).alias("batch_id"), F.col("_source_file").alias("source_file"),
        F.col("_row_number").alias("row_number"),
        F.concat_ws(":", "_source_file", F.col("_row_number").cast("string")).alias("row_id"),
        F.lit(None).cast("string").alias("record_key"), F.col("_batch_id").alias("reason"), rule.alias("rule"),
        F.col(f"`{columns[0]}`").alias("raw"),
    )


def _field_count(delimiter: str):
    """A record's number of fields as RFC 4180 counts them: a quoted field (opening at a field's start, closing
    before a delimiter or the end) is one field whatever it holds; any other quote is text."""
    from pyspark.sql import functions as F

    d = _class(delimiter)
    quoted_field = f'(?<![^{d}])"(?:[^"]++|"")*+"(?![^{d}])'
    unquoted = F.when(F.col("value").contains('"'), F.regexp_replace("value", quoted_field, "Q")) \
        .otherwise(F.col("value"))
    return F.size(F.split(unquoted, re.escape(delimiter), -1))


def _field_count_reason(n_fields, delimiter: str):
    """The ``field_count`` reason of a record the parser did not split into ``n_fields`` fields."""
    from pyspark.sql import functions as F

    found = _field_count(delimiter)
    return F.when(found != n_fields, F.format_string("field_count: expected %d fields, got %d", n_fields, found)) \
        .otherwise(F.format_string("field_count: expected %d fields; the quoting does not split into %d "
                                   "(a quote closing inside a field?)", n_fields, n_fields))


CHECKED = ["value", "file_name", "file_time", "line_number", "lines", "_f", "reason", "_source_file"]


def checked_records(spark: SparkSession, files: Sequence[str], columns: Sequence[str], source: Source,
                    source_files: dict[str, str], found_by_file: dict[str, list[str]], refused: dict[str, str],
                    kept: list[DataFrame]) -> tuple[DataFrame, Numbering, int]:
    """Every record after each file's header, checked (:func:`check`) and numbered; the stream's
    :class:`Numbering`; and how many lines continue a multi-line record.

    A first pass over the text numbers the lines and finds the files with multi-line records (one small aggregate,
    no parsing: :func:`number_lines`). Without such files the records are the lines, each checked as a record of
    its own, and the returned frame is computed by whatever action reads it (one more read of the text, nothing
    kept). Otherwise the checked lines are kept (persisted, and appended to ``kept`` for the caller to unpersist
    once it has written what it reads from them): in files with multi-line records, the lines that are records of
    their own keep their checks; the others are stitched into records from the kept lines
    (:func:`landing_records`), checked and kept too.

    Both passes read the same files in the same splits, so the second's lines get the first's numbers; a file
    changed between them (still being written) shows as a count that does not reconcile, and the task fails.
    """
    from pyspark.sql import functions as F

    lines = text_lines(spark, files, source.encoding)
    numbering = number_lines(lines.select("file_name", "_block", "_order",
                                          opens_a_quote(source.delimiter).alias("_opens")))
    as_records = lines.select(_without_cr().alias("value"), F.col("value").endswith("\r").alias("_cr"),
                              "file_name", "file_time", "_block", "_order", F.lit(1).alias("lines"),
                              F.lit(None).cast("string").alias("unterminated"))
    checked = check(as_records, columns, source, source_files, found_by_file, refused)
    if not numbering.multiline_files:
        return numbered(checked, numbering).where("line_number > 1").select(*CHECKED), numbering, 0
    checked = checked.persist()
    kept.append(checked)
    all_lines = numbered(checked, numbering)
    body = all_lines.where("line_number > 1").select(*CHECKED)
    in_multiline = F.col("file_name").isin(numbering.multiline_files)
    alone, records = landing_records(all_lines.where(in_multiline), numbering.multiline_files, source.delimiter)
    stitched = check(records.where("line_number > 1"), columns, source, source_files, found_by_file, refused) \
        .select(*CHECKED).persist()
    kept.append(stitched)
    spans = stitched.agg(F.sum(F.col("lines") - 1).alias("extra")).first()["extra"] or 0
    return (body.where(~in_multiline).unionByName(alone.where("line_number > 1").select(*CHECKED))
            .unionByName(stitched), numbering, spans)


def line_count(spark: SparkSession, files: Sequence[str], at_least: int) -> int:
    """How many lines the files hold, counted only when it can reach ``at_least``: a line takes a byte at least,
    so files of fewer bytes hold fewer lines (their size in bytes is returned, no Spark job)."""
    import pyarrow.fs as pafs

    size = 0
    for path in files:
        fs, local = filesystem(path)
        info = fs.get_file_info(local)
        size += info.size if info.type == pafs.FileType.File else 0
    if size < at_least and not any(path.endswith(".gz") for path in files):
        return size
    return spark.read.option("lineSep", "\n").text(list(files)).count()


def required_columns(use_case: UseCase, stream: str) -> set[str]:
    """Columns a landing file of the stream may never lack, whatever the column-change policy."""
    if stream == "labels":
        return set(use_case.label_schema)
    return {*use_case.required, *use_case.primary_key, use_case.event_timestamp}


def _landing_prefix(landing_root: str) -> str:
    """The regex (Java and Python alike) of a landing file path's part up to the landing root."""
    return "^(file:)?" + re.escape(landing_root.rstrip("/")) + "/?"


def _relative(path: str, landing_root: str) -> str:
    return re.sub(_landing_prefix(landing_root), "", path)


def bronze_ddl(columns: Sequence[str]) -> str:
    return ", ".join([*(f"`{c}` STRING" for c in columns), "_batch_id STRING", "_source_file STRING",
                      "_row_number BIGINT", "_ingest_time TIMESTAMP", "ds STRING"])


def ingest(spark: SparkSession, use_case: UseCase, ds: str) -> list[BatchQuality]:
    """Land ``ds`` of every stream of ``use_case`` into bronze; returns the quality records written. Once the
    events' lines are counted, a large date runs the rest with code generation on (:func:`jobs.lib.spark.sized_for`)."""
    with contextlib.ExitStack() as sized:
        return _ingest(spark, use_case, ds, sized)


def _ingest(spark: SparkSession, use_case: UseCase, ds: str, sized: contextlib.ExitStack) -> list[BatchQuality]:
    cfg = settings()
    folders = {stream: cfg.landing_dir(use_case.name, stream, ds) for stream in tables.STREAMS}
    files = {stream: landing_files(folder) for stream, folder in folders.items()}
    if files["events"] is None:
        raise LandingError(f"{use_case.name} {ds}: landing folder {folders['events']} does not exist; nothing "
                           "arrived for this date (check the upstream delivery, or replay it with `make replay`)")
    if not files["events"]:
        raise LandingError(f"{use_case.name} {ds}: landing folder {folders['events']} holds no data files")
    cached: list[DataFrame] = []
    # Each stream's rows are written once: bronze commits the good ones, the refused ones stay in the write's
    # staging folder (lake.write_diverting) until the quarantine holds them. The streams land at the same time,
    # one thread each: a day's labels are a few Spark jobs on a few rows, done while the events' write runs.
    with contextlib.ExitStack() as refused_rows:
        stacks = threading.Lock()
        records, quarantined = zip(*concurrently(spark, [
            functools.partial(_land, spark, use_case, ds, stream, folders[stream], files[stream], sized, refused_rows,
                              stacks, cached) for stream in tables.STREAMS]))
        all_bad = empty_quarantine(spark).drop("ds", "layer")
        for frame in quarantined:
            if frame is not None:
                all_bad = all_bad.unionByName(frame)
        try:
            write_quarantine(spark, use_case.name, ds, LAYER, all_bad)
        finally:
            for frame in cached:
                frame.unpersist()
    # Reconcile against what was committed, not against what we meant to write; the quarantined counts by
    # rule come from the committed quarantine rows too.
    records = list(records)
    reconcile_and_record(spark, use_case.name, ds, LAYER, records, lambda stream: tables.bronze(use_case.name, stream),
                         reasons_from_quarantine=True)
    return records


def _land(spark: SparkSession, use_case: UseCase, ds: str, stream: str, folder: str, files: list[str] | None,
          sized: contextlib.ExitStack, refused_rows: contextlib.ExitStack, stacks: threading.Lock,
          cached: list[DataFrame]) -> tuple[BatchQuality, DataFrame | None]:
    """Land one stream's files of ``ds`` in bronze; its quality record (counts received so far) and its refused
    records as quarantine rows (None without files), readable until ``refused_rows`` closes."""
    cfg = settings()
    # The codec's own name ('UTF8', 'latin1' -> 'utf-8', 'iso8859-1'): the reader and the checks compare it.
    source = replace(use_case.source, encoding=landing_encoding(use_case.source.encoding))
    batch = batch_id(use_case.name, stream, ds)
    columns = list(use_case.stream_schema(stream))
    table = tables.bronze(use_case.name, stream)
    record = BatchQuality(stream=stream, batch_id=batch, rows_in=0, rows_out=0,
                          status="ok" if files is not None else "no_landing_folder",
                          detail=f"{len(files or [])} file(s) from {folder}")
    if not files:  # the date's rows, if a run before this one wrote some, go (no commit when none)
        if not lake.exists(table) or committed_rows(spark, table, {"ds": ds}):
            lake.write(spark.createDataFrame([], bronze_ddl(columns)), table, mode="overwrite",
                       partition_by=["ds"], replace_where=f"ds = '{ds}'")
        return record, None
    found_by_file, refused, changed = check_headers(read_headers(files, source.encoding), columns,
                                                    required_columns(use_case, stream), source)
    if stream == "events":
        _enter(sized_for(spark, lambda: line_count(spark, files, cfg.spark.connect.codegen_min_rows)), sized, stacks)
    source_files = {posixpath.basename(path): _relative(path, cfg.paths.landing) for path in files}
    checked, numbering, spans = checked_records(spark, files, columns, source, source_files, found_by_file,
                                                refused, cached)
    # Every line but each file's header, less the lines that continue a record.
    record.rows_in = numbering.n_lines - len(numbering.files) - spans
    if numbering.multiline_files:
        record.detail += f"; {len(numbering.multiline_files)} file(s) with multi-line records"
    if changed:
        record.status = "schema_change"
        record.detail += "; schema_change: " + "; ".join(
            f"{source_files[file]}: {note}" for file, note in sorted(changed.items()))
    writing = lake.write_diverting(bronze_rows(checked, columns, source, ds, batch), table, REFUSED,
                                   mode="overwrite", partition_by=["ds"], replace_where=f"ds = '{ds}'")
    bad = _enter(writing, refused_rows, stacks)
    return record, quarantine_rows(bad, columns, stream, batch)


def _enter(context, stack: contextlib.ExitStack, lock: threading.Lock):
    """``stack.enter_context(context)`` for a thread sharing ``stack``: entered outside the lock (it may run Spark
    jobs), its exit put on the stack under it."""
    value = context.__enter__()
    with lock:
        stack.push(context)
    return value


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
