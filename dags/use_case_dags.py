"""Airflow DAGs of every use case in conf/use_cases/ (built by plugins/dag_factory.py, which says what they do)."""
from __future__ import annotations

from plugins.dag_factory import build_all

globals().update(build_all())
