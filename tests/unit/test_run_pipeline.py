"""``make run``'s driver (``jobs.run_pipeline``): the landing files are replayed once per set of arguments, so a
second ``make run`` does not rewrite what the first landed, and a changed replay is written again."""
from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import configured


def _landed(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*.csv"))}


def _event_dates(files) -> set[str]:
    """The dates with an events file (``credit_default/events/ds=<date>/...``)."""
    return {Path(name).parts[2][3:] for name in files if Path(name).parts[1] == "events"}


def test_landing_files_are_replayed_once_per_set_of_arguments(tmp_path, capsys):
    from jobs.run_pipeline import DEMO_DRIFT, ensure_landing

    root = tmp_path / "landing"
    with configured(RISKPIPE_LANDING=str(root)):
        ensure_landing("credit_default", "2026-01-01", 3, 0.0, "2026-01-03")
        first = _landed(root)
        stamp = json.loads((root / "credit_default" / ".replay.json").read_text())
        assert stamp == {"start": "2026-01-01", "days": 3, "malformed_rate": 0.0, "drift_from": "2026-01-03",
                         "drift": DEMO_DRIFT["credit_default"]}
        assert _event_dates(first) == {"2026-01-01", "2026-01-02", "2026-01-03"}

        capsys.readouterr()
        ensure_landing("credit_default", "2026-01-01", 3, 0.0, "2026-01-03")  # the same replay: left as it is
        assert "already there" in capsys.readouterr().out
        assert _landed(root) == first

        ensure_landing("credit_default", "2026-01-01", 4, 0.0, "2026-01-03")  # one more day: replayed again
        again = _landed(root)
        assert _event_dates(again) == {"2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"}
        assert json.loads((root / "credit_default" / ".replay.json").read_text())["days"] == 4
