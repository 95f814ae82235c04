"""Typed configuration: ``conf/base.yaml`` + ``conf/profiles/<profile>.yaml`` + ``conf/use_cases/*.yaml``.

Loaded once per process into frozen dataclasses. A wrong, unknown or missing key fails early with a
:class:`ConfigError` naming the file and the key, so a typo never becomes a silent default.

Environment:
  ``RISKPIPE_PROFILE``    profile name (default ``local``)
  ``RISKPIPE_CONF_DIR``   configuration folder (default ``<project>/conf``)
  ``RISKPIPE_LAKEHOUSE``  overrides ``paths.lakehouse`` (tests point it at a temp dir)
  ``RISKPIPE_LANDING``    overrides ``paths.landing``
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from jobs.features import FUNCTIONS as FEATURE_FUNCTIONS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SPARK_TYPES = {"string", "int", "bigint", "double", "float", "boolean", "date", "timestamp"}


class ConfigError(ValueError):
    """A configuration file is wrong; the message names the file and the key."""


# --------------------------------------------------------------------------------------------- helpers
def _expand_env(value: Any, source: Path, key: str) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, source, f"{key}.{k}" if key else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, source, f"{key}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{source}: key '{key}' needs environment variable {name}, which is not set")

    return _ENV_REF.sub(repl, value)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class _Section:
    """Reads one mapping of a YAML file, tracking which keys were used so unknown ones are reported."""

    def __init__(self, data: Any, source: Path, prefix: str = "") -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: key '{prefix or '<top>'}' must be a mapping")
        self.data, self.source, self.prefix, self.used = data, source, prefix, set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, allow_none=False) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise ConfigError(f"{self.source}: missing key '{self._key(key)}'")
            return default
        value = self.data[key]
        if value is None and allow_none:
            return None
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise ConfigError(
                f"{self.source}: key '{self._key(key)}' must be {expected}, got {type(value).__name__} {value!r}"
            )
        return value

    def section(self, key: str, required: bool = True) -> _Section:
        if required and key not in self.data:
            raise ConfigError(f"{self.source}: missing key '{self._key(key)}'")
        self.used.add(key)
        return _Section(self.data.get(key), self.source, self._key(key))

    def str_list(self, key: str, default: Any = ...) -> list[str]:
        value = self.get(key, list, default)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ConfigError(f"{self.source}: key '{self._key(key)}[{i}]' must be a string, got {item!r}")
        return list(value)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"{self.source}: unknown key '{self._key(unknown[0])}'" + (
                f" (and {', '.join(unknown[1:])})" if len(unknown) > 1 else ""))


def _port(section: _Section, key: str) -> int:
    """A TCP port: an int, or a string of digits (what ``${VAR:-15002}`` expands to)."""
    value = section.get(key, (int, str))
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(f"{section.source}: key '{section._key(key)}' must be a TCP port (1-65535), got {value!r}")
    return value


def _resolve_path(value: str) -> str:
    if "://" in value or value.startswith("/"):
        return value
    if value.startswith("sqlite:///") or value.startswith("file:"):
        return value
    return str((PROJECT_ROOT / value).resolve())


# ---------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Paths:
    lakehouse: str
    landing: str
    samples: str
    expectations: str
    mlflow_tracking_uri: str
    mlflow_artifacts: str
    airflow_home: str


@dataclass(frozen=True)
class ConnectSettings:
    """The warm local Spark Connect server (``make spark-up``) that tasks use as thin clients."""

    enabled: bool  # tasks connect to the server instead of starting a JVM each
    host: str  # loopback only
    port: int
    master: str  # the server's master, e.g. local[2]
    start_timeout_seconds: int
    state_dir: str  # pid file and log of the server
    conf: dict[str, str]  # Spark settings of the server only, over spark.conf (not for classic sessions)
    codegen_min_rows: int  # a job over at least this many rows turns code generation on (jobs.lib.spark.sized_for)
    java_options: str = ""  # the server JVM's own options (after its log4j setting in spark.driver.extraJavaOptions)

    @property
    def url(self) -> str:
        return f"sc://{self.host}:{self.port}"


@dataclass(frozen=True)
class SparkSettings:
    master: str
    app_name: str
    ui_enabled: bool
    conf: dict[str, str]
    connect: ConnectSettings


@dataclass(frozen=True)
class PiiSettings:
    salt_env: str
    allow_dev_salt: bool


@dataclass(frozen=True)
class AirflowSettings:
    owner: str
    retries: int
    retry_delay_minutes: int
    start_date: str
    landing_poke_seconds: int
    landing_timeout_minutes: int
    spark_conn_id: str
    spark_connect_conn_id: str


@dataclass(frozen=True)
class AlertSettings:
    """Slack alerts: task failures, drift alerts and retraining decisions. The webhook URL is a secret: it lives
    in the Airflow connection ``slack_conn_id`` (e.g. ``AIRFLOW_CONN_SLACK_ALERTS`` in the environment), never in
    config; without the connection, alerts are logged and the DAGs still run."""

    slack_conn_id: str = "slack_alerts"
    channel: str | None = None  # None: the webhook's own channel
    top_features: int = 5  # drifting features named in a drift alert


@dataclass(frozen=True)
class Settings:
    profile: str
    project: str
    conf_dir: Path
    paths: Paths
    spark: SparkSettings
    pii: PiiSettings
    airflow: AirflowSettings
    alerts: AlertSettings = field(default_factory=AlertSettings)

    def table_path(self, layer: str, use_case: str, table: str) -> str:
        """Where a Delta table lives: ``<lakehouse>/<layer>/<use_case>/<table>``."""
        return f"{self.paths.lakehouse.rstrip('/')}/{layer}/{use_case}/{table}"

    def landing_dir(self, use_case: str, stream: str, ds: str) -> str:
        return f"{self.paths.landing.rstrip('/')}/{use_case}/{stream}/ds={ds}"

    def pii_salt(self) -> str:
        salt = os.environ.get(self.pii.salt_env)
        if salt:
            return salt
        if self.pii.allow_dev_salt:
            return "riskpipe-local-dev-salt-not-secret"
        raise ConfigError(
            f"profile '{self.profile}': environment variable {self.pii.salt_env} (pii.salt_env) is not set; "
            "PII columns cannot be hashed without a salt"
        )


def conf_dir() -> Path:
    return Path(os.environ.get("RISKPIPE_CONF_DIR", PROJECT_ROOT / "conf")).resolve()


def _spark_conf(section) -> dict[str, str]:
    """A section's optional ``conf`` mapping of Spark settings, as strings (what spark-submit and the builder take)."""
    return {str(k): str(v) for k, v in (section.get("conf", dict, {}) or {}).items()}


def load_settings(profile: str | None = None, directory: Path | None = None) -> Settings:
    """Read base.yaml merged with the profile; fail early naming the file and key."""
    directory = Path(directory) if directory else conf_dir()
    profile = profile or os.environ.get("RISKPIPE_PROFILE", "local")
    base_path = directory / "base.yaml"
    profile_path = directory / "profiles" / f"{profile}.yaml"
    if not profile_path.is_file():
        known = sorted(p.stem for p in (directory / "profiles").glob("*.yaml"))
        raise ConfigError(f"{profile_path}: profile '{profile}' not found (known: {', '.join(known) or 'none'})")
    base = _read_yaml(base_path)
    override = _read_yaml(profile_path)
    for key in override:
        if key not in base:
            raise ConfigError(f"{profile_path}: unknown key '{key}'")
    # Which file to blame: a key the profile sets is blamed on the profile.
    source = profile_path if override else base_path
    data = _expand_env(_deep_merge(base, override), source, "")
    top = _Section(data, source)
    project = top.get("project", str)
    p = top.section("paths")
    env_overrides = {"lakehouse": "RISKPIPE_LAKEHOUSE", "landing": "RISKPIPE_LANDING"}
    path_values = {}
    for f in fields(Paths):
        value = p.get(f.name, str)
        value = os.environ.get(env_overrides.get(f.name, ""), value)
        path_values[f.name] = value if f.name == "mlflow_tracking_uri" else _resolve_path(value)
    uri = path_values["mlflow_tracking_uri"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path_values["mlflow_tracking_uri"] = "sqlite:///" + str(PROJECT_ROOT / uri[len("sqlite:///"):])
    p.done()
    s = top.section("spark")
    c = s.section("connect")
    connect = ConnectSettings(
        enabled=c.get("enabled", bool), host=c.get("host", str), port=_port(c, "port"),
        master=c.get("master", str), start_timeout_seconds=c.get("start_timeout_seconds", int),
        state_dir=_resolve_path(c.get("state_dir", str)),
        conf=_spark_conf(c), codegen_min_rows=c.get("codegen_min_rows", int),
        java_options=c.get("java_options", str, "").strip(),
    )
    c.done()
    if connect.host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(f"{source}: key 'spark.connect.host' must be a loopback address "
                          f"(127.0.0.1, localhost, ::1), got {connect.host!r}: the server has no authentication")
    spark = SparkSettings(
        master=s.get("master", str),
        app_name=s.get("app_name", str),
        ui_enabled=s.get("ui_enabled", bool),
        conf=_spark_conf(s),
        connect=connect,
    )
    s.done()
    pi = top.section("pii")
    pii = PiiSettings(salt_env=pi.get("salt_env", str), allow_dev_salt=pi.get("allow_dev_salt", bool))
    pi.done()
    a = top.section("airflow")
    airflow = AirflowSettings(
        owner=a.get("owner", str), retries=a.get("retries", int), retry_delay_minutes=a.get("retry_delay_minutes", int),
        start_date=str(a.get("start_date", (str, __import__("datetime").date))),
        landing_poke_seconds=a.get("landing_poke_seconds", int),
        landing_timeout_minutes=a.get("landing_timeout_minutes", int), spark_conn_id=a.get("spark_conn_id", str),
        spark_connect_conn_id=a.get("spark_connect_conn_id", str),
    )
    a.done()
    if airflow.retries < 2:
        raise ConfigError(f"{source}: key 'airflow.retries' must be >= 2, got {airflow.retries}")
    alerts = AlertSettings()
    if "alerts" in top.data:
        al = top.section("alerts")
        alerts = AlertSettings(slack_conn_id=al.get("slack_conn_id", str, "slack_alerts"),
                               channel=al.get("channel", str, None, allow_none=True),
                               top_features=al.get("top_features", int, 5))
        al.done()
    top.done()
    return Settings(profile=profile, project=project, conf_dir=directory, paths=Paths(**path_values),
                    spark=spark, pii=pii, airflow=airflow, alerts=alerts)


@functools.lru_cache(maxsize=None)
def settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()


# --------------------------------------------------------------------------------------- use cases
@dataclass(frozen=True)
class Source:
    format: str
    delimiter: str
    sample: str
    rename: dict[str, str]  # sample column -> landing column
    drop: list[str]  # sample columns not sent to landing
    encoding: str = "utf-8"  # of the landing files: utf-8, or a single-byte code page (latin-1, cp1252, ...)
    on_new_columns: str = "quarantine_file"  # a file's header adds columns: quarantine_file | ignore
    on_missing_columns: str = "quarantine_file"  # a file lacks optional columns: quarantine_file | null_if_optional


COLUMN_POLICIES = {"on_new_columns": ("quarantine_file", "ignore"),
                   "on_missing_columns": ("quarantine_file", "null_if_optional")}


def landing_encoding(name: str) -> str:
    """The codec name of a landing file encoding: UTF-8, or a single-byte code page whose first 128 bytes are
    ASCII (so the delimiter, quotes and line breaks are the bytes they are in UTF-8). Raises ValueError else."""
    import codecs

    try:
        info = codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}") from None
    if info.name in {"utf-8", "latin-1", "iso8859-1"}:
        return info.name
    module = __import__(f"encodings.{info.name.replace('-', '_')}", fromlist=["decoding_table"])
    table = getattr(module, "decoding_table", None)
    if not isinstance(table, str) or len(table) != 256 or table[:128] != "".join(map(chr, range(128))):
        raise ValueError(f"encoding {name!r} is not supported: use utf-8 or a single-byte code page whose first "
                         "128 characters are ASCII (latin-1, cp1252, iso8859-15, cp850, ...)")
    return info.name


@dataclass(frozen=True)
class Label:
    column: str
    positive: str
    negative: str
    maturity_days: int


@dataclass(frozen=True)
class Derived:
    name: str
    fn: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Features:
    numeric: list[str]
    categorical: list[str]
    derived: list[Derived]

    @property
    def names(self) -> list[str]:
        return [*self.numeric, *self.categorical, *(d.name for d in self.derived)]


@dataclass(frozen=True)
class Thresholds:
    max_quarantine_share: float
    outlier_z: float
    outlier_iqr_k: float


#: XGBoost parameters the search may tune (``model.search.space`` keys); anything else is a typo.
XGB_SEARCH_PARAMS = frozenset({
    "max_depth", "max_leaves", "learning_rate", "n_estimators", "min_child_weight", "subsample",
    "colsample_bytree", "colsample_bylevel", "colsample_bynode", "reg_lambda", "reg_alpha", "gamma",
    "max_delta_step", "max_bin", "max_cat_to_onehot", "max_cat_threshold", "grow_policy",
})
DISTRIBUTION_TYPES = ("int", "float", "categorical")


@dataclass(frozen=True)
class Distribution:
    """One Optuna distribution of the search space: ``int``/``float`` in [low, high] (``log`` scale
    optional, ``step`` optional), or ``categorical`` over ``choices``."""

    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Split:
    """Time-ordered split by event date: oldest rows train, then validation, the most recent holdout."""

    validation_fraction: float
    holdout_fraction: float


@dataclass(frozen=True)
class Search:
    n_trials: int  # total trials of the study (a resumed study runs only the missing ones)
    timeout_seconds: int  # wall-clock budget of one search call
    space: dict[str, Distribution]  # XGBoost parameter -> distribution


@dataclass(frozen=True)
class ModelSettings:
    seed: int
    decision_cutoff: float  # probability cutoff for precision / recall / F1 and the fairness rates
    split: Split
    search: Search


@dataclass(frozen=True)
class Gate:
    """Quality gate for promoting a challenger to champion."""

    auc_floor: float  # holdout AUC must reach this (the only condition for the first model)
    min_improvement: float  # ... and beat the champion's AUC on the same holdout by this much
    # A fairness failure blocks promotion (True) or is only recorded on the version and in gate.json (False).
    enforce_fairness: bool = True


@dataclass(frozen=True)
class Fairness:
    """Thresholds the governance report and the gate use. Defaults apply when the section is absent."""

    disparate_impact_min: float = 0.8  # the 80% rule
    equal_opportunity_max_diff: float = 0.1
    age_buckets: tuple[float, ...] = (25, 35, 50, 65)  # edges bucketing numeric (age-like) protected attributes
    # Is a predicted positive (score >= cutoff) the favourable outcome? False for a risk model (flagged as a
    # likely default: favourable = not flagged), True for a propensity model (selected for an offer).
    positive_is_favourable: bool = False


@dataclass(frozen=True)
class ScorecardChecks:
    """Quality checks a scorecard draft must pass before a person may activate it (jobs/scorecard_job.py)."""

    min_samples: int  # training rows the draft was fitted on
    default_rate_range: tuple[float, float]  # (low, high) share of bads in those rows
    auc_floor: float  # AUC on the most recent rows
    max_weight_change: float  # relative coefficient change vs the active scorecard (below this)
    min_correlation: float  # Pearson correlation of draft vs active scores on the same rows (above this)
    max_band_psi: float = 0.25  # PSI of the score bands, draft vs active


@dataclass(frozen=True)
class ScorecardSettings:
    """Points scaling of a credit scorecard: ``base_score`` points at ``base_odds`` (good:bad), ``pdo`` points
    to double the odds; and the draft's quality checks."""

    base_score: float
    base_odds: float
    pdo: float
    checks: ScorecardChecks


@dataclass(frozen=True)
class Band:
    """A decision band: scores (probability of the positive class) up to ``max_score`` (inclusive) that are
    above the previous band's ``max_score``."""

    name: str
    max_score: float


@dataclass(frozen=True)
class ReasonCodes:
    """Adverse-action style reason codes: the top features pushing a score towards the positive class."""

    bands: tuple[str, ...]  # rows in these bands get reason codes ...
    share: float  # ... and this share of the other rows (deterministic hash of the key)
    top_n: int  # how many features per row
    mode: str  # exact (TreeSHAP, pred_contribs) or approx (Saabas-style approx_contribs: far cheaper)


@dataclass(frozen=True)
class ScoringSettings:
    """Nightly scoring into ``scores/<use_case>`` (jobs/score.py)."""

    bands: tuple[Band, ...]  # ascending ``max_score``; the last one is 1.0
    reason_codes: ReasonCodes
    canary_fraction: float  # share of keys (hash of the key) the challenger scores in the CRM table

    def band(self, score: float) -> str:
        for b in self.bands:
            if score <= b.max_score:
                return b.name
        return self.bands[-1].name


@dataclass(frozen=True)
class DriftThresholds:
    """When a drift statistic warns or alerts (jobs/drift.py)."""

    psi_warn: float = 0.1
    psi_alert: float = 0.25
    ks_pvalue: float = 0.05  # KS alerts when p < ks_pvalue ...
    ks_min_statistic: float = 0.1  # ... and the statistic (effect size) reaches this: p alone flags tiny shifts
    chi2_pvalue: float = 0.05  # chi-square alerts when p < chi2_pvalue ...
    chi2_min_cramers_v: float = 0.2  # ... and Cramér's V (effect size) reaches this: 0.1 flags the sampling noise of a
    # 500-row day against a categorical reference (measured: V 0.11-0.12 on undrifted days, PSI < 0.06)
    new_category_share_warn: float = 0.005  # share of a day's rows quarantined by a value-set expectation
    new_category_share_alert: float = 0.02


@dataclass(frozen=True)
class RetrainPolicy:
    """When the daily DAG triggers ``<use_case>_train`` (the decide task)."""

    alert_runs: int = 3  # retrain when at least this many ...
    window_runs: int = 5  # ... of the last this many daily runs (this one included) had a drift alert
    min_alert_features: int = 1  # a run counts as alerting when at least this many features (or the score) alert
    performance_drop: float = 0.05  # or when a matured cohort's AUC is this far below the training holdout's
    min_cohort_rows: int = 200  # matured rows a cohort needs before its AUC counts
    cooldown_runs: int = 5  # after a retraining trigger, wait this many runs before the next one


@dataclass(frozen=True)
class MonitoringSettings:
    drift: DriftThresholds = field(default_factory=DriftThresholds)
    retrain: RetrainPolicy = field(default_factory=RetrainPolicy)


@dataclass(frozen=True)
class UseCase:
    name: str
    description: str
    source_file: Path
    source: Source
    schema: dict[str, str]  # landing column -> Spark SQL type, in landing order
    primary_key: list[str]
    event_timestamp: str
    entity: str  # the column identifying the customer (hashed in silver); used by point-in-time features
    label: Label
    pii: list[str]
    protected_attributes: list[str]
    required: list[str]
    outlier_columns: list[str]
    features: Features
    forbidden_features: dict[str, str]
    expectation_suite: str
    thresholds: Thresholds
    model: ModelSettings | None = None  # None: the use case has no trained model (no 'model' section)
    gate: Gate | None = None  # required with 'model'
    fairness: Fairness = field(default_factory=Fairness)
    extra: dict[str, Any] = field(default_factory=dict)
    scorecard: ScorecardSettings | None = None  # None: no points scorecard (no 'scorecard' section)
    scoring: ScoringSettings | None = None  # None: the use case is not scored nightly (no 'scoring' section)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    text_columns: list[str] = field(default_factory=list)  # free text: silver keeps it byte for byte

    @property
    def categorical_columns(self) -> list[str]:
        return [c for c, t in self.schema.items() if t == "string" and c not in self.primary_key]

    @property
    def label_schema(self) -> dict[str, str]:
        """Columns of a label file: the key, then the label as received."""
        return {**{k: self.schema[k] for k in self.primary_key}, self.label.column: "string"}

    def stream_schema(self, stream: str) -> dict[str, str]:
        if stream == "events":
            return self.schema
        if stream == "labels":
            return self.label_schema
        raise ConfigError(f"use case '{self.name}': unknown stream '{stream}' (events, labels)")


def _parse_use_case(path: Path) -> UseCase:
    top = _Section(_read_yaml(path), path)
    name = top.get("name", str)
    if name != path.stem:
        raise ConfigError(f"{path}: key 'name' is '{name}' but the file is named '{path.stem}.yaml'")
    description = top.get("description", str, "")
    src = top.section("source")
    source = Source(
        format=src.get("format", str, "csv"),
        delimiter=src.get("delimiter", str, ","),
        sample=src.get("sample", str),
        rename=dict(src.get("rename", dict, {})),
        drop=src.str_list("drop", []),
        encoding=src.get("encoding", str, "utf-8"),
        on_new_columns=src.get("on_new_columns", str, "quarantine_file"),
        on_missing_columns=src.get("on_missing_columns", str, "quarantine_file"),
    )
    src.done()
    try:
        landing_encoding(source.encoding)
    except ValueError as exc:
        raise ConfigError(f"{path}: key 'source.encoding': {exc}") from None
    for key, allowed in COLUMN_POLICIES.items():
        if getattr(source, key) not in allowed:
            raise ConfigError(f"{path}: key 'source.{key}' is {getattr(source, key)!r}; use one of {list(allowed)}")
    if len(source.delimiter) != 1 or source.delimiter in {'"', "\n", "\r"}:
        raise ConfigError(f"{path}: key 'source.delimiter' must be one character other than a quote or a line "
                          f"break, got {source.delimiter!r}")
    if source.format != "csv":
        raise ConfigError(f"{path}: key 'source.format' must be 'csv' (the only landing format so far)")
    schema_raw = top.get("schema", dict)
    schema: dict[str, str] = {}
    for column, type_ in schema_raw.items():
        if type_ not in SPARK_TYPES:
            raise ConfigError(f"{path}: key 'schema.{column}' has type {type_!r}; use one of {sorted(SPARK_TYPES)}")
        schema[str(column)] = type_

    def columns(key: str, default: Any = ...) -> list[str]:
        values = top.str_list(key, default)
        for c in values:
            if c not in schema:
                raise ConfigError(f"{path}: key '{key}' names column '{c}', which is not in 'schema'")
        return values

    primary_key = columns("primary_key")
    event_timestamp = top.get("event_timestamp", str)
    if schema.get(event_timestamp) not in {"date", "timestamp"}:
        raise ConfigError(f"{path}: key 'event_timestamp' must name a date or timestamp column of 'schema'")
    entity = top.get("entity", str)
    if entity not in schema:
        raise ConfigError(f"{path}: key 'entity' names column '{entity}', which is not in 'schema'")
    lab = top.section("label")
    label = Label(column=lab.get("column", str), positive=str(lab.get("positive", (str, int, bool))),
                  negative=str(lab.get("negative", (str, int, bool))), maturity_days=lab.get("maturity_days", int))
    if label.maturity_days < 0:
        raise ConfigError(f"{path}: key 'label.maturity_days' must be >= 0, got {label.maturity_days}")
    lab.done()
    if label.column in schema:
        raise ConfigError(f"{path}: key 'label.column' ('{label.column}') must not be a landing column of "
                          "'schema': labels arrive in their own files once matured")
    pii = columns("pii", [])
    protected = columns("protected_attributes", [])
    required = columns("required", [])
    outliers = columns("outlier_columns", [])
    text_columns = columns("text_columns", [])
    for c in text_columns:
        if schema[c] != "string":
            raise ConfigError(f"{path}: key 'text_columns' names '{c}', which is {schema[c]}, not string")
    feat = top.section("features")
    derived = []
    for i, item in enumerate(feat.get("derived", list, [])):
        d = _Section(item, path, f"features.derived[{i}]")
        derived.append(Derived(name=d.get("name", str), fn=d.get("fn", str), params=dict(d.get("params", dict, {}))))
        d.done()
        if derived[-1].fn not in FEATURE_FUNCTIONS:
            raise ConfigError(f"{path}: key 'features.derived[{i}].fn' is '{derived[-1].fn}'; "
                              f"known: {sorted(FEATURE_FUNCTIONS)}")
    features = Features(numeric=feat.str_list("numeric", []), categorical=feat.str_list("categorical", []),
                        derived=derived)
    feat.done()
    for c in features.numeric + features.categorical:
        if c not in schema:
            raise ConfigError(f"{path}: key 'features' names column '{c}', which is not in 'schema'")
    forbidden = {str(k): str(v) for k, v in top.get("forbidden_features", dict, {}).items()}
    for c in features.names:
        if c in pii:
            raise ConfigError(f"{path}: key 'features' uses PII column '{c}'; PII is never a feature")
        if c in forbidden:
            raise ConfigError(f"{path}: key 'features' uses forbidden column '{c}': {forbidden[c]}")
        if c == label.column:
            raise ConfigError(f"{path}: key 'features' uses the label '{c}'")
    exp = top.section("expectations")
    suite = exp.get("silver", str)
    exp.done()
    th = top.section("thresholds")
    thresholds = Thresholds(
        max_quarantine_share=th.get("max_quarantine_share", float, 0.2),
        outlier_z=th.get("outlier_z", float, 3.0),
        outlier_iqr_k=th.get("outlier_iqr_k", float, 1.5),
    )
    th.done()
    model = _parse_model(top.section("model"), path) if "model" in top.data else None
    gate = _parse_gate(top.section("gate"), path) if "gate" in top.data else None
    if model is not None and gate is None:
        raise ConfigError(f"{path}: missing key 'gate' (a use case with a 'model' needs its quality gate)")
    fairness = _parse_fairness(top.section("fairness"), path) if "fairness" in top.data else Fairness()
    extra = top.get("extra", dict, {})  # free-form section for later stages (training, scoring)
    scorecard = _parse_scorecard(top.section("scorecard"), path) if "scorecard" in top.data else None
    scoring = _parse_scoring(top.section("scoring"), path) if "scoring" in top.data else None
    if scoring is not None and model is None:
        raise ConfigError(f"{path}: key 'scoring' needs a 'model' section (nothing to score with)")
    monitoring = _parse_monitoring(top.section("monitoring"), path) if "monitoring" in top.data else MonitoringSettings()
    top.done()
    return UseCase(
        name=name, description=description, source_file=path, source=source, schema=schema,
        primary_key=primary_key, event_timestamp=event_timestamp, entity=entity, label=label, pii=pii,
        protected_attributes=protected, required=required, outlier_columns=outliers, features=features,
        forbidden_features=forbidden, expectation_suite=suite, thresholds=thresholds, model=model, gate=gate,
        fairness=fairness, extra=extra, scorecard=scorecard, scoring=scoring, monitoring=monitoring,
        text_columns=text_columns,
    )


def _fraction(section: _Section, key: str, low: float = 0.0, high: float = 1.0) -> float:
    """A float strictly between ``low`` and ``high``."""
    value = section.get(key, float)
    if not low < value < high:
        raise ConfigError(f"{section.source}: key '{section._key(key)}' must be between {low} and {high} "
                          f"(exclusive), got {value}")
    return value


def _parse_distribution(d: _Section, name: str) -> Distribution:
    kind = d.get("type", str)
    if kind not in DISTRIBUTION_TYPES:
        raise ConfigError(f"{d.source}: key '{d._key('type')}' is {kind!r}; use one of {list(DISTRIBUTION_TYPES)}")
    if kind == "categorical":
        choices = d.get("choices", list)
        if not choices:
            raise ConfigError(f"{d.source}: key '{d._key('choices')}' must list at least one value")
        d.done()
        return Distribution(type=kind, choices=tuple(choices))
    number = int if kind == "int" else float
    low, high = d.get("low", number), d.get("high", number)
    log = d.get("log", bool, False)
    step = d.get("step", number, None, allow_none=True)
    d.done()
    if not low < high:
        raise ConfigError(f"{d.source}: key '{d.prefix}' needs low < high, got low={low}, high={high}")
    if log and low <= 0:
        raise ConfigError(f"{d.source}: key '{d.prefix}' has log: true, which needs low > 0, got {low}")
    if log and step is not None:
        raise ConfigError(f"{d.source}: key '{d.prefix}' cannot have both log and step")
    if step is not None and step <= 0:
        raise ConfigError(f"{d.source}: key '{d._key('step')}' must be > 0, got {step}")
    return Distribution(type=kind, low=low, high=high, log=log, step=step)


def _parse_model(m: _Section, path: Path) -> ModelSettings:
    seed = m.get("seed", int)
    cutoff = _fraction(m, "decision_cutoff")
    sp = m.section("split")
    split = Split(validation_fraction=_fraction(sp, "validation_fraction"),
                  holdout_fraction=_fraction(sp, "holdout_fraction"))
    sp.done()
    if split.validation_fraction + split.holdout_fraction >= 0.9:
        raise ConfigError(f"{path}: keys 'model.split.validation_fraction' + 'model.split.holdout_fraction' "
                          f"must leave at least 10% of the rows for training, got "
                          f"{split.validation_fraction} + {split.holdout_fraction}")
    se = m.section("search")
    n_trials, timeout = se.get("n_trials", int), se.get("timeout_seconds", int)
    for key, value in (("n_trials", n_trials), ("timeout_seconds", timeout)):
        if value < 1:
            raise ConfigError(f"{path}: key 'model.search.{key}' must be >= 1, got {value}")
    space_section = se.section("space")
    space: dict[str, Distribution] = {}
    for param in space_section.data:
        if param not in XGB_SEARCH_PARAMS:
            raise ConfigError(f"{path}: key 'model.search.space.{param}' is not an XGBoost parameter the search "
                              f"tunes; known: {sorted(XGB_SEARCH_PARAMS)}")
        space[str(param)] = _parse_distribution(space_section.section(param), str(param))
    space_section.done()
    if not space:
        raise ConfigError(f"{path}: key 'model.search.space' must name at least one parameter")
    se.done()
    m.done()
    return ModelSettings(seed=seed, decision_cutoff=cutoff, split=split,
                         search=Search(n_trials=n_trials, timeout_seconds=timeout, space=space))


def _parse_gate(g: _Section, path: Path) -> Gate:
    gate = Gate(auc_floor=_fraction(g, "auc_floor", 0.5, 1.0), min_improvement=g.get("min_improvement", float),
                enforce_fairness=g.get("enforce_fairness", bool, True))
    g.done()
    if not 0 <= gate.min_improvement < 0.5:
        raise ConfigError(f"{path}: key 'gate.min_improvement' must be in [0, 0.5), got {gate.min_improvement}")
    return gate


def _parse_fairness(f: _Section, path: Path) -> Fairness:
    di = f.get("disparate_impact_min", float)
    if not 0 < di <= 1:
        raise ConfigError(f"{path}: key 'fairness.disparate_impact_min' must be in (0, 1], got {di}")
    eo = _fraction(f, "equal_opportunity_max_diff", 0.0, 1.0)
    buckets = f.get("age_buckets", list)
    for i, edge in enumerate(buckets):
        if isinstance(edge, bool) or not isinstance(edge, (int, float)):
            raise ConfigError(f"{path}: key 'fairness.age_buckets[{i}]' must be a number, got {edge!r}")
    if not buckets or any(a >= b for a, b in zip(buckets, buckets[1:])):
        raise ConfigError(f"{path}: key 'fairness.age_buckets' must be a non-empty, strictly increasing list "
                          f"of numbers, got {buckets}")
    favourable = f.get("positive_is_favourable", bool, False)
    f.done()
    return Fairness(disparate_impact_min=di, equal_opportunity_max_diff=eo, age_buckets=tuple(buckets),
                    positive_is_favourable=favourable)


def _parse_scorecard(s: _Section, path: Path) -> ScorecardSettings:
    base_score, base_odds, pdo = s.get("base_score", float), s.get("base_odds", float), s.get("pdo", float)
    for key, value in (("base_odds", base_odds), ("pdo", pdo)):
        if value <= 0:
            raise ConfigError(f"{path}: key 'scorecard.{key}' must be > 0, got {value}")
    c = s.section("checks")
    min_samples = c.get("min_samples", int)
    if min_samples < 1:
        raise ConfigError(f"{path}: key 'scorecard.checks.min_samples' must be >= 1, got {min_samples}")
    rate = c.get("default_rate_range", list)
    if (len(rate) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in rate)
            or not 0 <= rate[0] < rate[1] <= 1):
        raise ConfigError(f"{path}: key 'scorecard.checks.default_rate_range' must be [low, high] with "
                          f"0 <= low < high <= 1, got {rate}")
    checks = ScorecardChecks(
        min_samples=min_samples, default_rate_range=(float(rate[0]), float(rate[1])),
        auc_floor=_fraction(c, "auc_floor", 0.5, 1.0),
        max_weight_change=c.get("max_weight_change", float), min_correlation=_fraction(c, "min_correlation", -1.0, 1.0),
        max_band_psi=c.get("max_band_psi", float, 0.25),
    )
    c.done()
    s.done()
    for key in ("max_weight_change", "max_band_psi"):
        if getattr(checks, key) <= 0:
            raise ConfigError(f"{path}: key 'scorecard.checks.{key}' must be > 0, got {getattr(checks, key)}")
    return ScorecardSettings(base_score=base_score, base_odds=base_odds, pdo=pdo, checks=checks)


REASON_CODE_MODES = ("exact", "approx")


def _parse_scoring(s: _Section, path: Path) -> ScoringSettings:
    bands = []
    for i, item in enumerate(s.get("bands", list)):
        b = _Section(item, path, f"scoring.bands[{i}]")
        bands.append(Band(name=b.get("name", str), max_score=float(b.get("max_score", (int, float)))))
        b.done()
    if not bands:
        raise ConfigError(f"{path}: key 'scoring.bands' must list at least one band")
    uppers = [b.max_score for b in bands]
    if any(a >= b for a, b in zip(uppers, uppers[1:])) or uppers[-1] != 1.0 or uppers[0] <= 0:
        raise ConfigError(f"{path}: key 'scoring.bands' needs strictly increasing max_score values in (0, 1], "
                          f"the last one 1.0, got {uppers}")
    names = [b.name for b in bands]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: key 'scoring.bands' has duplicate band names: {names}")
    r = s.section("reason_codes")
    reason = ReasonCodes(bands=tuple(r.str_list("bands", [])), share=r.get("share", (int, float), 0.0),
                         top_n=r.get("top_n", int, 3), mode=r.get("mode", str, "exact"))
    r.done()
    for band in reason.bands:
        if band not in names:
            raise ConfigError(f"{path}: key 'scoring.reason_codes.bands' names band '{band}', not one of {names}")
    if not 0 <= reason.share <= 1:
        raise ConfigError(f"{path}: key 'scoring.reason_codes.share' must be in [0, 1], got {reason.share}")
    if reason.top_n < 1:
        raise ConfigError(f"{path}: key 'scoring.reason_codes.top_n' must be >= 1, got {reason.top_n}")
    if reason.mode not in REASON_CODE_MODES:
        raise ConfigError(f"{path}: key 'scoring.reason_codes.mode' is {reason.mode!r}; use one of "
                          f"{list(REASON_CODE_MODES)}")
    canary = float(s.get("canary_fraction", (int, float), 0.0))
    if not 0 <= canary < 1:
        raise ConfigError(f"{path}: key 'scoring.canary_fraction' must be in [0, 1), got {canary}")
    s.done()
    return ScoringSettings(bands=tuple(bands), reason_codes=reason, canary_fraction=canary)


def _dataclass_section(section: _Section, cls: type, path: Path) -> Any:
    """A dataclass of numbers from a section: every key optional (the dataclass default), none unknown,
    none negative."""
    values = {}
    for f in fields(cls):
        if f.name in section.data:
            kind = int if f.type in ("int", int) else (int, float)
            value = section.get(f.name, kind)
            if isinstance(value, bool) or value < 0:
                raise ConfigError(f"{path}: key '{section._key(f.name)}' must be a number >= 0, got {value!r}")
            values[f.name] = float(value) if kind is not int else value
    section.done()
    return cls(**values)


def _parse_monitoring(m: _Section, path: Path) -> MonitoringSettings:
    drift = _dataclass_section(m.section("drift"), DriftThresholds, path) if "drift" in m.data else DriftThresholds()
    retrain = _dataclass_section(m.section("retrain"), RetrainPolicy, path) if "retrain" in m.data else RetrainPolicy()
    m.done()
    if drift.psi_warn > drift.psi_alert:
        raise ConfigError(f"{path}: key 'monitoring.drift.psi_warn' ({drift.psi_warn}) must not exceed "
                          f"'monitoring.drift.psi_alert' ({drift.psi_alert})")
    if drift.new_category_share_warn > drift.new_category_share_alert:
        raise ConfigError(f"{path}: key 'monitoring.drift.new_category_share_warn' must not exceed "
                          "'monitoring.drift.new_category_share_alert'")
    if not 1 <= retrain.alert_runs <= retrain.window_runs:
        raise ConfigError(f"{path}: keys 'monitoring.retrain.alert_runs' ({retrain.alert_runs}) and "
                          f"'window_runs' ({retrain.window_runs}) need 1 <= alert_runs <= window_runs")
    return MonitoringSettings(drift=drift, retrain=retrain)


def use_case_names(directory: Path | None = None) -> list[str]:
    directory = Path(directory) if directory else conf_dir()
    return sorted(p.stem for p in (directory / "use_cases").glob("*.yaml"))


@functools.lru_cache(maxsize=None)
def _use_case_cached(directory: str, name: str) -> UseCase:
    path = Path(directory) / "use_cases" / f"{name}.yaml"
    if not path.is_file():
        known = use_case_names(Path(directory))
        raise ConfigError(f"{path}: use case '{name}' not found (known: {', '.join(known) or 'none'})")
    return _parse_use_case(path)


def load_use_case(name: str, directory: Path | None = None) -> UseCase:
    return _use_case_cached(str(Path(directory) if directory else conf_dir()), name)
