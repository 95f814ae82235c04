"""One SparkSession per process, built from ``conf/spark-defaults.conf`` and the active profile.

The session also installs the Delta engine (:func:`jobs.lib.lake.install`): delta-spark when its JVM
classes are on the classpath, otherwise the delta-rs Python data source registered as ``delta``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.lib.config import Settings, settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def read_spark_defaults(path: Path) -> dict[str, str]:
    """Parse a spark-defaults.conf file: ``key  value`` lines, ``#`` comments."""
    conf: dict[str, str] = {}
    if not path.is_file():
        return conf
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise ValueError(f"{path}:{number}: expected 'key value', got {line!r}")
        conf[parts[0]] = parts[1].strip()
    return conf


def get_spark(app_name: str | None = None, cfg: Settings | None = None) -> SparkSession:
    """Return the process's SparkSession, creating it on first use.

    Under ``spark-submit`` the master and any ``--conf`` given on the command line win; the profile's
    master is used only when none was given.
    """
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    from jobs.lib import lake

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    cfg = cfg or settings()
    # Executors must run the same interpreter (and so the same packages) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    submitted = SparkConf()  # holds what spark-submit passed, if anything
    builder = SparkSession.builder.appName(app_name or cfg.spark.app_name)
    if not submitted.contains("spark.master"):
        builder = builder.master(cfg.spark.master)
    conf = {**read_spark_defaults(cfg.conf_dir / "spark-defaults.conf"), **cfg.spark.conf}
    conf.setdefault("spark.ui.enabled", str(cfg.spark.ui_enabled).lower())
    conf.setdefault("spark.sql.warehouse.dir", f"{cfg.paths.lakehouse}/_warehouse")
    for key, value in conf.items():
        if not submitted.contains(key):
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    lake.install(spark)
    return spark
