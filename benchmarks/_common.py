"""What every benchmark writes next to its table: ``.bench/<name>.json`` with the command, the time, the
parameters, the machine and the results."""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def save_results(path: Path, benchmark: str, parameters: dict[str, Any], results: Any,
                 environment: dict[str, Any] | None = None) -> None:
    """Write the JSON (``environment`` adds to the machine: cpus, load average, Python and PySpark versions) and
    say where it is."""
    import pyspark

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "benchmark": benchmark,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **parameters,
        "environment": {"cpus": os.cpu_count(), "load_average": list(os.getloadavg()),
                        "python": platform.python_version(), "pyspark": pyspark.__version__, **(environment or {})},
        "results": results,
    }, indent=2, default=str) + "\n")
    print(f"results: {path.relative_to(PROJECT_ROOT)}")
