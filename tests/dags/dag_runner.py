"""Run a DAG with ``dag.test()`` in a fresh interpreter, as Airflow runs tasks: in a process of their own.

The ``@task.pyspark`` tasks build their own Spark Connect session from the ``spark_connect`` connection and make it
the process's session; in the pytest process the test session's client (the ``spark`` fixture) already is. A real
worker has one task's session at a time; so does this runner.

A DAG-run test declares its run as a module-level :class:`BackgroundDagRun` named ``RUN``. ``tests/conftest.py``
starts every selected test's run as soon as the tests are collected (after the session's Spark Connect server and
Airflow DB are ready), one after another, and orders those tests last: a run (~20-30 s, most of it the run's
process importing Airflow, GX and MLflow, and waiting on the server) overlaps the other tests, which leave part
of the 2 cores idle. The test itself waits for its run's result and checks the tables.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from tests.conftest import PROJECT_ROOT

_CODE = """
import datetime as dt, importlib, json, os, sys
from pathlib import Path
dag_folder, dag_id, ds, around, root, nice = sys.argv[1:7]
if int(nice):  # below the foreground tests: it takes the CPU they leave idle (see the module's docstring)
    os.nice(int(nice))
    try:
        Path("/proc/self/autogroup").write_text(nice)  # this process's own session is its own autogroup
    except OSError:
        pass
module, _, name = around.rpartition(":")
with getattr(importlib.import_module(module), name)(Path(root)) as extra:
    from airflow.dag_processing.dagbag import DagBag
    dag = DagBag(dag_folder=dag_folder).dags[dag_id]
    run = dag.test(logical_date=dt.datetime.fromisoformat(ds).replace(tzinfo=dt.timezone.utc))
print("DAG-RESULT " + json.dumps({"state": str(run.state), "run_id": run.run_id, "extra": extra,
                                  "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}}))
"""

# Background runs sit below the foreground tests (nice 10): what they leave idle is theirs.
BACKGROUND_NICE = 10


class BackgroundDagRun:
    """One ``dag.test()`` run of ``dag_id`` on ``ds`` in a process of its own, with the environment
    ``env(root)`` gives (on top of the test session's), under a folder ``root`` of its own.

    ``around``: ``"module:function"``, a context manager called with ``root`` in the run's process. It prepares the
    run's inputs before the run (landing files, a gold table) and may act during it (a thread answering a
    human-in-the-loop step); the dict it yields, filled by the time the run has ended, is the result's ``extra``.
    """

    def __init__(self, dag_id: str, ds: str, env: Callable[[Path], Mapping[str, str]], around: str):
        self.dag_id, self.ds, self._env, self.around = dag_id, ds, env, around
        self.env: dict[str, str] = {}
        self._process: subprocess.Popen | None = None
        self._scheduled = False
        self._done = threading.Event()
        self._output: tuple[int, str, str] | None = None
        self._error: BaseException | None = None

    def _run(self, root: Path, base_env: Mapping[str, str], nice: int = 0, timeout: float = 1800) -> None:
        """Run it and keep its process's output (or what kept it from starting)."""
        try:
            root.mkdir(parents=True, exist_ok=True)
            self.env = dict(self._env(root))
            self._process = subprocess.Popen(
                [sys.executable, "-c", _CODE, str(PROJECT_ROOT / "dags"), self.dag_id, self.ds, self.around,
                 str(root), str(nice)], cwd=PROJECT_ROOT, env={**base_env, **self.env}, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, start_new_session=True)
            try:
                stdout, stderr = self._process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                stdout, stderr = self._process.communicate()
                stderr += f"\n(killed after {timeout:.0f}s)"
            self._output = (self._process.returncode, stdout, stderr)
        except BaseException as exc:  # noqa: BLE001 - reported by result(), in the test
            self._error = exc
        finally:
            self._done.set()

    def result(self, root: Path, timeout: float = 1800) -> dict:
        """``{"state", "run_id", "tasks": {task_id: state}, "extra"}`` of the run: the one started at collection
        (:func:`start_in_background`), awaited; else one run now, under ``root``. Its process's output on
        failure."""
        if self._scheduled:
            if not self._done.wait(timeout):
                raise AssertionError(f"dag.test({self.dag_id}, {self.ds}) did not end within {timeout:.0f}s")
        else:
            self._run(root, dict(os.environ), timeout=timeout)
        if self._error is not None:
            raise AssertionError(f"dag.test({self.dag_id}, {self.ds}) could not run: {self._error!r}") \
                from self._error
        code, stdout, stderr = self._output
        lines = [line for line in stdout.splitlines() if line.startswith("DAG-RESULT ")]
        if code != 0 or not lines:
            raise AssertionError(f"dag.test({self.dag_id}, {self.ds}) exited {code}:\n{stdout[-4000:]}\n"
                                 f"{stderr[-4000:]}")
        return json.loads(lines[-1][len("DAG-RESULT "):])

    def kill(self) -> None:
        """The run's process and its children, if still running (its test was not reached)."""
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)


def start_in_background(runs: list[BackgroundDagRun], root: Path, base_env: Mapping[str, str],
                        after: list[threading.Thread]) -> None:
    """Run ``runs`` one after another (they share the session's Airflow DB, SQLite: one writer at a time) in a
    thread, each under ``root/<dag_id>`` at :data:`BACKGROUND_NICE`, once the threads in ``after`` (the server's
    start, the DB's migration) have ended; returns at once. ``base_env``: the session's environment, taken before
    any test changed it."""
    for run in runs:
        run._scheduled = True

    def one_after_another() -> None:
        for thread in after:
            thread.join()
        for run in runs:
            run._run(root / run.dag_id, base_env, nice=BACKGROUND_NICE)

    threading.Thread(target=one_after_another, name="background-dag-runs", daemon=True).start()
