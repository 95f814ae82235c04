"""The warm local Spark Connect server: one JVM that every task of the ``local`` profile uses as a thin client.

A spark-submitted task pays ~30 s of JVM and Python-worker start-up on 2 cores, whatever its data; a Spark
Connect client pays a gRPC channel. So the local profile starts one ``SparkConnectServer`` (shipped in the
pyspark wheel) with ``local[N]``, ``conf/spark-defaults.conf`` and the profile's ``spark.conf``, bound to
loopback only (it has no authentication), and tasks connect to ``sc://host:port``.

State lives in ``spark.connect.state_dir`` (``.spark-connect/`` by default):

* ``server-<port>.pid`` — JSON ``{"pid", "port", "host", "started", "session"}`` of the server this project
  started; ``session`` is the id of the server's shared Spark Connect session (:func:`shared_session_id`);
* ``server-<port>.log`` — the server's output (the first place to look when it does not come up);
* ``server-<port>.lock`` — held (``flock``) while a server is started or stopped, so two ``make run`` at
  once never start two servers on one port, and the second one simply reuses the first one's server.

:func:`ensure_running` starts the server unless it is already up (it is what ``make spark-up``, ``make run``
and a task whose server is gone call); :func:`stop` stops exactly the process group it started (the JVM and its
Python workers), nothing else, and only when the pid file's process is that server. A port held by anything
else is a clear :class:`ConnectServerError`, never a second server.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jobs.lib.config import PROJECT_ROOT, Settings, settings

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
_LOG_TAIL_LINES = 30


class ConnectServerError(RuntimeError):
    """The Spark Connect server cannot be started, reached or stopped; the message says what to do."""


@dataclass(frozen=True)
class ServerState:
    """What :func:`status` found."""

    host: str
    port: int
    pid: int | None  # from our pid file, when its process is alive and is the server
    listening: bool  # something accepts TCP connections on host:port

    @property
    def url(self) -> str:
        return f"sc://{self.host}:{self.port}"

    @property
    def ours(self) -> bool:
        return self.pid is not None

    def describe(self) -> str:
        if self.ours and self.listening:
            return f"Spark Connect server running at {self.url} (pid {self.pid})"
        if self.ours:
            return f"Spark Connect server starting at {self.url} (pid {self.pid}), not accepting connections yet"
        if self.listening:
            return f"port {self.port} on {self.host} is held by another process (not this project's server)"
        return f"no Spark Connect server at {self.url}"


# ------------------------------------------------------------------------------------------- paths
def _files(cfg: Settings) -> tuple[Path, Path, Path]:
    state = Path(cfg.spark.connect.state_dir)
    port = cfg.spark.connect.port
    return state / f"server-{port}.pid", state / f"server-{port}.log", state / f"server-{port}.lock"


@contextlib.contextmanager
def _locked(cfg: Settings) -> Iterator[None]:
    _, _, lock = _files(cfg)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ------------------------------------------------------------------------------------------- probes
def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _read_pid(pid_file: Path) -> int | None:
    """The pid in our pid file when that process is alive and is a Spark Connect server; else None."""
    try:
        pid = int(json.loads(pid_file.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        # No /proc (not Linux): fall back to "is the pid alive".
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid
    return pid if SERVER_CLASS in cmdline else None


def status(cfg: Settings | None = None) -> ServerState:
    cfg = cfg or settings()
    c = cfg.spark.connect
    pid_file, _, _ = _files(cfg)
    return ServerState(host=c.host, port=c.port, pid=_read_pid(pid_file), listening=port_open(c.host, c.port))


def _log_tail(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-_LOG_TAIL_LINES:])


# ------------------------------------------------------------------------------------------- start
def server_conf(cfg: Settings) -> dict[str, str]:
    """The Spark settings the server starts with, which every new session on it starts from:
    ``conf/spark-defaults.conf``, then the profile's ``spark.conf``, then the server's own ``spark.connect.conf``."""
    from jobs.lib.spark import profile_conf

    return {**profile_conf(cfg), **cfg.spark.connect.conf}


def server_command(cfg: Settings) -> list[str]:
    """The ``spark-submit`` command line that starts the server (the venv's Spark, the profile's settings)."""
    from jobs.lib.spark import driver_java_options

    c = cfg.spark.connect
    spark_submit = Path(sys.executable).with_name("spark-submit")
    conf = server_conf(cfg)
    conf.setdefault("spark.ui.enabled", str(cfg.spark.ui_enabled).lower())
    conf.setdefault("spark.sql.warehouse.dir", f"{cfg.paths.lakehouse}/_warehouse")
    # Tasks add no artifacts (the project is on the venv's path), so sessions need no artifact isolation. With
    # it, every session gets Python worker daemons of its own (keyed by its artifact UUID): each task would pay
    # a daemon start per worker kind (~6 Python start-ups) and the server would keep them all, idle, forever.
    conf.setdefault("spark.sql.artifact.isolation.enabled", "false")
    conf["spark.connect.grpc.binding.address"] = c.host
    conf["spark.connect.grpc.binding.port"] = str(c.port)
    conf["spark.driver.extraJavaOptions"] = driver_java_options(conf, cfg, c.java_options)
    command = [str(spark_submit), "--class", SERVER_CLASS, "--name", f"{cfg.project}-connect-{c.port}",
               "--master", c.master]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, "spark-internal"]


def _start(cfg: Settings, log_progress) -> int:
    c = cfg.spark.connect
    pid_file, log, _ = _files(cfg)
    env = dict(os.environ)
    # The delta-rs data source commits inside the server's Python workers: they must run this venv's Python.
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    env.pop("SPARK_REMOTE", None)
    env.pop("SPARK_CONNECT_MODE_ENABLED", None)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(server_command(cfg), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   cwd=str(PROJECT_ROOT), env=env, start_new_session=True)
    pid_file.write_text(json.dumps({"pid": process.pid, "host": c.host, "port": c.port, "started": time.time(),
                                    "session": str(uuid.uuid4())}))
    log_progress(f"[spark] starting Spark Connect server ({c.master}) at {c.url}, pid {process.pid}, log {log}")
    deadline = time.monotonic() + c.start_timeout_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pid_file.unlink(missing_ok=True)
            raise ConnectServerError(
                f"the Spark Connect server exited with code {process.returncode} while starting; last lines of {log}:\n"
                f"{_log_tail(log)}")
        if port_open(c.host, c.port):
            return process.pid
        time.sleep(0.25)
    _kill_group(process.pid, grace_seconds=5)
    pid_file.unlink(missing_ok=True)
    raise ConnectServerError(f"the Spark Connect server did not accept connections on {c.url} within "
                             f"{c.start_timeout_seconds}s (spark.connect.start_timeout_seconds); last lines of {log}:\n"
                             f"{_log_tail(log)}")


_WARM_UP = """
import sys
from pyspark.sql import SparkSession
session = SparkSession.builder.remote(sys.argv[1]).create()
session.release_session_on_close = False  # the shared session outlives this client
session.range(4).mapInArrow(lambda batches: batches, "id long").count()
"""


def shared_session_id(cfg: Settings | None = None) -> str | None:
    """The id of the server's shared Spark Connect session, or None (no server of ours, or one started before
    servers had one).

    Every client of this project's server joins this one session (``sc://host:port/;session_id=<id>``) instead
    of opening its own. The server gives each session its own Python worker processes (keyed by the session's
    artifact id; ``spark.sql.artifact.isolation.enabled=false`` does not change that in Spark 4.2), so a task in
    a session of its own started them again: ~2 s for the drift task's ``mapInArrow`` and ~4 s for scoring's
    (its workers import XGBoost) on every run. In the shared session the workers, the modules they imported and
    the boosters they loaded stay warm from task to task.
    """
    cfg = cfg or settings()
    pid_file, _, _ = _files(cfg)
    if _read_pid(pid_file) is None:
        return None
    try:
        return json.loads(pid_file.read_text()).get("session")
    except (OSError, ValueError):
        return None


def renew_session_id(closed: str, cfg: Settings | None = None) -> str | None:
    """A new shared session id when ``closed`` (the one a client found closed: a client stopped it, or the server
    expired it after ``spark.connect.session.manager.defaultSessionTimeout`` idle) is still the current one;
    else the current one (another client renewed it first). None when no server of ours runs."""
    cfg = cfg or settings()
    pid_file, _, _ = _files(cfg)
    with _locked(cfg):
        if _read_pid(pid_file) is None:
            return None
        state = json.loads(pid_file.read_text())
        if state.get("session") in (None, closed):
            state["session"] = str(uuid.uuid4())
            pid_file.write_text(json.dumps(state))
        return state["session"]


def session_url(url: str, session_id: str | None) -> str:
    """``url`` (``sc://host:port``) joined to the session ``session_id`` (as is when None)."""
    return f"{url.rstrip('/')}/;session_id={session_id}" if session_id else url


def _warm_up(url: str) -> None:
    """One query that starts the server's Python workers, so the first task does not pay for them.

    In a child process: creating a Connect session switches this process's ``pyspark.sql.functions`` to Spark
    Connect columns (``SPARK_CONNECT_MODE_ENABLED``), which would break a classic session living here.
    """
    done = subprocess.run([sys.executable, "-c", _WARM_UP, url], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise ConnectServerError(f"the Spark Connect server at {url} accepts connections but fails a query:\n"
                                 f"{done.stderr[-2000:]}")


def ensure_running(cfg: Settings | None = None, log_progress=print, warm_up: bool = True) -> ServerState:
    """Start the server unless this project's server already runs on the configured port; return its state.

    Safe to call from many processes at once (a file lock serialises the start). Raises
    :class:`ConnectServerError` when the port is held by another process or the server fails to start.
    """
    cfg = cfg or settings()
    with _locked(cfg):
        state = status(cfg)
        if state.ours and state.listening:
            return state
        if state.listening:
            raise ConnectServerError(
                f"port {state.port} on {state.host} is already in use by another process, not this project's Spark "
                f"Connect server (no live pid file in {cfg.spark.connect.state_dir}). Stop that process, or choose "
                f"another port: RISKPIPE_SPARK_CONNECT_PORT=<port> make spark-up")
        if state.pid is not None:  # our server, alive but not listening: a previous start was interrupted
            _kill_group(state.pid)
        started = time.monotonic()
        _start(cfg, log_progress)
        if warm_up:  # in the shared session: its workers are the ones every task uses
            _warm_up(session_url(cfg.spark.connect.url, shared_session_id(cfg)))
        log_progress(f"[spark] Spark Connect server ready at {cfg.spark.connect.url} in "
                     f"{time.monotonic() - started:.1f}s (stop it with: make spark-down)")
        return status(cfg)


# -------------------------------------------------------------------------------------------- stop
def _kill_group(pid: int, grace_seconds: float = 20.0) -> None:
    """SIGTERM the process group ``pid`` leads (the JVM and its Python workers), SIGKILL after the grace period."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def stop(cfg: Settings | None = None, log_progress=print) -> bool:
    """Stop the server this project started on the configured port. Returns whether there was one."""
    cfg = cfg or settings()
    pid_file, _, _ = _files(cfg)
    with _locked(cfg):
        pid = _read_pid(pid_file)
        if pid is None:
            pid_file.unlink(missing_ok=True)
            log_progress(f"[spark] no Spark Connect server of this project on port {cfg.spark.connect.port}")
            return False
        _kill_group(pid)
        pid_file.unlink(missing_ok=True)
        log_progress(f"[spark] stopped the Spark Connect server (pid {pid}) on port {cfg.spark.connect.port}")
        return True


def require_running(url: str, cfg: Settings | None = None) -> None:
    """Fail with a clear message when nothing listens at ``url`` (an ``sc://host:port`` URL)."""
    from urllib.parse import urlparse

    parsed = urlparse(url.split(";")[0].rstrip("/"))
    host, port = parsed.hostname or "localhost", parsed.port or 15002
    if not port_open(host, port):
        raise ConnectServerError(f"no Spark Connect server at {url}: start it with `make spark-up` "
                                 f"(or `python -m jobs.spark_server up`)")
