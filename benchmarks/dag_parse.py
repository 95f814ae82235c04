"""Benchmark: how long Airflow takes to parse each DAG file (the figure the DAG integrity test used to assert).

    python benchmarks/dag_parse.py [--repeat 5]

Each file is imported in a fresh interpreter with Airflow and the Spark provider already loaded (as in the
dag-processor), ``--repeat`` times; prints best and median seconds per file and the baseline of importing an
empty module the same way. Writes ``.bench/dag_parse.json``. Goal: well under 1 s per file.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_ROOT / ".bench" / "dag_parse.json"
CODE = """
import json, sys, time, importlib.util
import airflow.sdk
from airflow.sdk import DAG, task
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def parse_seconds(path: Path, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", CODE, str(path)], capture_output=True, text=True, check=True)
        out.append(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as empty:
        empty.write("x = 1\n")
    rows = [("baseline: empty module", parse_seconds(Path(empty.name), args.repeat))]
    for path in sorted((PROJECT_ROOT / "dags").glob("*.py")):
        rows.append((f"dags/{path.name}", parse_seconds(path, args.repeat)))
    print(f"{'file':34s} {'best s':>8s} {'median s':>9s}")
    for name, seconds in rows:
        print(f"{name:34s} {min(seconds):8.3f} {statistics.median(seconds):9.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({name: {"best_s": min(s), "median_s": statistics.median(s)} for name, s in rows},
                                  indent=2))
    print(f"\nwritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
