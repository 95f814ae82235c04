"""Fixtures for pipeline tests: an isolated lakehouse + landing per test module, jobs run in-process."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import configured


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory, spark):
    """Point RISKPIPE_LAKEHOUSE / RISKPIPE_LANDING at fresh folders for one test module."""
    root = tmp_path_factory.mktemp("pipeline")
    with configured(RISKPIPE_LAKEHOUSE=str(root / "lakehouse"), RISKPIPE_LANDING=str(root / "landing")):
        yield root


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
