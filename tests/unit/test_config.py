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
])
def test_a_wrong_use_case_names_file_and_key(conf, change, message):
    _edit(conf / "use_cases" / "lead_scoring.yaml", change)
    with pytest.raises(ConfigError, match=message):
        load_use_case("lead_scoring", directory=conf)


def test_missing_use_case_lists_the_known_ones(conf):
    with pytest.raises(ConfigError, match=r"use case 'mortgage' not found \(known: credit_default, lead_scoring\)"):
        load_use_case("mortgage", directory=conf)
