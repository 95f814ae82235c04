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


def conf_folder(root: Path, use_cases: dict[str, dict] | None = None, suites: dict[str, dict] | None = None,
                **paths: str) -> Path:
    """A configuration folder under ``root`` holding only the given use cases (YAML as dicts) and suites: the
    project's profiles and Spark defaults, its base.yaml with ``paths.expectations`` at ``root/expectations`` and
    any other ``paths`` given. Point ``RISKPIPE_CONF_DIR`` at the returned folder."""
    import json
    import shutil

    import yaml

    from jobs.lib.config import PROJECT_ROOT

    conf = root / "conf"
    shutil.copytree(PROJECT_ROOT / "conf" / "profiles", conf / "profiles")
    shutil.copy(PROJECT_ROOT / "conf" / "spark-defaults.conf", conf / "spark-defaults.conf")
    base = yaml.safe_load((PROJECT_ROOT / "conf" / "base.yaml").read_text())
    base["paths"].update(expectations=str(root / "expectations"), **paths)
    (conf / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    (conf / "use_cases").mkdir(parents=True)
    (root / "expectations").mkdir(exist_ok=True)
    for name, use_case in (use_cases or {}).items():
        (conf / "use_cases" / f"{name}.yaml").write_text(yaml.safe_dump(use_case, sort_keys=False))
    for name, suite in (suites or {}).items():
        (root / "expectations" / f"{name}.json").write_text(json.dumps(suite))
    return conf


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
