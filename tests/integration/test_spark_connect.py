"""The warm local Spark Connect server: jobs give the same tables through it as through a classic session;
start/stop/reuse; the faults a user meets (no server, a port held by someone else, the server killed mid-task)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, _free_port, configured

pytestmark = pytest.mark.slow
DS1, DS2 = "2026-01-01", "2026-01-02"


def _job(job: str, ds: str, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m jobs.<job>`` as a user (or a task) runs it ad hoc."""
    return subprocess.run([sys.executable, "-m", f"jobs.{job}", "--use-case", "credit_default", "--ds", ds],
                          cwd=PROJECT_ROOT, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout)


def _rows(spark, path: str, order: list[str]) -> list[tuple]:
    from jobs.lib import lake

    df = lake.read(path, spark=spark)
    return [tuple(r) for r in df.select(*sorted(df.columns)).orderBy(*order).collect()]


# ------------------------------------------------------------------------------------- same tables
_CLASSIC_LAYERS = """
import sys
from jobs.lib.config import load_use_case
from jobs.lib.spark import get_spark, is_connect
from tests.integration.conftest import run_layers

spark = get_spark("riskpipe-tests-classic")
assert not is_connect(spark) and spark.conf.get("spark.sql.codegen.wholeStage") == "true"
run_layers(spark, load_use_case("credit_default"), sys.argv[1])
"""


_classic_reference: dict[str, object] = {}

# For a JVM the tests start for a few queries and then stop (the classic reference run, a server of their own):
# Java's quick compiler only. On 2 cores the optimising compiler's work costs such a JVM more than it saves: the
# classic run took 54 s of CPU with it and 27 s without (30-38 s elapsed either way), the own server's two starts
# 44 s and 25 s. The session's long-lived server keeps both compilers: there they pay off (README, Tests).
QUICK_COMPILER_ONLY = "-XX:TieredStopAtLevel=1"


def start_classic_reference(root: Path) -> None:
    """Replay the date under ``root/landing`` (plus a file of multi-line records) and start its classic run: a
    process of its own whose JVM starts cold, as a cluster's does. ``tests/conftest.py`` calls this as soon as the
    test below is collected, so that run (~50 s on 2 cores, most of it a cold JVM compiling code) overlaps the
    tests before it, which leave a core idle much of the time; the test waits for it at the end. At the lowest
    priority (:func:`_lowest_priority`): it takes the idle CPU, not the other tests' nor their server's."""
    from jobs.lib.config import load_use_case
    from jobs.replay import replay

    landing = root / "landing"
    replay(load_use_case("credit_default"), DS1, 1, history=False, rows_per_day=300, malformed_rate=0.03,
           landing_root=str(landing))
    _add_multiline_file(landing / "credit_default" / "events" / f"ds={DS1}")
    env = {"RISKPIPE_LAKEHOUSE": str(root / "classic"), "RISKPIPE_LANDING": str(landing),
           "RISKPIPE_SPARK_CONNECT": "0", "JDK_JAVA_OPTIONS": QUICK_COMPILER_ONLY}
    _classic_reference.update(root=root, process=subprocess.Popen(
        [sys.executable, "-c", _CLASSIC_LAYERS, DS1], cwd=PROJECT_ROOT, env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_lowest_priority))


def _lowest_priority() -> None:
    """In the child, before it runs: a session of its own at nice 19. Where the kernel groups CPU time by session
    (autogroup, ``/proc/sys/kernel/sched_autogroup_enabled``), nice only orders processes within a group, so the
    new session's group is niced too; otherwise it would share the CPU equally with the Spark Connect server's
    session, which does the other tests' work."""
    os.setsid()
    os.nice(19)
    try:
        Path("/proc/self/autogroup").write_text("19")
    except OSError:  # no autogroup here: the process's own nice value is what counts
        pass


def stop_classic_reference() -> None:
    """The classic run, if started and still running (its test was not reached), is killed with its JVM."""
    process = _classic_reference.get("process")
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def test_a_job_through_spark_connect_gives_the_same_tables_as_a_classic_session(tmp_path, spark):
    """bronze → silver → gold of one date, once in a classic session of its own (a process with its own JVM and
    Spark's code generation on, as a cluster runs it), once in this process, a client of the test session's
    Spark Connect server (which, like the local profile's, evaluates without generating code); every table holds
    the same rows."""
    from jobs.lib.config import load_use_case
    from tests.integration.conftest import run_layers

    if "process" not in _classic_reference:  # not started at collection (conftest looks for this test's node id)
        start_classic_reference(tmp_path)
    root, classic_run = _classic_reference["root"], _classic_reference["process"]
    landing = root / "landing"
    with configured(RISKPIPE_LAKEHOUSE=str(root / "connect"), RISKPIPE_LANDING=str(landing)):
        run_layers(spark, load_use_case("credit_default"), DS1)
        connect = {name: tables_of(name) for name in ("bronze", "silver", "gold", "quarantine", "quality")}
    _, stderr = classic_run.communicate(timeout=600)
    assert classic_run.returncode == 0, stderr[-3000:]
    with configured(RISKPIPE_LAKEHOUSE=str(root / "classic"), RISKPIPE_LANDING=str(landing)):
        classic = {name: tables_of(name) for name in connect}
    for name, paths in classic.items():
        for path_classic, path_connect in zip(paths, connect[name], strict=True):
            order = ["ds", *_order_columns(spark, path_classic)]
            assert _rows(spark, path_connect, order) == _rows(spark, path_classic, order), (name, path_connect)
    # The stitched records and the unterminated quote were really there to compare.
    from jobs.lib import lake

    stitched = lake.read(connect["bronze"][0], spark=spark).where("application_id LIKE 'ML-%'").collect()
    assert len(stitched) == 5 and all(r[5].endswith('second line, with "quotes"') for r in stitched)
    reasons = [r.rule for r in lake.read(connect["quarantine"][0], spark=spark).where("layer = 'bronze'").collect()]
    assert reasons.count("unterminated_quote") == 2


def _add_multiline_file(folder) -> None:
    """A second landing file of the date whose records span lines (bronze's scan and stitching run on both
    sides), ending in a quote that is never closed."""
    import csv
    import io

    with (folder / "part-00000.csv").open(newline="") as f:
        header, *rows = list(csv.reader(f))
    rows = [header] + [r for r in rows if len(r) == len(header) and r[5]][:5]  # well-formed ones (no malformed line)
    for i, row in enumerate(rows[1:]):
        row[0] = f"ML-{i:04d}"
        row[5] = f'{row[5]}\nsecond line, with "quotes"'
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    (folder / "part-00001.csv").write_text(out.getvalue() + 'ML-9999,"never closed\r\nrest\r\n', newline="")


def tables_of(layer: str) -> list[str]:
    from jobs.lib import tables

    uc = "credit_default"
    return {"bronze": [tables.bronze(uc, "events"), tables.bronze(uc, "labels")],
            "silver": [tables.silver(uc, "events"), tables.silver(uc, "labels")],
            "gold": [tables.gold_features(uc), tables.gold_training(uc)],
            "quarantine": [tables.quarantine(uc)],
            "quality": [tables.quality(uc)]}[layer]


def _order_columns(spark, path: str) -> list[str]:
    from jobs.lib import lake

    columns = lake.read(path, spark=spark).columns
    preferred = [c for c in ("layer", "stream", "application_id", "_source_file", "_row_number", "reason", "row_id")
                 if c in columns]
    return preferred or sorted(columns)


# ------------------------------------------------------------------------------------------ faults
def test_no_server_at_the_remote_url_is_a_clear_error_naming_make_spark_up(tmp_path):
    port = _free_port()
    done = _job("bronze", DS1, {"SPARK_REMOTE": f"sc://127.0.0.1:{port}", "RISKPIPE_LAKEHOUSE": str(tmp_path)})
    assert done.returncode == 1
    assert f"no Spark Connect server at sc://127.0.0.1:{port}" in done.stderr
    assert "make spark-up" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_held_by_another_process_is_a_clear_error_not_a_second_server(tmp_path):
    from jobs.lib import connect_server
    from jobs.lib.config import load_settings

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with configured(RISKPIPE_SPARK_CONNECT_PORT=str(port), RISKPIPE_SPARK_CONNECT_STATE=str(tmp_path)):
            cfg = load_settings()
            with pytest.raises(connect_server.ConnectServerError, match=f"port {port} on 127.0.0.1 is already in use"):
                connect_server.ensure_running(cfg)
            assert not list(tmp_path.glob("*.pid"))  # nothing was started
            assert connect_server.stop(cfg) is False  # and nothing of ours to stop: the squatter is left alone
        squatter.settimeout(1)
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass  # still listening


# ---------------------------------------------------------------------- a server of its own: lifecycle
@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    """A server on a port of its own, started by two `spark_server up` at once (a short-lived JVM: quick compiler
    only); stopped at the end."""
    state = tmp_path_factory.mktemp("connect-state")
    env = {"RISKPIPE_SPARK_CONNECT_PORT": str(_free_port()), "RISKPIPE_SPARK_CONNECT_STATE": str(state),
           "RISKPIPE_SPARK_CONNECT_JAVA_OPTIONS": QUICK_COMPILER_ONLY}
    up = [subprocess.Popen([sys.executable, "-m", "jobs.spark_server", "up"], cwd=PROJECT_ROOT,
                           env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in up]
    yield env, state, up, outputs
    subprocess.run([sys.executable, "-m", "jobs.spark_server", "down"], cwd=PROJECT_ROOT,
                   env={**os.environ, **env}, capture_output=True, timeout=120)


def _server_pid(state: Path) -> int:
    return json.loads(next(state.glob("server-*.pid")).read_text())["pid"]


def test_two_starts_at_once_give_one_server_both_use(own_server):
    env, state, up, outputs = own_server
    assert [p.returncode for p in up] == [0, 0], outputs
    pid = _server_pid(state)
    for stdout, _ in outputs:
        assert f"running at sc://127.0.0.1:{env['RISKPIPE_SPARK_CONNECT_PORT']} (pid {pid})" in stdout
    started = [out for out, _ in outputs if "starting Spark Connect server" in out]
    assert len(started) == 1  # the other one waited on the lock and reused it
    servers = subprocess.run(["pgrep", "-f", f"spark.connect.grpc.binding.port={env['RISKPIPE_SPARK_CONNECT_PORT']}"],
                             capture_output=True, text=True).stdout.split()
    assert servers == [str(pid)]


_SHARED_SESSION = """
import json, os
from pyspark.sql import SparkSession
from jobs.lib import spark as spark_lib

def worker_pids(spark):
    def pids(batches):
        import os
        import pyarrow as pa
        for _ in batches:
            yield pa.RecordBatch.from_pydict({"pid": [os.getpid()]})
    return sorted({r["pid"] for r in spark.range(0, 8, 1, 2).mapInArrow(pids, "pid long").collect()})

first = spark_lib.get_spark()
seen = {"first": first.session_id, "first_workers": worker_pids(first)}
first.stop()  # what the end of a task does: closes this client, not the shared session
spark_lib._session = None
second = spark_lib.get_spark()
seen.update(second=second.session_id, second_workers=worker_pids(second))
closer = SparkSession.builder.remote(f"{os.environ['URL']}/;session_id={second.session_id}").create()
closer.stop()  # a client that does release the session: it is closed on the server for everybody
spark_lib._session = None
third = spark_lib.get_spark()
seen.update(third=third.session_id, third_rows=third.range(3).count())
print(json.dumps(seen))
"""


def test_clients_share_one_session_and_its_warm_python_workers(own_server):
    """Each task's client joins the server's shared session (so its Python workers are not started again per
    task); stopping a client leaves the session open; a session closed on the server is replaced by a new one."""
    env, state, _, _ = own_server
    url = f"sc://127.0.0.1:{env['RISKPIPE_SPARK_CONNECT_PORT']}"
    done = subprocess.run([sys.executable, "-c", _SHARED_SESSION], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env={**os.environ, **env, "RISKPIPE_SPARK_CONNECT": "1", "URL": url}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    shared = json.loads(next(state.glob("server-*.pid")).read_text())["session"]
    assert seen["first"] == seen["second"] != seen["third"] == shared
    # Idle workers of the first client served the second (a session of its own would start new processes).
    assert set(seen["second_workers"]) & set(seen["first_workers"])
    assert seen["third_rows"] == 3


def test_server_killed_mid_task_fails_the_task_and_a_retry_after_restart_finishes_it(own_server, tmp_path, spark):
    """The server is killed while the task's Spark job writes the table's files: the task fails, the table is at
    the previous version or the new one, never between; the rerun completes the date."""
    from deltalake import DeltaTable

    from jobs import bronze as bronze_job
    from jobs.lib import lake, tables
    from jobs.lib.config import load_use_case
    from jobs.replay import replay

    env, state, _, _ = own_server
    landing = tmp_path / "landing"
    summary = replay(load_use_case("credit_default"), DS1, 2, history=False, rows_per_day=500,
                     landing_root=str(landing))
    env = {**env, "RISKPIPE_LAKEHOUSE": str(tmp_path / "lakehouse"), "RISKPIPE_LANDING": str(landing),
           "RISKPIPE_SPARK_CONNECT": "1"}
    with configured(RISKPIPE_LAKEHOUSE=env["RISKPIPE_LAKEHOUSE"], RISKPIPE_LANDING=str(landing)):
        bronze_job.ingest(spark, load_use_case("credit_default"), DS1)  # the previous version (the session's server)
        bronze = tables.bronze("credit_default", "events")
    before = DeltaTable(bronze).version()

    task = subprocess.Popen([sys.executable, "-m", "jobs.bronze", "--use-case", "credit_default", "--ds", DS2],
                            cwd=PROJECT_ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    staging, deadline = Path(bronze) / lake.STAGING, time.monotonic() + 240
    while not any(staging.glob("*")) and task.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # until the server's Spark job has begun writing the new files
    assert task.poll() is None and any(staging.glob("*")), "the task's write was never seen under way"
    os.killpg(_server_pid(state), signal.SIGKILL)
    _, stderr = task.communicate(timeout=300)
    assert task.returncode == 1, "the task must fail when its server dies"
    assert "bronze: lost the Spark Connect server mid-job" in stderr and "Traceback" not in stderr, stderr[-3000:]

    table = DeltaTable(bronze)
    after = table.version()
    days = {r["ds"]: r["n"] for r in table.to_pyarrow_table().group_by("ds").aggregate([("ds", "count")])
            .rename_columns(["ds", "n"]).to_pylist()}
    assert after in (before, before + 1)  # never a half-written version
    if after == before:
        assert DS2 not in days
    else:
        assert days[DS2] == summary.events[DS2]

    # Retry: the task's own session start brings the server back (spark.connect.enabled) and finishes the date.
    retry = _job("bronze", DS2, env)
    assert retry.returncode == 0, retry.stderr[-3000:]
    table = DeltaTable(bronze)
    counts = table.to_pyarrow_table().group_by("ds").aggregate([("ds", "count")]).to_pylist()
    assert {r["ds"]: r["ds_count"] for r in counts} == {DS1: summary.events[DS1], DS2: summary.events[DS2]}


def test_spark_down_stops_exactly_the_server_it_started(own_server):
    env, state, _, _ = own_server
    pid = _server_pid(state)
    down = subprocess.run([sys.executable, "-m", "jobs.spark_server", "down"], cwd=PROJECT_ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0 and f"stopped the Spark Connect server (pid {pid})" in down.stdout
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the JVM and its Python workers are gone
    again = subprocess.run([sys.executable, "-m", "jobs.spark_server", "status"], cwd=PROJECT_ROOT,
                           env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert again.returncode == 3 and "no Spark Connect server" in again.stdout


def test_session_conf_holds_a_setting_for_the_block_and_puts_back_what_was_there(spark):
    from jobs.lib.spark import session_conf

    # A setting no job changes: the session is shared with the other tests' clients, which may run meanwhile.
    key, unset_key = "spark.sql.maxConcurrentOutputFileWriters", "spark.riskpipe.test.unset"
    before = spark.conf.get(key)
    with pytest.raises(RuntimeError), session_conf(spark, {key: "1234", unset_key: "x"}):
        assert spark.conf.get(key) == "1234" and spark.conf.get(unset_key) == "x"
        raise RuntimeError("the action failed")
    assert spark.conf.get(key) == before
    assert spark.conf.get(unset_key, None) is None


def test_blocks_of_tasks_that_end_out_of_order_leave_the_servers_own_setting(spark):
    """Tasks share the server's session, so two tasks' blocks on one key overlap and may end in any order (a large
    date's silver and another's gold, both generating code; two use cases' scoring). Whatever the order, the
    server's own setting is what stays, not what the second block found in the session when it began (the first
    block's setting)."""
    from jobs.lib.spark import session_conf

    key, unset_key = "spark.sql.codegen.wholeStage", "spark.riskpipe.test.unset"
    assert spark.conf.get(key) == "false"  # the server's setting (spark.connect.conf, local profile)
    first, second = (session_conf(spark, {key: "true", unset_key: "x"}) for _ in range(2))
    first.__enter__()
    second.__enter__()  # it finds the first one's settings in the session
    first.__exit__(None, None, None)  # the task that began first ends first
    assert spark.conf.get(key) == "false" and spark.conf.get(unset_key, None) is None
    second.__exit__(None, None, None)
    assert spark.conf.get(key) == "false" and spark.conf.get(unset_key, None) is None


# ------------------------------------------------------------------- code generation for a large date
def _codegen(spark) -> tuple[str, str]:
    return spark.conf.get("spark.sql.codegen.wholeStage"), spark.conf.get("spark.sql.codegen.factoryMode")


def test_a_large_batch_generates_code_for_its_block_and_a_small_one_does_not(spark):
    """The session evaluates without code generation (the server's settings, as the local profile's); a block
    sized for at least ``codegen_min_rows`` rows generates code and gives the same result; a smaller one, or a
    session that already generates code, changes nothing (and does not even ask the size)."""
    import dataclasses

    from jobs.lib.config import settings
    from jobs.lib.spark import CODEGEN, session_conf, sized_for

    cfg = settings()
    cfg = dataclasses.replace(cfg, spark=dataclasses.replace(
        cfg.spark, connect=dataclasses.replace(cfg.spark.connect, codegen_min_rows=1000)))
    server = _codegen(spark)
    assert server == ("false", "NO_CODEGEN")
    query = "SELECT sum(id * 3) AS s, count(DISTINCT id % 7) AS d FROM range(5000)"
    expected = spark.sql(query).collect()
    with sized_for(spark, lambda: 999, cfg):
        assert _codegen(spark) == server
    with sized_for(spark, lambda: 1000, cfg):
        assert _codegen(spark) == tuple(CODEGEN.values())
        assert spark.sql(query).collect() == expected
    assert _codegen(spark) == server

    def unasked() -> int:
        raise AssertionError("the size was asked of a session that already generates code")

    with session_conf(spark, CODEGEN), sized_for(spark, unasked, cfg):
        assert _codegen(spark) == tuple(CODEGEN.values())
    assert _codegen(spark) == server


def test_a_date_above_the_threshold_gives_the_tables_of_a_small_one_and_leaves_the_session_as_it_was(tmp_path, spark):
    """With ``spark.connect.codegen_min_rows: 1`` every date is large: bronze, silver and gold each run with code
    generation on (bronze once it has counted the events' lines, before its first pass), and gold reads the date's
    events and features where it uses them instead of keeping them. The tables are those the same date gives as a
    small one (its history's labels, landed on it, join features of that date), counts reconcile, and the shared
    session is back without code generation after each job. (In this file: other files' tests may share the
    session meanwhile, and a large date of theirs would turn code generation on under this test's feet.)"""
    import yaml

    from jobs import bronze, gold, silver
    from jobs.lib import tables
    from jobs.lib.config import load_use_case
    from jobs.replay import replay
    from tests.conftest import conf_with_own_mlflow

    small_conf, large_conf = conf_with_own_mlflow(tmp_path / "small"), conf_with_own_mlflow(tmp_path / "large")
    base = yaml.safe_load((large_conf / "base.yaml").read_text())
    base["spark"]["connect"]["codegen_min_rows"] = 1
    (large_conf / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    landing = tmp_path / "landing"
    replay(load_use_case("credit_default"), DS1, 1, rows_per_day=300, landing_root=str(landing))
    server = _codegen(spark)

    def run(conf: Path, lakehouse: Path) -> tuple[list, dict]:
        with configured(RISKPIPE_CONF_DIR=str(conf), RISKPIPE_LAKEHOUSE=str(lakehouse), RISKPIPE_LANDING=str(landing)):
            use_case = load_use_case("credit_default")
            records = []
            for job in (bronze.ingest, silver.refine, gold.publish):
                records.append(job(spark, use_case, DS1))
                assert records[-1] and all(r.reconciled for r in records[-1]), records[-1]
                assert _codegen(spark) == server, job.__module__
            rows = {name: _rows(spark, path, keys) for name, path, keys in [
                        ("bronze", tables.bronze("credit_default", "events"), ["_source_file", "_row_number"]),
                        ("silver", tables.silver("credit_default", "events"), ["_row_id"]),
                        ("features", tables.gold_features("credit_default"), ["application_id"]),
                        ("training", tables.gold_training("credit_default"), ["application_id"])]}
            return records, rows

    small = run(small_conf, tmp_path / "small" / "lakehouse")
    large = run(large_conf, tmp_path / "large" / "lakehouse")
    records, rows = small
    assert rows["training"] and records[2][1].rows_out == len(rows["training"])  # labels joined that date's features
    assert large == small


def test_parts_of_a_job_run_concurrently_checkpoint_on_the_jobs_session_where_another_is_the_default(
        spark, spark_connect_server):
    """In an Airflow task the provider's session is opened first, so it is the process's default Spark Connect
    session; PySpark builds a checkpoint on the thread's active session, which a new thread does not have. A plain
    thread's checkpoint lands on the other session and cannot be read; ``concurrently`` gives each thread the job's
    session, and its parts' checkpoints read back."""
    import threading

    from pyspark.sql.connect.session import SparkSession as ConnectSession

    from jobs.lib.spark import checkpoint, concurrently

    def part(n: int) -> int:
        return checkpoint(spark.range(n)).count()

    other = ConnectSession.builder.remote(spark_connect_server).create()
    default, ConnectSession._default_session = ConnectSession._default_session, other
    try:
        errors = []
        plain = threading.Thread(target=lambda: errors.append(_error_of(part, 3)))
        plain.start()
        plain.join()
        assert errors[0] is not None, "a plain thread's checkpoint was expected to land on the default session"
        assert concurrently(spark, [lambda: part(3), lambda: part(5)]) == [3, 5]
    finally:
        ConnectSession._default_session = default
        other.stop()


def _error_of(call, *args) -> Exception | None:
    try:
        call(*args)
    except Exception as error:  # noqa: BLE001 - whichever error the other session gives
        return error
    return None


def _readable(spark, relation_id: str) -> bool:
    """Whether the server still holds the checkpoint ``relation_id`` (a probe that never releases it)."""
    from pyspark.sql.connect.dataframe import DataFrame as ConnectFrame
    from pyspark.sql.connect.plan import CachedRemoteRelation

    probe = CachedRemoteRelation(relation_id, spark)
    try:
        ConnectFrame(probe, spark).count()
        return True
    except Exception as error:  # noqa: BLE001 - the server's "no DataFrame with id ..." error
        assert relation_id in str(error)
        return False
    finally:
        probe._relation_id = None  # a probe: its finalizer must not release what it read


def test_a_dropped_checkpoint_is_released_on_the_server_and_a_kept_one_is_not(spark):
    """The release call has a deadline (PySpark 4.2.0's has none: SPARK-58846) and still releases: once the frame
    is dropped the server no longer holds the rows, while a checkpoint still held reads back."""
    import gc

    from pyspark.sql.connect.plan import CachedRemoteRelation

    from jobs.lib.spark import checkpoint

    kept, dropped = checkpoint(spark.range(3)), checkpoint(spark.range(4))
    kept_id, dropped_id = kept._plan._relation_id, dropped._plan._relation_id
    assert _readable(spark, dropped_id)
    del dropped
    gc.collect()
    assert not _readable(spark, dropped_id)
    assert _readable(spark, kept_id) and kept.count() == 3
    assert getattr(CachedRemoteRelation.__del__, "riskpipe_deadline", False)


def test_a_checkpoint_dropped_in_a_part_is_released_once_every_part_has_ended(spark):
    """No checkpoint is released while a job's parts run side by side (two CI runs hung in such a release): one
    part drops its checkpoint and the other, still running, finds the server holding it; once both have ended it is
    gone."""
    import threading

    from jobs.lib.spark import checkpoint, concurrently

    made, seen = threading.Event(), {}

    def dropping() -> str:
        frame = checkpoint(spark.range(5))
        seen["id"] = frame._plan._relation_id
        del frame
        made.set()
        return seen["id"]

    def looking() -> bool:
        assert made.wait(60)
        return _readable(spark, seen["id"])

    relation_id, held_while_running = concurrently(spark, [dropping, looking])
    assert held_while_running, "the dropped checkpoint was released while the other part ran"
    assert not _readable(spark, relation_id)
