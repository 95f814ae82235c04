"""The lake layer across real OS processes: a writer killed before its commit, two writers racing.

Each writer is a separate Python process (tests/integration/_lake_worker.py) with its own JVM and Spark
session, started in its own process group so that SIGKILL reaches the driver and the JVM at once.
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from jobs.lib import lake
from tests.integration.lake_files import data_files, live_files

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("_lake_worker.py")
START_TIMEOUT_S = 240  # a worker's JVM + Spark session on a busy 2-core machine
KILL_TIMEOUT_S = 30

_spec = importlib.util.spec_from_file_location("_lake_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)


# ----------------------------------------------------------------------------------------- helpers
def start_worker(spec: dict, log_dir: Path, name: str) -> tuple[subprocess.Popen, Path]:
    """Start a worker in its own session/process group; its output goes to ``log_dir/name.log``."""
    log = log_dir / f"{name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # RISKPIPE_LAKEHOUSE etc. as set by conftest
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, str(WORKER), json.dumps(spec)], cwd=PROJECT_ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


def tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc), whatever its process group."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def kill_tree(proc: subprocess.Popen) -> set[int]:
    """SIGKILL the worker's process group, then any descendant that left it (PySpark's daemon makes its own
    group). Returns every pid that was part of the tree."""
    tree = {proc.pid} | descendants(proc.pid)
    groups = {proc.pid}
    for pid in tree:
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            pass
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=KILL_TIMEOUT_S)
    return tree


def wait_for(condition, timeout_s: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"worker exited ({proc.returncode}) while waiting for {what}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}" +
                                 (f":\n{tail(log)}" if log else ""))
        time.sleep(0.1)


def complete_parquet(path: Path) -> bool:
    try:
        pq.read_metadata(path)
        return True
    except Exception:  # not yet written or footer missing
        return False


def ids(spark, table: str) -> list[int]:
    return sorted(r.id for r in lake.read(table, spark=spark).select("id").collect())


# ------------------------------------------------------------------------------------------- tests
def test_a_writer_killed_before_its_commit_leaves_the_table_as_it_was(spark, tmp_path):
    table = str(tmp_path / "table")
    lake.write(worker.rows_frame(spark, 0, 100), table)
    before_rows = sorted(lake.read(table).collect())
    before_files = data_files(table)
    marker = tmp_path / "stalled"

    proc, log = start_worker({"table": table, "start": 100, "end": 300, "partitions": 2,
                              "stall_marker": str(marker)}, tmp_path, "killed-writer")
    try:
        def wrote_a_file() -> bool:
            new = data_files(table) - before_files
            return marker.exists() and any(complete_parquet(Path(table, f)) for f in new)

        wait_for(wrote_a_file, START_TIMEOUT_S, "a data file and the stall marker", proc, log)
    finally:
        tree = kill_tree(proc)
    assert proc.returncode == -signal.SIGKILL
    wait_for(lambda: not any(alive(p) for p in tree), KILL_TIMEOUT_S, "the JVM and Python workers to die")

    # The table is still at the previous version with the same rows; the new files are orphans.
    orphans = data_files(table) - before_files
    assert orphans, "the killed writer should have left data files"
    assert lake.version(table) == 0
    assert not orphans & live_files(table)
    assert sorted(lake.read(table).collect()) == before_rows
    assert DeltaTable(table).to_pyarrow_table().num_rows == 100

    # Rerunning the same write succeeds, as one new version.
    lake.write(worker.rows_frame(spark, 100, 300), table)
    assert lake.version(table) == 1
    assert ids(spark, table) == list(range(300))
    assert orphans <= data_files(table) and not orphans & live_files(table)

    # vacuum removes exactly the orphans and keeps every live file.
    live = live_files(table)
    removed = lake.vacuum(table, retention_hours=0)
    assert {Path(r).name for r in removed} == {Path(o).name for o in orphans}
    assert data_files(table) == live == live_files(table)
    assert ids(spark, table) == list(range(300))
    assert sorted(DeltaTable(table).to_pyarrow_table().column("id").to_pylist()) == list(range(300))


def test_two_processes_appending_at_once_both_commit(spark, tmp_path):
    if lake.engine(spark) != lake.DELTA_RS:
        pytest.skip("the workers' commit barrier hooks into the delta-rs engine's commit")
    table = str(tmp_path / "table")
    lake.write(worker.rows_frame(spark, 0, 10), table)
    ranges = {"a": (1_000, 1_600), "b": (2_000, 2_600)}
    workers = {}
    try:
        for name, (start, end) in ranges.items():
            workers[name] = start_worker({
                "table": table, "start": start, "end": end, "partitions": 2,
                "start_barrier": {"directory": str(tmp_path / "start"), "parties": 2},
                "commit_barrier": {"directory": str(tmp_path / "commit"), "parties": 2},
            }, tmp_path, name)
        for name, (proc, log) in workers.items():
            try:
                proc.wait(timeout=START_TIMEOUT_S + 60)
            except subprocess.TimeoutExpired:
                pytest.fail(f"worker {name} did not finish:\n{tail(log)}")
            assert proc.returncode == 0, f"worker {name} failed:\n{tail(log)}"
    finally:
        for proc, _ in workers.values():
            if proc.poll() is None:
                kill_tree(proc)

    # Both commits reached the commit barrier (data written) before either committed: a real race.
    assert len(list((tmp_path / "commit").glob("arrived-*"))) == 2
    assert lake.version(table) == 2
    commits = lake.history(table)
    assert [(c.version, c.operation, c.parameters.get("mode")) for c in commits[:2]] == [
        (2, "WRITE", "Append"), (1, "WRITE", "Append")]

    expected = list(range(10)) + list(range(*ranges["a"])) + list(range(*ranges["b"]))
    df = lake.read(table)
    assert df.count() == len(expected)
    assert df.select(F.countDistinct("id")).first()[0] == len(expected)
    assert ids(spark, table) == expected
    assert sorted(DeltaTable(table).to_pyarrow_table().column("id").to_pylist()) == expected
