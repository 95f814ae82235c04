"""Bronze → silver: typed, normalised, deduplicated, validated rows for one date.

Per stream, for bronze partition ``ds``:

1. **normalise** strings (trim, collapse inner whitespace; empty → null; ``text_columns`` kept as received) and **cast** to the schema
   types; a value that does not cast goes to quarantine (rule ``type``, naming column and value);
2. **hash PII** columns with SHA-256 and a salt from the environment (``pii.salt_env``);
3. **deduplicate** on the primary key — within the batch the latest received wins (ingest time, then file,
   then line) and the losers are counted as duplicates; across days (events only) a key the silver table
   already holds under an earlier ``ds`` is quarantined with rule ``duplicate_key`` and reason
   ``duplicate_key: first seen ds=<earliest such ds>`` (training never sees one application twice). Only
   partitions with ``ds <`` the run's ``ds`` count, so a rerun of a date gives the same result. Out of scope:
   a backfill of an earlier date after later ones — the later dates' rows are not re-judged (rerun them in
   date order), and the backfilled date keeps a key a later date already holds;
4. **validate** with the Great Expectations suite (events) or the label rules (labels): a row failing a
   row-level expectation goes to quarantine with the expectation's name; a table-level failure, or a
   quarantined share above ``thresholds.max_quarantine_share``, fails the task with the expectations
   and counts — after the quarantine and quality records are written, and without publishing silver;
5. **flag outliers** (IQR and z-score) as ``outlier_iqr_<col>`` / ``outlier_z_<col>`` columns;
6. write ``silver/<use_case>/<stream>`` partition ``ds`` with ``replaceWhere`` and check
   ``bronze = silver + quarantined + duplicates`` against what was committed.

Run: ``spark-submit jobs/silver.py --use-case credit_default --ds 2026-01-15``.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.lib import lake, tables
from jobs.lib.cli import run_job
from jobs.lib.config import UseCase, settings
from jobs.lib.quality import (
    BatchQuality,
    QualityGateError,
    committed_rows,
    empty_quarantine,
    reconcile_and_record,
    write_quality,
    write_quarantine,
)
from jobs.lib.spark import checkpoint, concurrently, sized_for

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

LAYER = "silver"
META = ["_row_id", "_batch_id", "_source_file", "_row_number", "_ingest_time"]


WHITESPACE = "\t\n\r\x0b\f"  # what Java's \\s matches besides the space


def _normalised(column: Column) -> Column:
    """The plain definition of a normalised value, ``nullif(regexp_replace(trim(c), '\\s+', ' '), '')``: only for
    the few cells that need it (typed values that do not cast as received, string values in rows :func:`_flagged`
    holds for); a regex per cell of every row was most of the cast step's time (1M rows x 25 columns, 2 cores,
    35 s vs 14 s)."""
    from pyspark.sql import functions as F

    return F.nullif(F.regexp_replace(F.trim(column), r"\s+", " "), F.lit(""))


def _flagged(columns: Sequence[Column]) -> Column:
    """Whether any of ``columns`` holds a whitespace character other than the space, or two spaces in a row: the
    rows whose values :func:`_cleaned` normalises with the regex. Searched once in the row's values joined by a
    separator that is no whitespace (``\\x01``), not in each cell (23 columns x 6 searches were 3.6 s of 1M rows on
    2 cores)."""
    from pyspark.sql import functions as F

    joined = F.concat_ws("\x01", *columns)
    flagged = joined.contains("  ")
    for char in WHITESPACE:
        flagged = flagged | joined.contains(char)
    return flagged


def _cleaned(column: Column, flagged: Column) -> Column:
    """``column`` normalised (:func:`_normalised`): with the regex in the rows ``flagged`` (few), as ``trim``
    and empty → null in the others, where the regex would change nothing else (no whitespace but single spaces)."""
    from pyspark.sql import functions as F

    return F.when(flagged, _normalised(column)).otherwise(F.nullif(F.trim(column), F.lit("")))


def cast_to_schema(bronze: DataFrame, schema: dict[str, str], text_columns: Sequence[str] = ()) -> DataFrame:
    """Typed columns plus ``_type_error`` (first column whose value does not cast, with the value).

    String columns are normalised (:func:`_cleaned`), but ``text_columns`` (free text: notes, addresses) are kept
    byte for byte as received, line breaks and spacing included. Other columns are cast from the value as received
    (a cast ignores surrounding whitespace, so where it succeeds it gives the normalised value's cast); only where
    it does not (null, empty or malformed cells: few) is the value normalised (:func:`_normalised`), cast again,
    and quoted in the error. The result is that of normalising every cell first
    (tests/integration/test_bad_input.py), without the regex on the cells that do not need it.

    One projection: the row's flag and the typed values are each used several times in it, and Spark computes
    them once (common subexpressions). Its code is too large for whole-stage code generation (Spark falls back to
    a compiled projection, with ``spark.sql.codegen.hugeMethodLimit 8000`` from ``conf/spark-defaults.conf``);
    projections in a chain, each step a column the next one reads, fell back the same way and copied every row
    once per projection. 1M rows x 23 columns (15 strings), 2 cores, best of 3 in one JVM, reading bronze alone
    1.0 s: 8.8 s before (every cell trimmed and searched for whitespace, four projections), 6.1 s with the search
    once per row, 5.4 s with the typed columns normalised only where they do not cast, 4.6 s as one projection.
    Of those 4.6 s the row's search takes about 1.2 s (``contains`` scans the joined values once per character).
    """
    from pyspark.sql import functions as F

    passthrough = [c for c in bronze.columns if c.startswith("_") or c == "ds"]
    strings = [c for c in schema if c not in text_columns and schema[c] == "string"]
    checked = [c for c in schema if c not in text_columns and schema[c] != "string"]  # a value can fail to cast
    named = {c: F.col(f"`{c}`") for c in schema}
    flagged = _flagged([named[c] for c in strings]) if strings else F.lit(False)
    typed: dict[str, Column] = {}
    for c, t in schema.items():
        if c in text_columns:
            typed[c] = named[c]
        elif t == "string":
            typed[c] = _cleaned(named[c], flagged)
        else:  # coalesce evaluates its second value only where the first is null
            typed[c] = F.coalesce(named[c].try_cast(t), _normalised(named[c]).try_cast(t))
    errors = [F.when(typed[c].isNull() & named[c].isNotNull(),
                     F.concat(F.lit(f"type: {c} = '"), _normalised(named[c]), F.lit(f"' is not {schema[c]}")))
              for c in checked]
    error = F.coalesce(*errors) if errors else F.lit(None).cast("string")
    return bronze.select(*[typed[c].alias(c) for c in schema], *passthrough, error.alias("_type_error"))


def dedup_rank(df: DataFrame, keys: Sequence[str], among: Column | None = None) -> Column:
    """Rank of a row among the rows of its key, latest received first (1 = kept); rows with a null key are
    never merged together. ``among``: rank only among rows where it holds (the others form their own groups)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    null_key = F.lit(False)
    for k in keys:
        null_key = null_key | F.col(k).isNull()
    group = [F.when(null_key, F.col("_row_id")).otherwise(F.col(k).cast("string")) for k in keys]
    if among is not None:
        group.insert(0, F.coalesce(among, F.lit(False)))
    order = [F.col("_ingest_time").desc(), F.col("_source_file").desc(), F.col("_row_number").desc()]
    return F.row_number().over(Window.partitionBy(*group).orderBy(*order))


def first_seen(spark: SparkSession, table: str, keys: Sequence[str], key_types: dict[str, str], ds: str
               ) -> DataFrame | None:
    """Keys of ``table`` in partitions with ``ds`` before ``ds``, with the earliest such ``ds`` as ``__first_ds``;
    None when there is no earlier partition (e.g. the first date, or no table yet: no Spark work then).

    Reads only the key columns and the partition value. Under the embedded delta-rs engine the earlier files
    come from the Delta log (partition-pruned there) and are read by Spark's own Parquet reader, which reads
    just the key columns (the delta-rs data source reads whole rows: no column pruning in Python data sources);
    ``ds`` is taken from each file's Hive-style partition folder (``.../ds=<value>/...``), as delta-rs writes
    them. Otherwise the lake's reader prunes partitions and columns itself. No JVM-only API (Connect-safe).
    """
    from pyspark.sql import functions as F

    if not lake.exists(table):
        return None
    if lake.engine(spark) == lake.DELTA_RS:
        from jobs.lib.delta_rs import open_table

        files = open_table(table).file_uris(partition_filters=[("ds", "<", ds)])
        if not files:
            return None
        ddl = ", ".join(f"`{k}` {key_types[k]}" for k in keys)
        earlier = spark.read.schema(ddl).parquet(*files).select(
            *keys, F.regexp_extract(F.col("_metadata.file_path"), r"/ds=([^/]+)/[^/]*$", 1).alias("__seen_ds"))
    else:
        earlier = lake.read(table, spark=spark).where(F.col("ds") < F.lit(ds)).select(
            *keys, F.col("ds").alias("__seen_ds"))
    not_null = F.lit(True)
    for k in keys:
        not_null = not_null & F.col(k).isNotNull()
    return earlier.where(not_null).groupBy(*keys).agg(F.min("__seen_ds").alias("__first_ds"))


def label_rules(df: DataFrame, use_case: UseCase) -> DataFrame:
    """Row-level rules of the labels stream: (_row_id, expectation) for each failure."""
    from pyspark.sql import functions as F

    label = use_case.label
    checks = [(f"not_null({k})", F.col(k).isNull()) for k in use_case.primary_key]
    checks.append((f"not_null({label.column})", F.col(label.column).isNull()))
    checks.append((f"in_set({label.column}, [{label.positive}, {label.negative}])",
                   F.col(label.column).isNotNull() & ~F.col(label.column).isin(label.positive, label.negative)))
    frames = [df.where(cond).select("_row_id", F.lit(name).alias("expectation")) for name, cond in checks]
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def outlier_stats(df: DataFrame, columns: Sequence[str], rows: int, sample_of: DataFrame | None = None) -> dict:
    """What :func:`flag_outliers` needs of ``df``'s rows (about ``rows`` of them): per column exact quartiles
    (``<c>__q``: Spark's ``percentile``, linear interpolation, as they always were; computed by
    :func:`jobs.lib.quantiles.percentiles`, its sample drawn from ``sample_of`` if given), mean (``<c>__mean``)
    and population std (``<c>__std``)."""
    from pyspark.sql import functions as F

    from jobs.lib.quantiles import percentiles

    moments = {f"{c}__{name}": agg(F.col(f"`{c}`")) for c in columns
               for name, agg in (("mean", F.avg), ("std", F.stddev_pop))}
    quartiles, stats = percentiles(df, columns, (0.25, 0.75), rows=rows, sample_of=sample_of, extra=moments)
    return {**stats, **{f"{c}__q": q for c, q in quartiles.items()}}


def flag_outliers(df: DataFrame, columns: Sequence[str], iqr_k: float, z: float, stats: dict) -> DataFrame:
    """Add ``outlier_iqr_<c>`` and ``outlier_z_<c>`` booleans (null where the value is null), from ``stats``:
    :func:`outlier_stats` of ``df``'s rows."""
    from pyspark.sql import functions as F

    if not columns:
        return df
    flags = []
    for c in columns:
        q, mean, std = (stats[f"{c}__{s}"] for s in ("q", "mean", "std"))
        if q is None or q[0] is None:
            flags += [F.lit(None).cast("boolean").alias(f"outlier_iqr_{c}"),
                      F.lit(None).cast("boolean").alias(f"outlier_z_{c}")]
            continue
        q1, q3 = q
        low, high = q1 - iqr_k * (q3 - q1), q3 + iqr_k * (q3 - q1)
        flags.append(F.when(F.col(c).isNotNull(), (F.col(c) < low) | (F.col(c) > high)).alias(f"outlier_iqr_{c}"))
        z_flag = (F.abs(F.col(c) - F.lit(mean)) / F.lit(std)) > z if std else F.lit(False)
        flags.append(F.when(F.col(c).isNotNull(), z_flag).alias(f"outlier_z_{c}"))
    return df.select("*", *flags)


def _quarantine_rows(rows: DataFrame, stream: str, keys: Sequence[str], columns: Sequence[str] | None = None
                     ) -> DataFrame:
    """Shape refused rows (with ``reason`` and ``rule``) as quarantine records. ``columns``: ``rows.columns`` when
    the caller knows them (on Spark Connect, asking costs a round trip to the server)."""
    from pyspark.sql import functions as F

    columns = rows.columns if columns is None else columns
    payload = F.to_json(F.struct(*[F.col(c) for c in columns if c not in ("reason", "rule")]))
    return rows.select(
        F.lit(stream).alias("stream"), F.col("_batch_id").alias("batch_id"),
        F.col("_source_file").alias("source_file"), F.col("_row_number").alias("row_number"),
        F.col("_row_id").alias("row_id"), F.concat_ws("|", *[F.col(k).cast("string") for k in keys]).alias("record_key"),
        "reason", "rule", payload.alias("raw"),
    )


def refine_stream(spark: SparkSession, use_case: UseCase, ds: str, stream: str
                  ) -> tuple[DataFrame | None, DataFrame, BatchQuality, list[str]]:
    """Everything but the writes for one stream: (silver rows, quarantine rows, quality, table failures). Both
    outputs read a checkpoint, dropped once the caller lets go of them (after its writes).

    Spark work: one pass reads bronze, casts and hashes into a checkpoint; duplicates are ranked on a narrow
    projection of it (events: the batch's winners are also joined with the keys of earlier silver partitions,
    read key columns only) and the losers kept as a small checkpoint; every later action reads the rows with
    the losers' flags broadcast-joined on: one aggregation counts rows, type failures, duplicates and filled
    cells; the validation (GX) judges the deduplicated rows; one aggregation gives the outlier statistics of
    the rows that passed, its exact quartiles bracketed by a sample of the cast rows (jobs.lib.quantiles).
    """
    from pyspark.sql import functions as F

    from jobs.lib.validation import validate

    schema = use_case.stream_schema(stream)
    bronze_path = tables.bronze(use_case.name, stream)
    if not lake.exists(bronze_path):
        raise FileNotFoundError(f"{use_case.name} {ds}: no bronze table {bronze_path}; run the bronze job first")
    bronze = lake.read(bronze_path).where(F.col("ds") == ds)
    bronze = bronze.withColumn("_row_id", F.concat_ws(":", "_source_file", F.col("_row_number").cast("string")))
    typed = cast_to_schema(bronze, schema, use_case.text_columns)
    typed_columns = typed.columns  # asked once: each DataFrame.columns is a round trip on Spark Connect
    castable = F.col("_type_error").isNull()
    if stream == "events":  # PII hashed in the rows that cast (type failures are quarantined as they came)
        salt = settings().pii_salt()
        typed = typed.select(*[
            F.when(castable, F.when(F.col(c).isNotNull(), F.sha2(F.concat(F.lit(salt), F.col(c).cast("string")),
                                                                 256))).otherwise(F.col(c)).alias(c)
            if c in use_case.pii else F.col(c) for c in typed_columns])
    # The cast rows are kept as a checkpoint: the one pass over bronze, and every later action's plan is a
    # reference to them (not bronze, the casts and the joins planned again: most of a small date's time).
    typed = checkpoint(typed)
    # Duplicates are ranked among the rows that cast (a type failure never wins or loses a key), on a narrow
    # projection (keys, order, row id) so the shuffle moves a few columns, not whole rows; the losers (few) are
    # kept too and flagged back onto the rows by a broadcast join each action makes as it reads them.
    keys = list(use_case.primary_key)
    narrow = typed.where(castable).select(*dict.fromkeys([*keys, "_row_id", "_ingest_time", "_source_file",
                                                         "_row_number"]))
    ranked = narrow.withColumn("__rank", dedup_rank(narrow, keys))
    flags = ranked.where(F.col("__rank") > 1).select(
        "_row_id", F.lit(True).alias("__dup"), F.lit(None).cast("string").alias("__first_ds"))
    # Across days (events): a batch winner whose key silver already holds under an earlier ds is quarantined.
    seen = first_seen(spark, tables.silver(use_case.name, stream), keys, schema, ds) if stream == "events" else None
    if seen is not None:
        repeats = ranked.where(F.col("__rank") == 1).join(seen, keys, "inner").select(
            "_row_id", F.lit(False).alias("__dup"), "__first_ds")
        flags = flags.unionByName(repeats)
    losers = checkpoint(flags)  # few rows: in-batch losers and cross-day repeats
    # __rank: 1 kept, 2 duplicate within the batch, 3 key already in silver under an earlier ds; null: type failure.
    # Not a second copy of the rows (1M rows: 6.6 s, and the memory two copies took spilled to disk): a join with
    # the losers, broadcast (they are one short row per duplicate), costs each action a hash lookup per row.
    staged = typed.join(F.broadcast(losers), "_row_id", "left").select(
        *typed_columns, "__first_ds",
        F.when(castable, F.when(F.col("__dup").isNull(), 1).when(F.col("__dup"), 2).otherwise(3)).alias("__rank"))
    kept_flag = F.col("__rank") == 1
    type_columns = [c for c, t in schema.items() if t != "string"]
    counts = staged.agg(
        F.count(F.lit(1)).alias("__rows"),
        F.count(F.when(F.col("__rank") == 2, 1)).alias("__duplicates"),
        F.count(F.when(F.col("__rank") == 3, 1)).alias("__repeats"),
        F.count(F.when(kept_flag, 1)).alias("__kept"),
        *[F.count(F.when(kept_flag, F.col(c))).alias(f"__filled_{c}") for c in schema],
        *[F.count(F.when(F.col("_type_error").startswith(f"type: {c} = "), 1)).alias(f"__type_{c}")
          for c in type_columns],
    ).first()
    rows_in, n_duplicates = counts["__rows"], counts["__duplicates"]
    batch = f"{use_case.name}/{stream}/{ds}"
    internal = ("__rank", "_type_error", "__first_ds")
    kept_columns = [c for c in typed_columns if c not in internal]  # staged's columns, but the internal ones
    bad_columns = [*kept_columns, "reason", "rule"]
    kept = staged.where(kept_flag).drop(*internal)
    by_reason = {f"type({c})": counts[f"__type_{c}"] for c in type_columns if counts[f"__type_{c}"]}
    if counts["__repeats"]:
        by_reason["duplicate_key"] = counts["__repeats"]
    table_failures: list[str] = []
    if stream == "events":
        outcome = validate(kept.drop("ds"), use_case.expectation_suite,
                           directory=Path(settings().paths.expectations), persist=False)  # reads a checkpoint
        failed = outcome.failed_rows
        table_failures = [f"{o.name}: {o.observed}" for o in outcome.table_failures]
        # Per-expectation counts name the rule that failed (a row failing two counts under both).
        by_reason.update({o.name: o.unexpected_count for o in outcome.row_failures})
        n_rule_bad = len(outcome.failed_row_ids)
    else:  # the failing (row, rule) pairs are few: one collect gives both counts
        pairs = [(r["_row_id"], r["expectation"]) for r in label_rules(kept, use_case).collect()]
        failed = spark.createDataFrame(pairs, "_row_id string, expectation string")
        for _, rule in pairs:
            by_reason[rule] = by_reason.get(rule, 0) + 1
        n_rule_bad = len({row_id for row_id, _ in pairs})
    reasons = failed.groupBy("_row_id").agg(
        F.concat_ws("; ", F.array_sort(F.collect_set("expectation"))).alias("reason"))
    good = kept.join(F.broadcast(reasons.select("_row_id")), "_row_id", "left_anti")
    # Every refused row in one scan of the cast rows: a type failure, a key silver already holds (never kept rows)
    # or a kept row failing a rule (its reasons joined on); a union of one scan per kind read them twice or thrice.
    type_failed, repeated = F.col("_type_error").isNotNull(), F.col("__rank") == 3
    refused = staged.join(F.broadcast(reasons), "_row_id", "left").where(
        type_failed | repeated | F.col("reason").isNotNull()).select(
        *kept_columns,
        F.when(type_failed, F.col("_type_error")).when(
            repeated, F.concat(F.lit("duplicate_key: first seen ds="), F.col("__first_ds"))).otherwise(
            F.col("reason")).alias("reason"),
        F.when(type_failed, F.lit("type")).when(repeated, F.lit("duplicate_key")).otherwise(
            F.lit("expectation")).alias("rule"))
    quarantine = _quarantine_rows(refused, stream, keys, bad_columns)
    flagged: list[str] = []  # the outlier flag columns flag_outliers adds, in its order
    outliers = list(use_case.outlier_columns) if stream == "events" else []
    if outliers:  # the quartiles' sample (jobs.lib.quantiles) is drawn from the cast rows: no joins to scan
        stats = outlier_stats(good, outliers, rows=counts["__kept"] - n_rule_bad, sample_of=typed.where(castable))
        good = flag_outliers(good, outliers, use_case.thresholds.outlier_iqr_k, use_case.thresholds.outlier_z,
                             stats=stats)
        flagged = [f"outlier_{kind}_{c}" for c in outliers for kind in ("iqr", "z")]
    ordered = [*schema, *META, *flagged, "ds"]
    good = good.select(*ordered)
    n_quarantined = (sum(n for rule, n in by_reason.items() if rule.startswith("type(")) + n_rule_bad
                     + counts["__repeats"])
    # Completeness: the share of filled cells among the deduplicated rows.
    cells = counts["__kept"] * len(schema)
    completeness = sum(counts[f"__filled_{c}"] for c in schema) / cells if cells else 1.0
    record = BatchQuality(stream=stream, batch_id=batch, rows_in=rows_in, rows_out=0, quarantined=n_quarantined,
                          quarantined_by_reason=by_reason, duplicates=n_duplicates, completeness=completeness)
    return good, quarantine, record, table_failures


def refine(spark: SparkSession, use_case: UseCase, ds: str) -> list[BatchQuality]:
    """Bronze → silver for every stream of ``ds``; returns the quality records written. A large date (the date's
    bronze events rows, from the Delta log) runs with code generation on (:func:`jobs.lib.spark.sized_for`)."""
    bronze_events = tables.bronze(use_case.name, "events")
    with sized_for(spark, lambda: committed_rows(spark, bronze_events, {"ds": ds}) if lake.exists(bronze_events)
                   else 0):
        return _refine(spark, use_case, ds)


def _refine(spark: SparkSession, use_case: UseCase, ds: str) -> list[BatchQuality]:
    records, quarantines, gate_errors, outputs = [], [], [], []
    # The streams are refined at the same time, one thread each, and their outputs written so: a day's labels
    # are a few Spark jobs on a few rows, done while the events' run.
    refined = concurrently(spark, [functools.partial(refine_stream, spark, use_case, ds, stream)
                                   for stream in tables.STREAMS])
    for stream, (good, quarantine, record, table_failures) in zip(tables.STREAMS, refined, strict=True):
        records.append(record)
        quarantines.append(quarantine)
        share = record.quarantined / record.rows_in if record.rows_in else 0.0
        problems = []
        if table_failures:
            problems.append("table-level expectations failed: " + "; ".join(table_failures))
        if share > use_case.thresholds.max_quarantine_share:
            top = ", ".join(f"{k}: {v}" for k, v in sorted(record.quarantined_by_reason.items(),
                                                            key=lambda kv: -kv[1]))
            problems.append(f"{record.quarantined} of {record.rows_in} rows ({share:.1%}) failed validation, "
                            f"above the {use_case.thresholds.max_quarantine_share:.0%} threshold ({top})")
        if problems:
            record.status = "failed_validation"
            record.detail = " | ".join(problems)
            gate_errors.append(f"{use_case.name} {stream} {ds}: " + " | ".join(problems))
        outputs.append((stream, good, record))

    quarantine = quarantines[0]
    for frame in quarantines[1:]:
        quarantine = quarantine.unionByName(frame)
    quarantine = quarantine if quarantine is not None else empty_quarantine(spark)
    if gate_errors:  # write-audit-publish: nothing is published when the audit fails
        write_quarantine(spark, use_case.name, ds, LAYER, quarantine)
        for _, _, record in outputs:
            record.rows_out = 0
        write_quality(spark, use_case.name, ds, LAYER, records)
        raise QualityGateError("silver validation failed, silver not published:\n" + "\n".join(gate_errors))
    writes = [lambda: write_quarantine(spark, use_case.name, ds, LAYER, quarantine)]
    writes += [lambda stream=stream, good=good: lake.write(good, tables.silver(use_case.name, stream), mode="overwrite",
                                                           partition_by=["ds"], replace_where=f"ds = '{ds}'")
               for stream, good, _ in outputs]
    concurrently(spark, writes)
    reconcile_and_record(spark, use_case.name, ds, LAYER, records, lambda stream: tables.silver(use_case.name, stream))
    return records


def run(spark: SparkSession, use_case: UseCase, ds: str) -> str:
    records = refine(spark, use_case, ds)
    return "\n".join(
        f"silver {r.stream:6s} {r.batch_id}: {r.rows_in} in, {r.rows_out} out, {r.quarantined} quarantined, "
        f"{r.duplicates} duplicates, quality {r.quality_score:.3f} {r.quarantined_by_reason or ''}" for r in records)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("Bronze -> silver for a date: cast, normalise, hash PII, dedupe, validate (GX), flag outliers.",
                   run, argv)


if __name__ == "__main__":
    sys.exit(main())
