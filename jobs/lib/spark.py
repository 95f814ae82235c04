"""One SparkSession per process, built from ``conf/spark-defaults.conf`` and the active profile.

Local profile: a Spark Connect client of the warm local server (:mod:`jobs.lib.connect_server`), started on
first use when it is not running; ``SPARK_REMOTE=sc://host:port`` points any profile at a given server.
Cluster profile (or ``spark-submit --master ...``): a classic session with its own JVM.

The session also installs the Delta engine (:func:`jobs.lib.lake.install`): delta-spark when its JVM
classes are on the classpath, otherwise the delta-rs Python data source registered as ``delta``.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from jobs.lib.config import Settings, settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def read_spark_defaults(path: Path) -> dict[str, str]:
    """Parse a spark-defaults.conf file: ``key  value`` lines, ``#`` comments."""
    conf: dict[str, str] = {}
    if not path.is_file():
        return conf
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise ValueError(f"{path}:{number}: expected 'key value', got {line!r}")
        conf[parts[0]] = parts[1].strip()
    return conf


def profile_conf(cfg: Settings) -> dict[str, str]:
    """The Spark settings of the profile: ``conf/spark-defaults.conf``, then the profile's ``spark.conf`` over it."""
    return {**read_spark_defaults(cfg.conf_dir / "spark-defaults.conf"), **cfg.spark.conf}


def driver_java_options(conf: Mapping[str, str], cfg: Settings, *extra: str) -> str:
    """``spark.driver.extraJavaOptions`` for a JVM the project starts with ``spark-submit`` (the warm server, a
    spark-submitted task): the configured value (``conf``, e.g. :func:`profile_conf`: the garbage collector), the
    project's log4j settings, then ``extra``; where two options conflict the JVM takes the later one."""
    log4j = f"-Dlog4j2.configurationFile=file:{cfg.conf_dir / 'log4j2.properties'}"
    options = [conf.get("spark.driver.extraJavaOptions", ""), log4j, *extra]
    return " ".join(o.strip() for o in options if o and o.strip())


T = TypeVar("T")

_session: SparkSession | None = None  # the session get_spark handed out (or was given by use_session)


def use_session(spark: SparkSession) -> SparkSession:
    """Make ``spark`` the process's session (e.g. the one the Airflow Spark provider built for a task)."""
    global _session
    from jobs.lib import lake

    _session = spark
    if is_connect(spark):
        _fail_fast(spark)
        _activate(spark)
    lake.install(spark)
    return spark


def _activate(spark: SparkSession) -> None:
    """Make the Connect session ``spark`` this thread's active session. PySpark 4.2 builds the result of
    ``localCheckpoint()`` on the *active* session (``pyspark.sql.connect.conversion``), not on the frame's own: in
    a task whose provider opened a session of its own first, every checkpoint would point at that other session
    (``DATAFRAME_NOT_FOUND``)."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    ConnectSession._active_session.session = spark


def concurrently(spark: SparkSession, calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run ``calls`` at the same time, one thread each, with ``spark`` as each thread's active session; their
    results in order (once all have ended, the error of the first that failed is raised). For a job's independent
    parts, such as a date's streams: Spark runs their jobs side by side, and one part's small jobs fill the time
    another's large ones leave idle. A Spark Connect session is active per thread (:func:`_activate`: without it a
    thread's checkpoints would be built on another session).

    On Spark Connect no checkpoint is released while the parts run: every checkpoint a part makes is held until
    all parts have ended and only then let go, in the calling thread (:func:`checkpoint`, "Releases"). A part's
    checkpoints dropped mid-way are so released one after the other with no other call of this process under way,
    as in a job run in one thread."""
    from concurrent.futures import ThreadPoolExecutor

    outer = getattr(_holding, "frames", None)
    held: list = outer if outer is not None else []  # parts started inside a part hold into the outer list

    def in_thread(call: Callable[[], T]) -> T:
        if is_connect(spark):
            _activate(spark)
        _holding.frames = held
        try:
            return call()
        finally:
            _holding.frames = None

    try:
        with ThreadPoolExecutor(max(1, len(calls))) as pool:
            futures = [pool.submit(in_thread, call) for call in calls]
        return [future.result() for future in futures]
    finally:
        if outer is None:
            held.clear()  # the last references of dropped checkpoints go here: released in this thread


_holding = threading.local()  # .frames: the list concurrently() holds its parts' checkpoints in


def release_session() -> None:
    """Let go of the process's session (the end of a task): a Connect client this process opened is closed (for
    a client of the shared session, the client only) and stops being the thread's active session."""
    global _session
    spark, _session = _session, None
    if spark is None or not is_connect(spark):
        return
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    if getattr(ConnectSession._active_session, "session", None) is spark:
        ConnectSession._active_session.session = None  # the next task's provider opens its own again
    close_client(spark)


def _fail_fast(spark: SparkSession) -> None:
    """Retry a lost server for ~8 s, not PySpark's default of 10 minutes, and not at all when the connection is
    refused (no server listens: it was killed or stopped, and retrying cannot bring back its session). A task whose
    server died fails in a second or two, and Airflow's own retry (after ``airflow.retry_delay_minutes``, with the
    server started again) finishes it. The policy also governs the client's background ``ReleaseExecute`` calls,
    which the interpreter waits for at exit."""
    from pyspark.sql.connect.client.retries import DefaultPolicy

    class FailFast(DefaultPolicy):
        def can_retry(self, e: BaseException) -> bool:
            return super().can_retry(e) and not server_gone(e)

    spark.client.set_retry_policies([FailFast(max_retries=5, backoff_multiplier=2.0, initial_backoff=250,
                                              max_backoff=4000)])


def server_gone(error: BaseException) -> bool:
    """Is ``error`` a Spark Connect client's "no server listens at that address": status UNAVAILABLE with a
    refused connection (``grpc.RpcError.code()`` inside the client's retries, ``getGrpcStatusCode()`` on the
    ``SparkConnectGrpcException`` a job sees)?"""
    status = getattr(error, "getGrpcStatusCode", None) or getattr(error, "code", None)
    return (callable(status) and getattr(status(), "name", None) == "UNAVAILABLE"
            and "Connection refused" in str(error))


@contextlib.contextmanager
def session_conf(spark: SparkSession, conf: Mapping[str, str]) -> Iterator[None]:
    """Set runtime SQL settings of ``spark`` for the actions run inside the block, then put back what was there
    (unset when nothing was). Settings such as ``spark.sql.execution.arrow.maxRecordsPerBatch`` are read when an
    action runs, not when the DataFrame is built, so the block must hold the action.

    In the shared session of the project's server, "what was there" is the server's own setting (what a new
    session starts with), not what the session held when the block began: tasks run in that session at once, and
    a block that began inside another task's block would otherwise put back that block's setting, for good, once
    the other one had ended first. While two blocks on one key overlap, the first to end puts the server's setting
    back for both (for code generation or an Arrow batch size, a matter of time, not of results)."""
    server = _shared.get(spark)
    before = {key: (server.get(key) if server is not None else _current(spark, key)) for key in conf}
    try:
        for key, value in conf.items():
            spark.conf.set(key, str(value))
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


# Spark's own defaults: whole-stage code generation, and generated code with interpreted evaluation as fallback.
CODEGEN = {"spark.sql.codegen.wholeStage": "true", "spark.sql.codegen.factoryMode": "FALLBACK"}


@contextlib.contextmanager
def sized_for(spark: SparkSession, rows: Callable[[], int], cfg: Settings | None = None) -> Iterator[None]:
    """Within: Spark's code generation on when ``spark`` evaluates without it (the local server,
    ``spark.connect.conf`` in ``conf/profiles/local.yaml``) and the batch holds at least
    ``spark.connect.codegen_min_rows`` rows; otherwise nothing changes. ``rows``: the batch's size, asked only then.

    The local server skips code generation because a daily batch is a few hundred rows: compiling Java for every
    query costs more than it saves. A large batch (a backfill, a big day) is the other way round: on 1M rows through
    the server, silver took 80 s without it and 32 s with it (README). The settings are the shared session's for the
    block (:func:`session_conf`): a task running meanwhile in the same session generates code too, with the same
    results.
    """
    cfg = cfg or settings()
    interpreted = (_current(spark, "spark.sql.codegen.wholeStage") == "false"
                   or (_current(spark, "spark.sql.codegen.factoryMode") or "FALLBACK") != "FALLBACK")
    if interpreted and rows() >= cfg.spark.connect.codegen_min_rows:
        with session_conf(spark, CODEGEN):
            yield
    else:
        yield


def checkpoint(df: DataFrame) -> DataFrame:
    """``df`` computed now and kept (Spark's eager local checkpoint), as a frame whose plan is just a reference
    to the kept rows. For an intermediate result several actions read.

    Why not ``persist()``: a persisted frame keeps its lineage, and every action on it (or on a frame built from
    it) is planned from the whole lineage again: on Spark Connect the server analyses and optimises the full plan
    it is sent, then finds the cached part. For the silver job's frames on 500 rows that planning took
    0.6-0.9 s per action; against a checkpoint, 0.05 s (a silver task: 14.4 s -> 7.6 s).

    The rows are kept (memory, then disk) until the returned frame is garbage-collected: the Connect client then
    tells the server to drop them. Not fault tolerant: an executor lost mid-job loses its blocks, the task fails
    and Airflow's retry computes them again.

    Releases: PySpark 4.2.0 releases a dropped Connect checkpoint in ``CachedRemoteRelation.__del__`` with a
    blocking gRPC call that has no deadline; two fresh-clone CI runs of this project hung for good in it, both
    with a job's parts in threads (:func:`concurrently`). So a checkpoint made in a part is held until the parts
    have ended (released then, in the caller's thread), and the release call gets a deadline
    (:func:`_release_with_deadline`).
    """
    kept = df.localCheckpoint(eager=True)
    if is_connect(df.sparkSession):  # a classic session frees a checkpoint in the JVM: nothing to hold or bound
        _bound_releases()
        frames = getattr(_holding, "frames", None)
        if frames is not None:  # made in a part of concurrently(): held until all parts have ended
            frames.append(kept)
    return kept


RELEASE_DEADLINE_S = 60.0  # SPARK-58846's default for the same call
_log = logging.getLogger(__name__)


def _bound_releases() -> None:
    """Give PySpark's checkpoint release call a deadline (once per process): ``CachedRemoteRelation.__del__``
    becomes :func:`_release_with_deadline`, its modules bound now (a finalizer must not import)."""
    from pyspark.sql.connect import plan
    from pyspark.sql.connect.proto import base_pb2

    if getattr(plan.CachedRemoteRelation.__del__, "riskpipe_deadline", False):
        return

    def release(relation) -> None:
        _release_with_deadline(relation, plan, base_pb2)

    release.riskpipe_deadline = True
    plan.CachedRemoteRelation.__del__ = release


def _release_with_deadline(relation, plan, base_pb2) -> None:
    """PySpark 4.2.0's ``CachedRemoteRelation.__del__`` (``pyspark/sql/connect/plan.py``) with a deadline of
    :data:`RELEASE_DEADLINE_S` on its gRPC call: the fix of SPARK-58846 (apache/spark#58085, "without a deadline
    this finalizer can block forever if the release response is never delivered"), not in 4.2.0. A release that
    times out is logged (a warning of this module's logger) and given up: the server drops the rows with the session (a task's own session), or
    keeps them (the warm server's shared session) - a leak, where the call without a deadline was a hung task.
    Drop this once the pinned PySpark has the fix."""
    session, relation_id = relation._spark_session, relation._relation_id
    if session is None or session.client.is_closed or relation_id is None:
        return
    try:
        client = session.client
        req = client._execute_plan_request_with_metadata()
        req.plan.command.CopyFrom(plan.RemoveRemoteCachedRelation(relation).command(session=client))
        call = client._channel.unary_unary(  # unary, as PySpark does (its streaming stub fails at exit)
            "/spark.connect.SparkConnectService/ExecutePlan",
            request_serializer=base_pb2.ExecutePlanRequest.SerializeToString,
            response_deserializer=base_pb2.ExecutePlanResponse.FromString)
        for attempt in client._retrying():
            with attempt:
                call(req, metadata=client._builder.metadata(), timeout=RELEASE_DEADLINE_S)
    except Exception as error:  # noqa: BLE001 - best effort, as PySpark's own: logged, never raised from a finalizer
        # The project's logger, not PySpark's Connect logger (disabled unless SPARK_CONNECT_LOG_LEVEL is set).
        _log.warning("releasing Spark Connect checkpoint %s failed (its rows stay on the server until the session "
                     "ends): %s", relation_id, error)


def _current(spark: SparkSession, key: str) -> str | None:
    """The setting's effective value (its default included); None when it has neither a value nor a default."""
    try:
        return spark.conf.get(key)
    except Exception:  # noqa: BLE001 - classic raises Py4JJavaError, Connect SparkNoSuchElementException
        return None


def is_connect(spark: SparkSession) -> bool:
    """Whether ``spark`` is a Spark Connect (thin client) session."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def remote_url(cfg: Settings | None = None) -> str | None:
    """The Spark Connect URL this process should use, or None for a classic (in-process JVM) session.

    ``SPARK_REMOTE`` wins. Then ``RISKPIPE_SPARK_CONNECT=0|1`` (classic / the configured local server), then the
    profile (``spark.connect.enabled``); under ``spark-submit`` (which already started a JVM for this job) only
    when ``RISKPIPE_SPARK_CONNECT=1`` says so: ``spark-submit`` itself refuses ``SPARK_REMOTE`` together with the
    ``--master`` the Airflow Spark provider always passes.
    """
    remote = os.environ.get("SPARK_REMOTE")
    if remote:
        return remote
    cfg = cfg or settings()
    override = os.environ.get("RISKPIPE_SPARK_CONNECT", "").strip().lower()
    if override in ("0", "false", "no", "off"):
        return None
    forced = override in ("1", "true", "yes", "on")
    if not (cfg.spark.connect.enabled or forced):
        return None
    if spark_submitted() and not forced:  # spark-submit already started a JVM for this job: use it
        return None
    return cfg.spark.connect.url


def spark_submitted() -> bool:
    """Whether this Python process was started by ``spark-submit`` (its JVM gateway is waiting for us)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(app_name: str | None = None, cfg: Settings | None = None, *, classic: bool = False) -> SparkSession:
    """Return the process's SparkSession, creating it on first use.

    A Spark Connect session on the warm local server when :func:`remote_url` says so (starting the profile's
    server if it is not running), else a classic session. ``classic=True`` forces the classic one (tests that
    need a JVM of their own). Under ``spark-submit`` the master and any ``--conf`` given on the command line win.
    """
    global _session
    if _session is not None and not _is_stopped(_session):
        return _session
    cfg = cfg or settings()
    url = None if classic else remote_url(cfg)
    spark = _connect(url, app_name or cfg.spark.app_name, cfg) if url else _classic(app_name, cfg)
    return use_session(spark)


def _is_stopped(spark: SparkSession) -> bool:
    if is_connect(spark):
        return bool(getattr(spark, "is_stopped", False))
    try:
        return spark.sparkContext._jsc is None
    except Exception:
        return True


def _connect(url: str, app_name: str, cfg: Settings) -> SparkSession:
    from pyspark.sql import SparkSession

    from jobs.lib import connect_server

    shared = None
    if url == cfg.spark.connect.url and not os.environ.get("SPARK_REMOTE"):
        connect_server.ensure_running(cfg, log_progress=lambda m: print(m, file=sys.stderr))
        shared = connect_server.shared_session_id(cfg)
    else:
        connect_server.require_running(url, cfg)
    if spark_submitted():
        os.environ.pop("MASTER", None)  # spark-submit's master; pyspark refuses a remote URL next to it
    if shared is None:
        spark = SparkSession.builder.remote(url).appName(app_name).create()
        _clients.add(spark)
        return spark
    return _join_shared(url, app_name, cfg, shared)


_clients: weakref.WeakSet = weakref.WeakSet()  # the Spark Connect clients this process opened
# Clients of the project server's shared session -> the settings the server started with (session_conf puts them back)
_shared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def close_client(spark: SparkSession) -> None:
    """Close the Spark Connect client ``spark`` if this process opened it (a client of the shared session closes
    itself only; the session stays open for the others). A client still open when the interpreter exits is
    closed by its ``__del__`` during shutdown, where gRPC's channel close can wait forever (a ``make run`` that
    finished its work and never exited): every client is closed here, at the latest at exit."""
    if spark in _clients:
        _clients.discard(spark)
        with contextlib.suppress(Exception):
            spark.stop()


@atexit.register
def _close_clients() -> None:
    for spark in list(_clients):
        close_client(spark)


def _join_shared(url: str, app_name: str, cfg: Settings, session_id: str) -> SparkSession:
    """A client of the project server's shared session (:func:`jobs.lib.connect_server.shared_session_id`: its
    Python workers stay warm from task to task). ``stop()`` on it closes this client only, never the session the
    other tasks use. A session found closed (stopped by a client, or expired) is replaced by a new shared one."""
    from pyspark.sql import SparkSession

    from jobs.lib import connect_server

    for _ in range(3):
        try:  # create() makes the first call to the server (it sets the app name): is the session open?
            spark = SparkSession.builder.remote(connect_server.session_url(url, session_id)).appName(app_name).create()
        except Exception as exc:  # noqa: BLE001 - pyspark raises a generic gRPC error class for this
            renewed = connect_server.renew_session_id(session_id, cfg) if "SESSION_CLOSED" in str(exc) else None
            if renewed is None:
                raise
            session_id = renewed
            continue
        spark.release_session_on_close = False
        _fail_fast(spark)
        _clients.add(spark)
        _shared[spark] = connect_server.server_conf(cfg)
        return spark
    raise RuntimeError(f"the Spark Connect server at {url} closed every shared session offered")


def _classic(app_name: str | None, cfg: Settings) -> SparkSession:
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    # A process started by one that opened a Spark Connect session inherits PySpark's SPARK_CONNECT_MODE_ENABLED,
    # which makes every pyspark.sql call of this classic process a Connect call with no URL (CONNECT_URL_NOT_SET).
    if not os.environ.get("SPARK_REMOTE"):
        os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # Executors must run the same interpreter (and so the same packages) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if spark_submitted():
        from pyspark import SparkContext

        SparkContext._ensure_initialized()  # connect to spark-submit's JVM, so SparkConf() sees what it passed
    submitted = SparkConf()  # holds what spark-submit passed, if anything
    builder = SparkSession.builder.appName(app_name or cfg.spark.app_name)
    if not submitted.contains("spark.master"):
        builder = builder.master(cfg.spark.master)
    conf = profile_conf(cfg)
    conf.setdefault("spark.ui.enabled", str(cfg.spark.ui_enabled).lower())
    conf.setdefault("spark.sql.warehouse.dir", f"{cfg.paths.lakehouse}/_warehouse")
    for key, value in conf.items():
        if not submitted.contains(key):
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
