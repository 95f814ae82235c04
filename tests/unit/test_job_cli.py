"""Every job is a command: ``python -m jobs.<job> --help`` works; bad arguments fail with a clear message."""
from __future__ import annotations

import subprocess
import sys

import pytest

JOBS = ["bronze", "silver", "gold", "replay", "smoke", "run_pipeline"]


@pytest.mark.parametrize("job", JOBS)
def test_help(job):
    out = subprocess.run([sys.executable, "-m", f"jobs.{job}", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout


@pytest.mark.parametrize("job", ["bronze", "silver", "gold"])
def test_layer_jobs_take_use_case_and_date(job):
    out = subprocess.run([sys.executable, "-m", f"jobs.{job}", "--help"], capture_output=True, text=True, timeout=60)
    assert "--use-case" in out.stdout and "--ds" in out.stdout and "credit_default" in out.stdout


def test_a_bad_date_is_refused_before_spark_starts():
    out = subprocess.run([sys.executable, "-m", "jobs.bronze", "--use-case", "credit_default", "--ds", "2026-13-01"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "not a date (YYYY-MM-DD): '2026-13-01'" in out.stderr


def test_an_unknown_use_case_names_the_known_ones():
    out = subprocess.run([sys.executable, "-m", "jobs.silver", "--use-case", "mortgage", "--ds", "2026-01-01"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "use case 'mortgage' not found (known: credit_default, lead_scoring)" in out.stderr
