"""Shared fixtures: one SparkSession for the whole test session, real Delta tables in temp dirs."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Point every layer at a throwaway lakehouse/landing before any config is loaded.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="riskpipe-tests-"))
os.environ.setdefault("RISKPIPE_LAKEHOUSE", str(_SESSION_DIR / "lakehouse"))
os.environ.setdefault("RISKPIPE_LANDING", str(_SESSION_DIR / "landing"))
os.environ.setdefault("RISKPIPE_PROFILE", "local")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("AIRFLOW_HOME", str(_SESSION_DIR / "airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(PROJECT_ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test session (local[2], UI off, 4 shuffle partitions)."""
    from jobs.lib.config import load_settings
    from jobs.lib.spark import get_spark

    cfg = load_settings()
    session = get_spark("riskpipe-tests", cfg)
    session.conf.set("spark.sql.shuffle.partitions", "4")
    yield session
    session.stop()


@pytest.fixture
def table_dir(tmp_path: Path) -> str:
    """A fresh path for one Delta table."""
    return str(tmp_path / "table")


@contextlib.contextmanager
def configured(**env: str) -> Iterator[None]:
    """Set environment variables the config reads, reload the config; restore both afterwards."""
    from jobs.lib import config

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    config.settings.cache_clear()
    config._use_case_cached.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        config.settings.cache_clear()
        config._use_case_cached.cache_clear()
