"""What a Delta table holds on disk, for tests: every data file, and the files its snapshot references."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
from deltalake import DeltaTable


def data_files(path: str) -> set[str]:
    """Every Parquet file under the table folder (committed or not), relative to the table root."""
    root = Path(path)
    return {str(p.relative_to(root)) for p in root.rglob("*.parquet") if "_delta_log" not in p.parts}


def live_files(path: str) -> set[str]:
    """The files the current snapshot references."""
    paths = pa.table(DeltaTable(path).get_add_actions(flatten=True)).column("path").to_pylist()
    return {unquote(p) for p in paths}
