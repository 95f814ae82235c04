"""Fixtures for pipeline tests: an isolated lakehouse + landing per test module, jobs run in-process."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def _clear_config_caches() -> None:
    from jobs.lib import config

    config.settings.cache_clear()
    config._use_case_cached.cache_clear()


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory, spark):
    """Point RISKPIPE_LAKEHOUSE / RISKPIPE_LANDING at fresh folders for one test module."""
    root = tmp_path_factory.mktemp("pipeline")
    saved = {k: os.environ.get(k) for k in ("RISKPIPE_LAKEHOUSE", "RISKPIPE_LANDING")}
    os.environ["RISKPIPE_LAKEHOUSE"] = str(root / "lakehouse")
    os.environ["RISKPIPE_LANDING"] = str(root / "landing")
    _clear_config_caches()
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _clear_config_caches()


def run_layers(spark, use_case, ds: str, layers=("bronze", "silver", "gold")) -> dict:
    """Run the medallion jobs of one date in-process; return each layer's quality records."""
    from jobs import bronze, gold, silver

    steps = {"bronze": bronze.ingest, "silver": silver.refine, "gold": gold.publish}
    return {layer: steps[layer](spark, use_case, ds) for layer in layers}


def write_landing(root: Path, use_case: str, stream: str, ds: str, content: bytes | str, name="part-00000.csv") -> Path:
    folder = root / "landing" / use_case / stream / f"ds={ds}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path
