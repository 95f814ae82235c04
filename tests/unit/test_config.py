"""Typed configuration: loaded once into dataclasses; a wrong or missing key names the file and the key."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from jobs.lib.config import PROJECT_ROOT, ConfigError, load_settings, load_use_case, use_case_names


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    target = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", target)
    return target


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_local_profile_is_the_embedded_default(conf, monkeypatch):
    monkeypatch.delenv("RISKPIPE_LAKEHOUSE", raising=False)
    monkeypatch.delenv("RISKPIPE_PROFILE", raising=False)
    cfg = load_settings(directory=conf)
    assert cfg.profile == "local"
    assert cfg.spark.master == "local[2]" and cfg.spark.ui_enabled is False
    assert cfg.paths.lakehouse == str(PROJECT_ROOT / "lakehouse")
    assert cfg.paths.mlflow_tracking_uri == f"sqlite:///{PROJECT_ROOT}/.mlflow/mlflow.db"
    assert cfg.airflow.retries >= 2
    assert cfg.table_path("silver", "credit_default", "events").endswith("lakehouse/silver/credit_default/events")


def test_the_warm_servers_own_settings_reach_its_command_line_only(conf, monkeypatch):
    """``spark.connect.conf`` (the local profile turns code generation off for small daily batches) is passed to
    the server's spark-submit, over ``spark.conf``; a classic session of the profile does not get it."""
    from jobs.lib.connect_server import server_command

    monkeypatch.delenv("RISKPIPE_PROFILE", raising=False)
    _edit(conf / "profiles" / "local.yaml",
          lambda d: d["spark"]["connect"]["conf"].update({"spark.sql.shuffle.partitions": "3"}))
    cfg = load_settings(directory=conf)
    command = server_command(cfg)
    passed = dict(command[i + 1].split("=", 1) for i, arg in enumerate(command) if arg == "--conf")
    assert passed["spark.sql.codegen.factoryMode"] == "NO_CODEGEN"
    assert passed["spark.sql.codegen.wholeStage"] == "false"
    assert passed["spark.sql.shuffle.partitions"] == "3"  # over spark-defaults.conf's 8
    assert "spark.sql.codegen.factoryMode" not in cfg.spark.conf  # classic sessions keep code generation


def test_the_servers_java_options_are_the_configured_ones_then_log4j_then_its_own(conf, monkeypatch):
    """The server JVM's command line carries ``spark.driver.extraJavaOptions`` as configured
    (``conf/spark-defaults.conf``: the garbage collector), then the project's log4j setting, then
    ``spark.connect.java_options`` (``RISKPIPE_SPARK_CONNECT_JAVA_OPTIONS``), last so that it wins a conflict."""
    from jobs.lib.connect_server import server_command
    from jobs.lib.spark import read_spark_defaults

    def java_options() -> str:
        command = server_command(load_settings("local", directory=conf))
        passed = dict(command[i + 1].split("=", 1) for i, arg in enumerate(command) if arg == "--conf")
        return passed["spark.driver.extraJavaOptions"]

    log4j = f"-Dlog4j2.configurationFile=file:{conf / 'log4j2.properties'}"
    configured = read_spark_defaults(conf / "spark-defaults.conf")["spark.driver.extraJavaOptions"]
    assert "-XX:+UseParallelGC" in configured
    monkeypatch.delenv("RISKPIPE_SPARK_CONNECT_JAVA_OPTIONS", raising=False)
    assert java_options() == f"{configured} {log4j}"
    monkeypatch.setenv("RISKPIPE_SPARK_CONNECT_JAVA_OPTIONS", " -XX:TieredStopAtLevel=1 -Xss4m ")
    assert java_options() == f"{configured} {log4j} -XX:TieredStopAtLevel=1 -Xss4m"
    # Without a configured value (a spark-defaults.conf that sets none), the log4j setting comes first.
    defaults = conf / "spark-defaults.conf"
    defaults.write_text("".join(line + "\n" for line in defaults.read_text().splitlines()
                                if not line.startswith("spark.driver.extraJavaOptions")))
    monkeypatch.delenv("RISKPIPE_SPARK_CONNECT_JAVA_OPTIONS")
    assert java_options() == log4j


def test_environment_overrides_the_lakehouse(conf, monkeypatch, tmp_path):
    monkeypatch.setenv("RISKPIPE_LAKEHOUSE", str(tmp_path / "lh"))
    assert load_settings(directory=conf).paths.lakehouse == str(tmp_path / "lh")


def test_cluster_profile_needs_its_environment(conf, monkeypatch):
    monkeypatch.delenv("RISKPIPE_LAKEHOUSE_URI", raising=False)
    with pytest.raises(ConfigError, match=r"cluster.yaml: key 'paths.lakehouse' needs environment variable "
                                          r"RISKPIPE_LAKEHOUSE_URI"):
        load_settings("cluster", directory=conf)
    monkeypatch.setenv("RISKPIPE_LAKEHOUSE_URI", "s3a://bank-lake/risk")
    monkeypatch.setenv("RISKPIPE_LANDING_URI", "s3a://bank-landing/risk")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.delenv("RISKPIPE_LAKEHOUSE", raising=False)
    cfg = load_settings("cluster", directory=conf)
    assert cfg.paths.lakehouse == "s3a://bank-lake/risk"
    assert cfg.spark.conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    with pytest.raises(ConfigError, match="RISKPIPE_PII_SALT"):
        monkeypatch.delenv("RISKPIPE_PII_SALT", raising=False)
        cfg.pii_salt()


def test_unknown_profile(conf):
    with pytest.raises(ConfigError, match=r"profile 'prod' not found \(known: cluster, local\)"):
        load_settings("prod", directory=conf)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["paths"].pop("lakehouse"), r"base.yaml: missing key 'paths.lakehouse'"),
    (lambda d: d["spark"].update(ui_enabled="yes"), r"base.yaml: key 'spark.ui_enabled' must be bool, got str"),
    (lambda d: d["paths"].update(lakehose="x"), r"base.yaml: unknown key 'paths.lakehose'"),
    (lambda d: d["airflow"].update(retries=1), r"key 'airflow.retries' must be >= 2"),
])
def test_a_wrong_base_key_names_file_and_key(conf, change, message):
    _edit(conf / "base.yaml", change)
    (conf / "profiles" / "local.yaml").write_text("{}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings("local", directory=conf)


def test_a_wrong_profile_key_names_the_profile(conf):
    (conf / "profiles" / "local.yaml").write_text("sprak:\n  master: local[1]\n")
    with pytest.raises(ConfigError, match=r"local.yaml: unknown key 'sprak'"):
        load_settings("local", directory=conf)


def test_use_cases_load_into_typed_objects():
    assert {"credit_default", "lead_scoring"} <= set(use_case_names())
    credit = load_use_case("credit_default")
    assert credit.primary_key == ["application_id"] and credit.schema["credit_amount"] == "double"
    assert credit.label.positive == "bad" and credit.label.column not in credit.schema
    assert "customer_id" in credit.pii and "customer_id" not in credit.features.names
    lead = load_use_case("lead_scoring")
    assert "duration" in lead.forbidden_features and "duration" not in lead.features.names
    # The landing contract's defaults: UTF-8, a changed header refuses the file, every string normalised in silver.
    assert (lead.source.encoding, lead.source.on_new_columns, lead.source.on_missing_columns) == (
        "utf-8", "quarantine_file", "quarantine_file")
    assert lead.text_columns == []


@pytest.mark.parametrize("change, message", [
    (lambda d: d["features"]["numeric"].append("duration"),
     r"lead_scoring.yaml: key 'features' uses forbidden column 'duration': known only after the call"),
    (lambda d: d["features"]["categorical"].append("customer_id"),
     r"key 'features' uses PII column 'customer_id'; PII is never a feature"),
    (lambda d: d.update(primary_key=["lead_key"]), r"key 'primary_key' names column 'lead_key', which is not in"),
    (lambda d: d["schema"].update(age="integer"), r"key 'schema.age' has type 'integer'"),
    (lambda d: d["features"]["derived"].append({"name": "x", "fn": "magic"}),
     r"key 'features.derived\[2\].fn' is 'magic'"),
    (lambda d: d.pop("label"), r"missing key 'label'"),
    (lambda d: d.update(colour="blue"), r"unknown key 'colour'"),
    (lambda d: d["source"].update(encoding="utf-16"), r"key 'source.encoding': encoding 'utf-16' is not supported"),
    (lambda d: d["source"].update(encoding="klingon"), r"key 'source.encoding': unknown encoding 'klingon'"),
    (lambda d: d["source"].update(on_new_columns="accept"),
     r"key 'source.on_new_columns' is 'accept'; use one of \['quarantine_file', 'ignore'\]"),
    (lambda d: d["source"].update(on_missing_columns="ignore"),
     r"key 'source.on_missing_columns' is 'ignore'; use one of \['quarantine_file', 'null_if_optional'\]"),
    (lambda d: d["source"].update(delimiter="||"), r"key 'source.delimiter' must be one character"),
    (lambda d: d.update(text_columns=["age"]), r"key 'text_columns' names 'age', which is int, not string"),
])
def test_a_wrong_use_case_names_file_and_key(conf, change, message):
    _edit(conf / "use_cases" / "lead_scoring.yaml", change)
    with pytest.raises(ConfigError, match=message):
        load_use_case("lead_scoring", directory=conf)


def test_missing_use_case_lists_the_known_ones(conf):
    with pytest.raises(ConfigError, match=r"use case 'mortgage' not found \(known: credit_default, lead_scoring\)"):
        load_use_case("mortgage", directory=conf)


def test_model_gate_and_fairness_load_into_typed_objects():
    credit = load_use_case("credit_default")
    model = credit.model
    assert model is not None and model.seed == 42 and model.decision_cutoff == 0.5
    assert (model.split.validation_fraction, model.split.holdout_fraction) == (0.2, 0.2)
    assert model.search.n_trials >= 1 and model.search.timeout_seconds > 0
    lr = model.search.space["learning_rate"]
    assert (lr.type, lr.low, lr.high, lr.log) == ("float", 0.02, 0.3, True)
    depth = model.search.space["max_depth"]
    assert (depth.type, depth.low, depth.high, depth.log) == ("int", 2, 6, False)
    assert 0.5 < credit.gate.auc_floor < 1 and credit.gate.min_improvement == 0.005
    assert credit.fairness.disparate_impact_min == 0.8 and credit.fairness.age_buckets == (25, 35, 50, 65)
    assert credit.fairness.positive_is_favourable is False  # a flagged application is the adverse outcome
    assert load_use_case("lead_scoring").fairness.positive_is_favourable is True  # a selected lead is favourable
    assert credit.gate.enforce_fairness is False  # recorded, not blocking (see the YAML)
    assert load_use_case("lead_scoring").model.search.space.keys() == model.search.space.keys()


def test_a_use_case_without_model_sections_has_no_model_and_default_fairness(conf):
    def strip(d):
        for key in ("model", "gate", "fairness", "scoring"):
            d.pop(key)
    _edit(conf / "use_cases" / "lead_scoring.yaml", strip)
    lead = load_use_case("lead_scoring", directory=conf)
    assert lead.model is None and lead.gate is None
    assert lead.fairness.disparate_impact_min == 0.8 and lead.fairness.equal_opportunity_max_diff == 0.1


def _space(d):
    return d["model"]["search"]["space"]


@pytest.mark.parametrize("change, message", [
    (lambda d: d["model"].pop("seed"), r"lead_scoring.yaml: missing key 'model.seed'"),
    (lambda d: d["model"].update(seed="42"), r"key 'model.seed' must be int, got str"),
    (lambda d: d["model"].update(decision_cutoff=1.5), r"key 'model.decision_cutoff' must be between 0.0 and 1.0"),
    (lambda d: d["model"].update(colour="blue"), r"unknown key 'model.colour'"),
    (lambda d: d["model"]["split"].update(validation_fraction=0.5, holdout_fraction=0.45),
     r"must leave at least 10% of the rows for training"),
    (lambda d: d["model"]["split"].update(holdout=0.2), r"unknown key 'model.split.holdout'"),
    (lambda d: d["model"]["search"].update(n_trials=0), r"key 'model.search.n_trials' must be >= 1"),
    (lambda d: d["model"]["search"].update(n_trials=2.5), r"key 'model.search.n_trials' must be int, got float"),
    (lambda d: _space(d).update(max_dept={"type": "int", "low": 2, "high": 6}),
     r"key 'model.search.space.max_dept' is not an XGBoost parameter"),
    (lambda d: _space(d)["max_depth"].update(type="integer"), r"key 'model.search.space.max_depth.type' is 'integer'"),
    (lambda d: _space(d)["max_depth"].update(low=6, high=2), r"key 'model.search.space.max_depth' needs low < high"),
    (lambda d: _space(d)["max_depth"].update(low=2.5), r"key 'model.search.space.max_depth.low' must be int, got float"),
    (lambda d: _space(d)["subsample"].update(low=0.0, log=True), r"has log: true, which needs low > 0"),
    (lambda d: _space(d)["subsample"].update(logg=True), r"unknown key 'model.search.space.subsample.logg'"),
    (lambda d: d.pop("gate"), r"missing key 'gate' \(a use case with a 'model' needs its quality gate\)"),
    (lambda d: d["gate"].update(auc_floor=0.4), r"key 'gate.auc_floor' must be between 0.5 and 1.0"),
    (lambda d: d["gate"].update(min_improvement="0.01"), r"key 'gate.min_improvement' must be float, got str"),
    (lambda d: d["gate"].update(floor=0.7), r"unknown key 'gate.floor'"),
    (lambda d: d["fairness"].update(disparate_impact_min=1.2), r"key 'fairness.disparate_impact_min' must be in"),
    (lambda d: d["fairness"].update(age_buckets=[25, 20]), r"key 'fairness.age_buckets' must be a non-empty, strictly"),
    (lambda d: d["fairness"].update(age_buckets=[25, "old"]), r"key 'fairness.age_buckets\[1\]' must be a number"),
    (lambda d: d["fairness"].update(di_min=0.8), r"unknown key 'fairness.di_min'"),
    (lambda d: d["fairness"].update(positive_is_favourable="yes"),
     r"key 'fairness.positive_is_favourable' must be bool, got str"),
    (lambda d: d["gate"].update(enforce_fairness=1), r"key 'gate.enforce_fairness' must be bool, got int"),
])
def test_a_wrong_model_gate_or_fairness_key_names_file_and_key(conf, change, message):
    _edit(conf / "use_cases" / "lead_scoring.yaml", change)
    with pytest.raises(ConfigError, match=message):
        load_use_case("lead_scoring", directory=conf)


def test_scorecard_section_is_optional_and_typed():
    sc = load_use_case("credit_default").scorecard
    assert sc is not None and (sc.base_score, sc.base_odds, sc.pdo) == (600.0, 50.0, 20.0)
    c = sc.checks
    assert c.min_samples == 500 and c.default_rate_range == (0.01, 0.5) and c.auc_floor == 0.7
    assert (c.max_weight_change, c.min_correlation, c.max_band_psi) == (0.5, 0.8, 0.25)
    assert load_use_case("lead_scoring").scorecard is None  # no section: no scorecard


@pytest.mark.parametrize("change, message", [
    (lambda d: d["scorecard"].pop("pdo"), r"credit_default.yaml: missing key 'scorecard.pdo'"),
    (lambda d: d["scorecard"].update(pdo=0), r"key 'scorecard.pdo' must be > 0"),
    (lambda d: d["scorecard"].update(base_score="600"), r"key 'scorecard.base_score' must be float, got str"),
    (lambda d: d["scorecard"]["checks"].update(default_rate_range=[0.5, 0.1]),
     r"key 'scorecard.checks.default_rate_range' must be \[low, high\]"),
    (lambda d: d["scorecard"]["checks"].update(auc_floor=1.2), r"key 'scorecard.checks.auc_floor' must be between"),
    (lambda d: d["scorecard"]["checks"].update(min_corr=0.8), r"unknown key 'scorecard.checks.min_corr'"),
    (lambda d: d["scorecard"].update(colour="blue"), r"unknown key 'scorecard.colour'"),
])
def test_a_wrong_scorecard_key_names_file_and_key(conf, change, message):
    _edit(conf / "use_cases" / "credit_default.yaml", change)
    with pytest.raises(ConfigError, match=message):
        load_use_case("credit_default", directory=conf)


def test_scoring_and_monitoring_sections_are_typed():
    credit = load_use_case("credit_default")
    assert [b.name for b in credit.scoring.bands] == ["approve", "review", "decline"]
    assert credit.scoring.band(0.1) == "approve" and credit.scoring.band(0.3) == "approve"
    assert credit.scoring.band(0.31) == "review" and credit.scoring.band(0.99) == "decline"
    assert credit.monitoring.drift.psi_alert == 0.25 and credit.monitoring.retrain.alert_runs == 3


@pytest.mark.parametrize("change, message", [
    (lambda d: d["scoring"]["bands"][2].update(max_score=0.9), r"the last one 1.0"),
    (lambda d: d["scoring"]["bands"][1].update(max_score=0.2), r"strictly increasing"),
    (lambda d: d["scoring"]["reason_codes"].update(bands=["maybe"]), r"names band 'maybe'"),
    (lambda d: d["scoring"]["reason_codes"].update(mode="fast"), r"'scoring.reason_codes.mode' is 'fast'"),
    (lambda d: d["scoring"].update(canary_fraction=1.5), r"'scoring.canary_fraction' must be in \[0, 1\)"),
    (lambda d: d["monitoring"]["drift"].update(psi_warn=0.5), r"'monitoring.drift.psi_warn' \(0.5\) must not exceed"),
    (lambda d: d["monitoring"]["retrain"].update(alert_runs=6), r"need 1 <= alert_runs <= window_runs"),
    (lambda d: d["monitoring"]["retrain"].update(window_run=6), r"unknown key 'monitoring.retrain.window_run'"),
    (lambda d: d["monitoring"]["drift"].update(psi_alert=-1), r"'monitoring.drift.psi_alert' must be a number >= 0"),
])
def test_bad_scoring_or_monitoring_config_names_the_key(conf, change, message):
    _edit(conf / "use_cases" / "lead_scoring.yaml", change)
    with pytest.raises(ConfigError, match=message):
        load_use_case("lead_scoring", directory=conf)
