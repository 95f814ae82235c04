"""Quarantine and data-quality records shared by the medallion jobs.

* The **quarantine** table keeps every row a layer refused, with the reason and the rule, so nothing is
  dropped silently. One table per use case, partitioned by ``ds`` and ``layer``; a rerun of a layer for
  a date replaces exactly that layer's rows for that date.
* The **quality** table holds one record per (date, layer, stream): rows in and out, quarantined by
  reason, duplicates, completeness, uniqueness, validity, an overall score and whether the counts
  reconcile (``rows_in = rows_out + quarantined + duplicates``).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from jobs.lib import lake, tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

QUARANTINE_COLUMNS = """
    stream STRING, batch_id STRING, source_file STRING, row_number BIGINT, row_id STRING,
    record_key STRING, reason STRING, rule STRING, raw STRING, ds STRING, layer STRING
"""
QUALITY_COLUMNS = """
    stream STRING, batch_id STRING, rows_in BIGINT, rows_out BIGINT, quarantined BIGINT,
    quarantined_by_reason STRING, duplicates BIGINT, completeness DOUBLE, uniqueness DOUBLE,
    validity DOUBLE, quality_score DOUBLE, reconciled BOOLEAN, status STRING, detail STRING,
    ds STRING, layer STRING
"""


class ReconciliationError(RuntimeError):
    """Counts of a batch do not add up: rows were lost or doubled."""


class QualityGateError(RuntimeError):
    """A batch failed validation (too many bad rows, or a table-level expectation)."""


@dataclass
class BatchQuality:
    """Quality of one batch of one stream through one layer."""

    stream: str
    batch_id: str
    rows_in: int
    rows_out: int
    quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    completeness: float = 1.0
    status: str = "ok"
    detail: str = ""

    @property
    def reconciled(self) -> bool:
        return self.rows_in == self.rows_out + self.quarantined + self.duplicates

    @property
    def validity(self) -> float:
        return 1.0 - self.quarantined / self.rows_in if self.rows_in else 1.0

    @property
    def uniqueness(self) -> float:
        return 1.0 - self.duplicates / self.rows_in if self.rows_in else 1.0

    @property
    def quality_score(self) -> float:
        """Mean of completeness, uniqueness and validity, in [0, 1]."""
        return round((self.completeness + self.uniqueness + self.validity) / 3.0, 6)

    def check(self, layer: str) -> None:
        if not self.reconciled:
            raise ReconciliationError(
                f"{layer} {self.stream} batch {self.batch_id}: {self.rows_in} rows in != {self.rows_out} out + "
                f"{self.quarantined} quarantined + {self.duplicates} duplicates"
            )

    def as_row(self, ds: str, layer: str) -> dict:
        row = asdict(self)
        row.update(
            quarantined_by_reason=json.dumps(dict(sorted(self.quarantined_by_reason.items()))),
            completeness=float(self.completeness), uniqueness=float(self.uniqueness),
            validity=float(self.validity), quality_score=float(self.quality_score),
            reconciled=self.reconciled, ds=ds, layer=layer,
        )
        return row


def empty_quarantine(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([], QUARANTINE_COLUMNS)


def write_quarantine(spark: SparkSession, use_case: str, ds: str, layer: str, rows: DataFrame) -> None:
    """Replace the quarantine rows of (ds, layer) with ``rows`` (columns of QUARANTINE_COLUMNS but ds/layer)."""
    from pyspark.sql import functions as F

    template = empty_quarantine(spark)
    shaped = rows.select(
        *[F.col(f.name).cast(f.dataType).alias(f.name) for f in template.schema.fields if f.name not in ("ds", "layer")],
        F.lit(ds).alias("ds"), F.lit(layer).alias("layer"),
    )
    lake.write(shaped, tables.quarantine(use_case), mode="overwrite", partition_by=["ds", "layer"],
               replace_where=f"ds = '{ds}' AND layer = '{layer}'")


def write_quality(spark: SparkSession, use_case: str, ds: str, layer: str, records: list[BatchQuality]) -> None:
    """Replace the quality records of (ds, layer)."""
    df = spark.createDataFrame([r.as_row(ds, layer) for r in records], QUALITY_COLUMNS)
    lake.write(df, tables.quality(use_case), mode="overwrite", partition_by=["ds", "layer"],
               replace_where=f"ds = '{ds}' AND layer = '{layer}'")


def count_by_reason(quarantined: DataFrame) -> dict[str, int]:
    """Quarantined rows per rule, from a quarantine DataFrame (small result)."""
    return {r["rule"]: int(r["count"]) for r in quarantined.groupBy("rule").count().collect()}


def committed_rows(spark: SparkSession, table: str, partition: dict[str, str]) -> int:
    """Rows the table's current snapshot holds in ``partition`` (partition column -> value).

    Under the embedded delta-rs engine: the snapshot's files for the partition, from the Delta log, and the row
    count in each file's Parquet footer — what was committed, read without a Spark job (a Spark count would
    read every column of every row through the Python data source). Otherwise: a Spark count of the partition.
    """
    from pyspark.sql import functions as F

    if lake.engine(spark) == lake.DELTA_RS:
        from deltalake import DeltaTable

        from jobs.lib.delta_rs import table_uri

        dataset = DeltaTable(table_uri(table)).to_pyarrow_dataset(
            partitions=[(k, "=", str(v)) for k, v in partition.items()])
        return int(dataset.count_rows())
    df = lake.read(table, spark=spark)
    for column, value in partition.items():
        df = df.where(F.col(column) == value)
    return df.count()


def committed_counts(spark: SparkSession, table: str, partition: dict[str, str], columns: list[str]
                     ) -> dict[tuple, int]:
    """Committed rows of ``partition`` counted by the values of ``columns`` (meant for small partitions, e.g. a
    date's quarantine). Under delta-rs only those columns of the partition's files are read, on the driver."""
    from collections import Counter

    if lake.engine(spark) == lake.DELTA_RS:
        from deltalake import DeltaTable

        from jobs.lib.delta_rs import table_uri

        dataset = DeltaTable(table_uri(table)).to_pyarrow_dataset(
            partitions=[(k, "=", str(v)) for k, v in partition.items()])
        data = dataset.to_table(columns=list(columns)).to_pydict()
        return dict(Counter(zip(*(data[c] for c in columns))))
    df = lake.read(table, spark=spark)
    for column, value in partition.items():
        df = df.where(f"`{column}` = '{value}'")
    return {tuple(r[c] for c in columns): int(r["count"]) for r in df.groupBy(*columns).count().collect()}


def reconcile_and_record(spark: SparkSession, use_case: str, ds: str, layer: str, records: list[BatchQuality],
                         output_table: Callable[[str], str], reasons_from_quarantine: bool = False) -> None:
    """Count what the layer committed (its output partition and its quarantine rows for ``ds``), write the
    quality records, then fail loudly if any stream's counts do not reconcile.

    ``reasons_from_quarantine``: also take each record's ``quarantined_by_reason`` (by rule) from the committed
    quarantine rows (bronze, whose reasons are one rule per row)."""
    committed = committed_counts(spark, tables.quarantine(use_case), {"ds": ds, "layer": layer}, ["stream", "rule"])
    committed_q: dict[str, int] = {}
    for (stream, _rule), n in committed.items():
        committed_q[stream] = committed_q.get(stream, 0) + n
    for record in records:
        record.rows_out = committed_rows(spark, output_table(record.stream), {"ds": ds})
        record.quarantined = committed_q.get(record.stream, 0)
        if reasons_from_quarantine:
            record.quarantined_by_reason = {rule: n for (stream, rule), n in committed.items()
                                            if stream == record.stream}
        if record.quarantined and record.status == "ok":  # a more specific status (schema_change, ...) stays
            record.status = "ok_with_quarantine"
    write_quality(spark, use_case, ds, layer, records)
    for record in records:
        record.check(layer)
