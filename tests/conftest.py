"""Shared fixtures: one SparkSession for the whole test session, real Delta tables in temp dirs.

`make test` runs two pytest-xdist workers (``-n 2 --dist loadfile``): both are clients of one Spark Connect server
(the first worker's start; the other reuses it) and the controller stops it at the end. Run alone (plain
``pytest``), the session starts and stops its server itself and runs its slowest side processes (the classic
reference run, the DAG runs) in the background instead."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Point every layer at a throwaway lakehouse/landing before any config is loaded.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="riskpipe-tests-"))
os.environ.setdefault("RISKPIPE_LAKEHOUSE", str(_SESSION_DIR / "lakehouse"))
os.environ.setdefault("RISKPIPE_LANDING", str(_SESSION_DIR / "landing"))
os.environ.setdefault("RISKPIPE_PROFILE", "local")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("AIRFLOW_HOME", str(_SESSION_DIR / "airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(PROJECT_ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# Under pytest-xdist (`make test`: two workers) the workers inherit the settings above from the controller, so they
# share its Spark Connect server (below); each has a lakehouse, landing root and Airflow home of its own.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER and os.environ.get("RISKPIPE_TESTS_WORKER") != _WORKER:
    os.environ["RISKPIPE_TESTS_WORKER"] = _WORKER
    for _key in ("RISKPIPE_LAKEHOUSE", "RISKPIPE_LANDING", "AIRFLOW_HOME"):
        os.environ[_key] = os.path.join(os.environ[_key], _WORKER)
# The test session's own Spark Connect server (if a test needs one) listens on a free port, never on the one a
# developer's `make spark-up` server uses; its pid file and log go to the session's temp dir.
os.environ.setdefault("RISKPIPE_SPARK_CONNECT_PORT", str(_free_port()))
os.environ.setdefault("RISKPIPE_SPARK_CONNECT_STATE", str(_SESSION_DIR / "spark-connect"))
# The session's server runs ~1,000 different small queries, each a few times: the optimising JIT compiler (C2)
# compiling a method only after four times as many calls as by default took ~40 s less of its CPU in a suite that
# keeps both cores busy for its first three minutes; the suite 306 / 306 s against 311-317 s, runs alternating
# (README, Tests). Results are the same either way; users' servers keep Java's defaults.
os.environ.setdefault("RISKPIPE_SPARK_CONNECT_JAVA_OPTIONS",
                      "-XX:Tier4InvocationThreshold=20000 -XX:Tier4MinInvocationThreshold=2400 "
                      "-XX:Tier4CompileThreshold=60000 -XX:Tier4BackEdgeThreshold=160000")


_CLASSIC_REFERENCE_TEST = ("tests/integration/test_spark_connect.py::"
                           "test_a_job_through_spark_connect_gives_the_same_tables_as_a_classic_session")


_early_server_start: threading.Thread | None = None
_early_airflow_db: threading.Thread | None = None
_airflow_db_error: list[str] = []


def _uses(session, fixture: str) -> bool:
    return any(fixture in getattr(item, "fixturenames", ()) for item in session.items)


def _background_dag_runs(items) -> dict:
    """The selected tests' background DAG runs (a test module's ``RUN``, tests/dags/dag_runner.py), by module."""
    from tests.dags.dag_runner import BackgroundDagRun

    return {item.module: item.module.RUN for item in items
            if isinstance(getattr(getattr(item, "module", None), "RUN", None), BackgroundDagRun)}


def pytest_collection_modifyitems(session, config, items):
    """The tests whose DAG run runs in the background come last: by then their runs have ended. (Not under xdist:
    there the runs are not in the background.)"""
    if _WORKER is not None:
        return
    background = _background_dag_runs(items)
    items.sort(key=lambda item: getattr(item, "module", None) in background)  # stable: the rest keep their order


def pytest_collection_finish(session):
    """Work that does not wait for the tests starts as soon as they are collected, each only if a selected test
    needs it: the session's Spark Connect server (~20 s, most of it a cold JVM; the tests before the first one
    that needs Spark run meanwhile), the session's Airflow DB (``airflow db migrate``, ~3 s of an Airflow CLI
    start-up, once for every DAG-run test), the Connect-vs-classic test's classic run (a process with a cold
    JVM of its own, at the lowest priority: see ``start_classic_reference``), and the DAG-run tests' runs, once
    the server and the DB are ready (see ``tests/dags/dag_runner.py``)."""
    global _early_server_start, _early_airflow_db
    if session.config.option.collectonly:
        return
    # A worker of several runs the classic run and the DAG runs in their tests, in the foreground: a worker does
    # not know which tests it will get, and the other worker keeps the CPU busy meanwhile.
    alone = _WORKER is None
    if alone and any(item.nodeid == _CLASSIC_REFERENCE_TEST for item in session.items):
        from tests.integration.test_spark_connect import start_classic_reference

        # First: its child runs a preexec function, safe only while this process has no other thread.
        start_classic_reference(_SESSION_DIR / "classic-reference")
    if _uses(session, "spark_connect_server"):
        from jobs.lib import connect_server
        from jobs.lib.config import load_settings

        # Failures are not lost: the fixture calls ensure_running again, which raises them.
        _early_server_start = threading.Thread(target=connect_server.ensure_running, args=(load_settings(),),
                                               name="spark-connect-server-start", daemon=True)
        _early_server_start.start()
    if _uses(session, "airflow_db"):
        _early_airflow_db = threading.Thread(target=_migrate_airflow_db, name="airflow-db-migrate", daemon=True)
        _early_airflow_db.start()
    runs = list(_background_dag_runs(session.items).values()) if alone else []
    if runs:
        from tests.dags.dag_runner import start_in_background

        start_in_background(runs, _SESSION_DIR / "dag-runs", dict(os.environ),
                            after=[t for t in (_early_server_start, _early_airflow_db) if t is not None])


def _migrate_airflow_db() -> None:
    """``airflow db migrate`` of the test session's Airflow home; its output kept for the fixture if it fails."""
    import subprocess

    done = subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], capture_output=True,
                          text=True, timeout=600, env=dict(os.environ))
    if done.returncode != 0:
        _airflow_db_error.append(f"airflow db migrate exited {done.returncode}:\n{done.stdout[-3000:]}\n"
                                 f"{done.stderr[-3000:]}")


def _stop_server() -> None:
    from jobs.lib import connect_server
    from jobs.lib.config import load_settings

    connect_server.stop(load_settings(), log_progress=lambda _: None)


def pytest_sessionfinish(session, exitstatus):
    module = sys.modules.get("tests.integration.test_spark_connect")
    if module is not None:
        module.stop_classic_reference()
    for run in _background_dag_runs(session.items).values():
        run.kill()
    if _early_server_start is not None:
        _early_server_start.join()  # a start under way ends (its pid file written) before anyone stops the server
    if getattr(session.config.option, "numprocesses", None) and not hasattr(session.config, "workerinput"):
        _stop_server()  # the controller of xdist workers: the server they shared, once all of them have ended
    elif _early_server_start is not None and _WORKER is None:  # started here, maybe never used: stopped here too
        _stop_server()


@pytest.fixture(scope="session")
def spark_connect_server():
    """The warm Spark Connect server of the test session (started at collection or on first use, stopped at the
    end); its URL."""
    from jobs.lib import connect_server
    from jobs.lib.config import load_settings

    cfg = load_settings()
    if _early_server_start is not None:
        _early_server_start.join()
    connect_server.ensure_running(cfg)  # a worker of several: the first one's start, or the server it started
    yield cfg.spark.connect.url
    if _WORKER is None:  # else the controller stops it once every worker has ended
        connect_server.stop(cfg)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The test session's Airflow metadata DB (SQLite in ``AIRFLOW_HOME``), migrated once, at collection: the DAG
    runs record their runs there; a test that wants an Airflow home of its own copies the file."""
    if _early_airflow_db is None:
        _migrate_airflow_db()
    else:
        _early_airflow_db.join()
    if _airflow_db_error:
        pytest.fail(_airflow_db_error[0])
    db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    assert db.is_file(), f"airflow db migrate left no {db}"
    return db


@pytest.fixture(scope="session")
def spark(spark_connect_server):
    """The one SparkSession of the test session: a client of the session's warm Spark Connect server, as every
    task of the local profile is (the server evaluates without code generation, ``spark.connect.conf``; 4 shuffle
    partitions). ``test_spark_connect.py`` runs the same job in a classic session, with code generation, and
    compares the tables. Building a query costs no round trip to a JVM per expression here, which is most of a
    small date's time in a classic session."""
    from jobs.lib.spark import get_spark, is_connect, release_session

    session = get_spark("riskpipe-tests")
    assert is_connect(session), "the tests' session is a Spark Connect client: unset RISKPIPE_SPARK_CONNECT=0"
    session.conf.set("spark.sql.shuffle.partitions", "4")
    yield session
    release_session()


@pytest.fixture
def table_dir(tmp_path: Path) -> str:
    """A fresh path for one Delta table."""
    return str(tmp_path / "table")


@contextlib.contextmanager
def configured(**env: str) -> Iterator[None]:
    """Set environment variables the config reads, reload the config; restore both afterwards."""
    from jobs.lib import config

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    config.settings.cache_clear()
    config._use_case_cached.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        config.settings.cache_clear()
        config._use_case_cached.cache_clear()


@contextlib.contextmanager
def own_store(root: Path, n_trials: dict[str, int] | None = None) -> Iterator[Path]:
    """Within: the configuration is a copy of ``conf/`` whose MLflow store, artifacts and lakehouse live under
    ``root`` (:func:`conf_with_own_mlflow`); yields ``root``."""
    conf = conf_with_own_mlflow(root, n_trials)
    with configured(RISKPIPE_CONF_DIR=str(conf), RISKPIPE_LAKEHOUSE=str(root / "lakehouse")):
        yield root


def conf_with_own_mlflow(root: Path, n_trials: dict[str, int] | None = None) -> Path:
    """A copy of ``conf/`` under ``root`` whose MLflow store and artifacts live in ``root/mlflow`` (and, per use
    case in ``n_trials``, a smaller Optuna trial count); point ``RISKPIPE_CONF_DIR`` at the returned folder."""
    import shutil

    import yaml

    conf = root / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf)
    base = yaml.safe_load((conf / "base.yaml").read_text())
    base["paths"].update(mlflow_tracking_uri=f"sqlite:///{root}/mlflow/mlflow.db",
                         mlflow_artifacts=str(root / "mlflow" / "artifacts"),
                         samples=str(PROJECT_ROOT / "data" / "samples"))
    (conf / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    for name, trials in (n_trials or {}).items():
        path = conf / "use_cases" / f"{name}.yaml"
        use_case = yaml.safe_load(path.read_text())
        use_case["model"]["search"]["n_trials"] = trials
        path.write_text(yaml.safe_dump(use_case, sort_keys=False))
    (root / "mlflow").mkdir(exist_ok=True)
    template = _mlflow_template()
    if template is not None:
        shutil.copyfile(template, root / "mlflow" / "mlflow.db")
    return conf


_MLFLOW_TEMPLATE = _SESSION_DIR / "mlflow-template" / "mlflow.db"
_mlflow_template_lock = threading.Lock()


def _mlflow_template() -> Path | None:
    """An empty MLflow store (SQLite) at the current schema, made once per test session, that each test's own store
    starts as a copy of: a new store otherwise runs MLflow's ~60 schema migrations (alembic) on first use, ~1.4 s
    of CPU each time (8.6 s of the pytest process's CPU in a run, `py-spy`). Made in the main thread only (MLflow's
    first import in a second thread can deadlock with the main thread's imports); None in another thread before it
    exists (that store migrates itself, as any new store does)."""
    with _mlflow_template_lock:
        if _MLFLOW_TEMPLATE.is_file():
            return _MLFLOW_TEMPLATE
        if threading.current_thread() is not threading.main_thread():
            return None
        import mlflow

        _MLFLOW_TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
        building = _MLFLOW_TEMPLATE.with_name("building.db")
        uri = f"sqlite:///{building}"
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments()  # the tracking store's tables, migrated to the current schema
        client.search_registered_models()  # the registry's, in the same file
        building.rename(_MLFLOW_TEMPLATE)
        return _MLFLOW_TEMPLATE
