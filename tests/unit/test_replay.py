"""Unit tests of jobs.replay: a history load, then daily landing files from the public samples (pure pandas,
no Spark). Tests of the layout without the history load pass ``history=False``."""
from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from jobs.lib.config import load_use_case
from jobs.replay import (
    DEFAULT_HISTORY_DAYS,
    DEFAULT_HISTORY_SHARE,
    DEFAULT_ROWS_PER_DAY,
    MALFORMED_KINDS,
    ReplayError,
    load_sample,
    main,
    parse_drift,
    replay,
)

START = date(2026, 1, 1)
CREDIT_HISTORY = 800  # round(0.8 * 1000) German credit rows
LEADS_HISTORY = 3617  # round(0.8 * 4521) bank marketing rows


@pytest.fixture(scope="module")
def credit():
    return load_use_case("credit_default")


@pytest.fixture(scope="module")
def leads():
    return load_use_case("lead_scoring")


def ds(offset: int) -> str:
    return (START + timedelta(days=offset)).isoformat()


def events_file(root: Path, use_case: str, day: str) -> Path:
    return root / use_case / "events" / f"ds={day}" / "part-00000.csv"


def labels_file(root: Path, use_case: str, day: str) -> Path:
    return root / use_case / "labels" / f"ds={day}" / "part-00000.csv"


def read_events(root: Path, use_case: str, day: str) -> pd.DataFrame:
    return pd.read_csv(events_file(root, use_case, day), dtype=str, keep_default_na=False)


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def all_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for name, content in all_bytes(root).items():
        h.update(name.encode() + b"\0" + content + b"\0")
    return h.hexdigest()


def daily(frame: pd.DataFrame, day: str, date_col: str = "application_date") -> pd.DataFrame:
    """The daily-stream rows of a day's events file (the history rows are dated before the day)."""
    return frame[frame[date_col] == day]


def data_cols(use_case) -> list[str]:
    """The sample's columns in the landing schema (not the key, event date and customer the replay adds)."""
    added = (use_case.primary_key[0], use_case.event_timestamp, use_case.entity)
    return [c for c in use_case.schema if c not in added]


# Digest of the files the replay wrote before the history load existed (commit 583a1ae, jobs/replay.py), for
# the two calls in test_no_history_gives_the_old_layout_byte_for_byte: history=False must keep them.
OLD_LAYOUT_DIGEST = "9b08b4d3b7e7fe988c121003d74e4d98de787036618f242186cbafd781f754c0"


# ------------------------------------------------------------------------------- history, then days
def test_default_layout_history_then_daily(tmp_path, credit):
    days, maturity = 5, credit.label.maturity_days
    summary = replay(credit, START, days, landing_root=tmp_path)
    assert summary.history and summary.rows_per_day == DEFAULT_ROWS_PER_DAY == 500
    assert summary.history_days == DEFAULT_HISTORY_DAYS and summary.history_share == DEFAULT_HISTORY_SHARE
    assert summary.history_events == summary.history_labels == CREDIT_HISTORY
    for i in range(days):
        header, rows = read_rows(events_file(tmp_path, "credit_default", ds(i)))
        assert header == list(credit.schema)
        assert "creditability" not in header
        assert all(len(r) == len(header) for r in rows)
        history = [r for r in rows if r[1] != ds(i)]
        today = [r for r in rows if r[1] == ds(i)]
        assert len(history) == (CREDIT_HISTORY if i == 0 else 0)
        assert rows[:len(history)] == history  # history rows first, then the day's own rows
        assert len(today) == summary.daily_events[ds(i)] == 500
        assert len(rows) == summary.events[ds(i)] == len(history) + 500
        assert all(r[0].startswith(f"CD-{ds(i).replace('-', '')}-") for r in today)
        assert all(r[2].startswith("C") and r[2][1:].isdigit() for r in rows)
    assert summary.total_events == summary.history_events + summary.total_daily_events == CREDIT_HISTORY + 5 * 500
    # event folders for the landing days only (history dates get none); label files from start to last day + delay
    event_days = sorted(p.name for p in (tmp_path / "credit_default" / "events").iterdir())
    assert event_days == [f"ds={ds(i)}" for i in range(days)]
    label_days = sorted(p.name for p in (tmp_path / "credit_default" / "labels").iterdir())
    assert label_days == [f"ds={ds(i)}" for i in range(days + maturity)]
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "part-00000.csv"]  # no temp leftovers
    assert len(summary.files) == days + days + maturity
    assert all(Path(f).is_file() for f in summary.files)


@pytest.mark.parametrize("history_days", [DEFAULT_HISTORY_DAYS, 30])
def test_history_rows_dated_before_start_all_in_start_folder(tmp_path, credit, history_days):
    days = 3
    summary = replay(credit, START, days, history_days=history_days, landing_root=tmp_path)
    events = read_events(tmp_path, "credit_default", ds(0))
    history = events[events["application_date"] < ds(0)]
    assert len(history) == summary.history_events == CREDIT_HISTORY
    dates = pd.to_datetime(history["application_date"]).dt.date
    assert dates.min() == START - timedelta(days=history_days)
    # the latest history event is as recent as possible with its label matured by start (gold's rule)
    assert dates.max() == START - timedelta(days=credit.label.maturity_days)
    assert (summary.history_from, summary.history_to) == (dates.min().isoformat(), dates.max().isoformat())
    assert dates.is_monotonic_increasing  # oldest first
    per_day = dates.value_counts()
    assert len(per_day) == history_days - credit.label.maturity_days + 1  # every date of the span is used
    assert per_day.max() - per_day.min() <= 1  # spread evenly
    # keys carry the event date, like the daily ones
    assert history["application_id"].str.fullmatch(r"CD-\d{8}-\d{6}").all()
    assert (history["application_id"].str[3:11] == history["application_date"].str.replace("-", "")).all()
    for i in range(1, days):  # later files hold only rows dated that day
        assert set(read_events(tmp_path, "credit_default", ds(i))["application_date"]) == {ds(i)}


@pytest.mark.parametrize("delay", [None, 0, 2, 10])
def test_history_labels_all_in_start_matured_daily_labels_delay_days_later(tmp_path, credit, delay):
    days, maturity = 8, credit.label.maturity_days
    summary = replay(credit, START, days, label_delay_days=delay, landing_root=tmp_path)
    delay = maturity if delay is None else delay
    assert summary.label_delay_days == delay
    events = read_events(tmp_path, "credit_default", ds(0))
    history = events[events["application_date"] < ds(0)]
    history_keys = set(history["application_id"])
    # every history label is in labels/ds=<start>, first, in the order of the events file
    first = pd.read_csv(labels_file(tmp_path, "credit_default", ds(0)), dtype=str)
    assert list(first["application_id"][:CREDIT_HISTORY]) == list(history["application_id"])
    assert summary.history_labels == CREDIT_HISTORY
    assert summary.labels[ds(0)] == len(first) == CREDIT_HISTORY + (500 if delay == 0 else 0)
    # matured on start by gold's rule (ds >= event date + maturity_days) and by the replay's delay
    event_dates = pd.to_datetime(history["application_date"]).dt.date
    assert (event_dates <= START - timedelta(days=max(delay, maturity))).all()
    # daily labels: exactly the day's keys, delay days later; no history label in any other file
    sample_labels = set(load_sample(credit)["creditability"])
    seen: set[str] = set()
    label_days = sorted(p.name[3:] for p in (tmp_path / "credit_default" / "labels").iterdir())
    assert label_days == [ds(i) for i in range(days + delay)]
    for label_day in label_days:
        labels = pd.read_csv(labels_file(tmp_path, "credit_default", label_day), dtype=str)
        assert list(labels.columns) == ["application_id", "creditability"]
        assert set(labels["creditability"]) <= sample_labels
        own = labels[~labels["application_id"].isin(history_keys)]
        assert label_day == ds(0) or len(own) == len(labels)
        i = (date.fromisoformat(label_day) - START).days - delay  # the event day these labels belong to
        if i < 0:  # nothing of the daily stream has matured yet: header only (start: the history's labels)
            assert own.empty
            if label_day != ds(0):
                assert labels_file(tmp_path, "credit_default", label_day).read_text() == "application_id,creditability\n"
        else:
            keys = daily(read_events(tmp_path, "credit_default", ds(i)), ds(i))["application_id"]
            assert list(own["application_id"]) == list(keys)  # exactly one label per event key
        seen.update(labels["application_id"])
    assert len(seen) == summary.total_labels == summary.total_events


def test_history_is_real_sample_rows_daily_stream_resamples_the_rest(tmp_path, credit):
    replay(credit, START, 3, landing_root=tmp_path)
    cols = data_cols(credit)
    sample = load_sample(credit)
    events = read_events(tmp_path, "credit_default", ds(0))
    labels = pd.read_csv(labels_file(tmp_path, "credit_default", ds(0)), dtype=str)
    history = events[events["application_date"] < ds(0)].merge(labels, on="application_id")
    assert len(history) == CREDIT_HISTORY
    # the history rows with their labels are sample rows, unchanged (no noise), each used at most once
    want = Counter(map(tuple, sample[[*cols, "creditability"]].to_numpy()))
    got = Counter(map(tuple, history[[*cols, "creditability"]].to_numpy()))
    assert not got - want
    rest = want - got
    # the daily rows come from the other sample rows: same categorical values, numerics with noise
    categorical = [c for c in cols if credit.schema[c] == "string"]
    at = [cols.index(c) for c in categorical]
    rest_categories = {tuple(row[j] for j in at) for row in rest}
    frames = [daily(read_events(tmp_path, "credit_default", ds(i)), ds(i)) for i in range(3)]
    stream = pd.concat(frames, ignore_index=True)
    assert set(map(tuple, stream[categorical].to_numpy())) <= rest_categories
    assert not set(stream["credit_amount"]) <= set(sample["credit_amount"])  # noise applied


def test_rows_per_day_none_with_history_uses_every_sample_row_once(tmp_path, credit):
    days = 20
    summary = replay(credit, START, days, rows_per_day=None, landing_root=tmp_path)
    assert summary.rows_per_day is None
    frames = [read_events(tmp_path, "credit_default", ds(i)) for i in range(days)]
    assert summary.total_events == sum(map(len, frames)) == 1000
    assert summary.history_events == CREDIT_HISTORY
    assert set(summary.daily_events.values()) == {10}  # the other 200 rows, spread evenly
    events = pd.concat(frames, ignore_index=True)
    assert events["application_id"].is_unique
    cols = data_cols(credit)
    got = events[cols].sort_values(cols).reset_index(drop=True)
    want = load_sample(credit)[cols].sort_values(cols).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


def test_thirty_days_both_use_cases_volume_and_unique_keys(tmp_path, credit, leads):
    """(How long it takes is not asserted here: ~1.5 s on 2 cores, see the replay module's docstring.)"""
    days = 30
    summaries = {uc.name: replay(uc, START, days, malformed_rate=0.0, landing_root=tmp_path) for uc in (credit, leads)}
    for uc, n_history in ((credit, CREDIT_HISTORY), (leads, LEADS_HISTORY)):
        summary, key = summaries[uc.name], uc.primary_key[0]
        assert summary.history_events == n_history
        assert summary.daily_events == {ds(i): 500 for i in range(days)}
        events = pd.concat([read_events(tmp_path, uc.name, ds(i)) for i in range(days)], ignore_index=True)
        assert len(events) == summary.total_events == n_history + days * 500
        assert events[key].is_unique  # across the whole replay: history and every resampled row
        labels = pd.concat([pd.read_csv(p, dtype=str) for p in sorted((tmp_path / uc.name / "labels").rglob("*.csv"))],
                           ignore_index=True)
        assert labels[key].is_unique and set(labels[key]) == set(events[key])
        assert len(labels) == summary.total_labels
        assert summary.labels[ds(0)] == n_history  # the history's labels; the first daily ones land later
        assert events[uc.entity].nunique() < len(events)  # customers come back


def test_history_share_zero_and_bounds(tmp_path, credit):
    summary = replay(credit, START, 2, history_share=0.0, landing_root=tmp_path)
    assert summary.history_events == summary.history_labels == 0 and summary.history_from is None
    assert summary.events == {ds(0): 500, ds(1): 500}
    assert labels_file(tmp_path, "credit_default", ds(0)).read_text() == "application_id,creditability\n"


# -------------------------------------------------------------------------- without the history load
def test_no_history_gives_the_old_layout_byte_for_byte(tmp_path, credit, leads):
    replay(credit, START, 5, history=False, malformed_rate=0.05, label_delay_days=2, landing_root=tmp_path)
    replay(leads, START, 2, history=False, rows_per_day=300, malformed_rate=0.02, drift_from=ds(1),
           drift=["balance=shift:1.5"], landing_root=tmp_path)
    assert digest(tmp_path) == OLD_LAYOUT_DIGEST


def test_no_history_layout_header_and_columns(tmp_path, credit):
    summary = replay(credit, START, 5, history=False, landing_root=tmp_path)
    assert not summary.history and summary.rows_per_day is None and summary.history_events == 0
    for i in range(5):
        path = events_file(tmp_path, "credit_default", ds(i))
        assert path.is_file()
        header, rows = read_rows(path)
        assert header == list(credit.schema)
        assert "creditability" not in header
        assert len(rows) == summary.events[ds(i)] == summary.daily_events[ds(i)] == 200
        assert all(len(r) == len(header) for r in rows)
        assert {r[1] for r in rows} == {ds(i)}  # event date = the day
        assert all(r[0].startswith(f"CD-{ds(i).replace('-', '')}-") for r in rows)
        assert all(r[2].startswith("C") and r[2][1:].isdigit() for r in rows)
    # label files for every day from the start to the last event day + delay; only those
    label_days = sorted(p.name for p in (tmp_path / "credit_default" / "labels").iterdir())
    assert label_days == [f"ds={ds(i)}" for i in range(5 + credit.label.maturity_days)]
    for i in range(credit.label.maturity_days):  # nothing has matured yet: header only
        assert labels_file(tmp_path, "credit_default", ds(i)).read_text() == "application_id,creditability\n"
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "part-00000.csv"]  # no temp leftovers
    assert len(summary.files) == 5 + 5 + credit.label.maturity_days
    assert all(Path(f).is_file() for f in summary.files)


def test_no_history_every_sample_row_used_once(tmp_path, credit):
    days = 60
    summary = replay(credit, START, days, history=False, landing_root=tmp_path)
    frames = [read_events(tmp_path, "credit_default", ds(i)) for i in range(days)]
    sizes = [len(f) for f in frames]
    assert sum(sizes) == summary.total_events == 1000
    assert max(sizes) - min(sizes) <= 1  # spread evenly
    events = pd.concat(frames, ignore_index=True)
    assert events["application_id"].is_unique
    # the multiset of sample rows is exactly the sample
    sample = load_sample(credit)
    cols = data_cols(credit)
    got = events[cols].sort_values(cols).reset_index(drop=True)
    want = sample[cols].sort_values(cols).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    # customers come from a pool of 0.7 * rows, so some apply more than once
    assert events["customer_id"].nunique() < 1000
    assert summary.customers == 700


def test_lead_scoring_rename_and_drop(tmp_path, leads):
    summary = replay(leads, START, 3, landing_root=tmp_path)
    header, rows = read_rows(events_file(tmp_path, "lead_scoring", ds(0)))
    assert header == list(leads.schema)
    assert "id" not in header and "has_default" in header and "contact_month" in header
    assert rows[0][0].startswith("LS-2025") and rows[-1][0].startswith("LS-20260101-")  # history, then the day
    assert summary.history_events == LEADS_HISTORY
    assert summary.total_events == LEADS_HISTORY + 3 * 500
    labels = pd.read_csv(labels_file(tmp_path, "lead_scoring", ds(leads.label.maturity_days)), dtype=str)
    assert list(labels.columns) == ["lead_id", "y"]
    assert set(labels["y"]) <= {"yes", "no"}
    assert replay(leads, START, 3, history=False, landing_root=tmp_path / "old").total_events == 4521


# ------------------------------------------------------------------------------------- determinism
def test_same_seed_same_bytes_other_seed_differs(tmp_path, credit):
    kwargs = dict(malformed_rate=0.05, drift_from=ds(3), drift=["credit_amount=shift:1.5", "purpose=mix:car (new):0.5"])
    replay(credit, START, 6, seed=11, landing_root=tmp_path / "a", **kwargs)
    replay(credit, START, 6, seed=11, landing_root=tmp_path / "b", **kwargs)
    replay(credit, START, 6, seed=12, landing_root=tmp_path / "c", **kwargs)
    a, b, c = (all_bytes(tmp_path / x) for x in "abc")
    assert a == b
    assert a.keys() == c.keys() and a != c
    first = "credit_default/events/ds=2026-01-01/part-00000.csv"
    assert a[first] != c[first]
    history = "credit_default/labels/ds=2026-01-01/part-00000.csv"  # the history's labels: another shuffle
    assert a[history] != c[history]


def test_rerun_overwrites_with_identical_files(tmp_path, credit, leads):
    replay(credit, START, 3, rows_per_day=50, landing_root=tmp_path)
    replay(leads, START, 3, malformed_rate=0.02, landing_root=tmp_path)
    before = all_bytes(tmp_path)
    replay(credit, START, 3, rows_per_day=50, landing_root=tmp_path)
    replay(leads, START, 3, malformed_rate=0.02, landing_root=tmp_path)
    assert all_bytes(tmp_path) == before


# ------------------------------------------------------------------------------------------ labels
def test_label_values_match_sample(tmp_path, credit):
    replay(credit, START, 2, history=False, label_delay_days=1, landing_root=tmp_path)
    events = read_events(tmp_path, "credit_default", ds(0))
    labels = pd.read_csv(labels_file(tmp_path, "credit_default", ds(1)), dtype=str)
    joined = events.merge(labels, on="application_id")
    sample = load_sample(credit)
    cols = data_cols(credit)
    # each event row with its label is a row of the sample
    want = set(map(tuple, sample[[*cols, "creditability"]].to_numpy()))
    assert set(map(tuple, joined[[*cols, "creditability"]].to_numpy())) <= want


# ---------------------------------------------------------------------------------------- scaling
def test_rows_per_day_scaling_and_noise(tmp_path, credit):
    summary = replay(credit, START, 4, history=False, rows_per_day=2500, landing_root=tmp_path)
    assert summary.events == {ds(i): 2500 for i in range(4)}
    frames = [read_events(tmp_path, "credit_default", ds(i)) for i in range(4)]
    events = pd.concat(frames, ignore_index=True)
    assert len(events) == 10_000 and events["application_id"].is_unique
    assert summary.customers == 7000 and events["customer_id"].nunique() < 7000
    sample = load_sample(credit)
    amount = events["credit_amount"].astype(float)
    base = sample["credit_amount"].astype(float)
    assert amount.mean() == pytest.approx(base.mean(), rel=0.08)
    assert (amount >= 0).all()
    assert not set(events["credit_amount"]) <= set(sample["credit_amount"])  # noise applied
    ages = events["age_in_years"]
    assert ages.str.fullmatch(r"\d+").all()  # ints stay ints
    assert ages.astype(int).between(int(sample["age_in_years"].astype(int).min()),
                                    int(sample["age_in_years"].astype(int).max())).all()
    assert len(pd.read_csv(labels_file(tmp_path, "credit_default", ds(credit.label.maturity_days)))) == 2500


def test_rows_per_day_with_history_and_customers(tmp_path, credit):
    summary = replay(credit, START, 4, rows_per_day=2500, landing_root=tmp_path)
    assert summary.daily_events == {ds(i): 2500 for i in range(4)}
    assert summary.customers == int(0.7 * (CREDIT_HISTORY + 10_000))
    events = pd.concat([read_events(tmp_path, "credit_default", ds(i)) for i in range(4)], ignore_index=True)
    assert events["application_id"].is_unique and len(events) == CREDIT_HISTORY + 10_000
    ages = events["age_in_years"]
    assert ages.str.fullmatch(r"\d+").all()  # ints stay ints, history and stream alike


# ------------------------------------------------------------------------------------------ drift
def test_drift_shift_after_drift_date_only(tmp_path, credit):
    days, drift_day = 20, 10
    replay(credit, START, days, landing_root=tmp_path / "base")
    summary = replay(credit, START, days, drift_from=ds(drift_day), drift=["credit_amount=shift:1.5"],
                     landing_root=tmp_path / "drift")
    assert summary.drift_days == [ds(i) for i in range(drift_day, days)]
    for i in range(days):
        base = read_events(tmp_path / "base", "credit_default", ds(i))
        drifted = read_events(tmp_path / "drift", "credit_default", ds(i))
        assert list(base["application_id"]) == list(drifted["application_id"])  # same rows either way
        ratio = drifted["credit_amount"].astype(float).mean() / base["credit_amount"].astype(float).mean()
        if i < drift_day:
            assert ratio == 1.0
            pd.testing.assert_frame_equal(base, drifted)
        else:
            assert ratio == pytest.approx(1.5, rel=1e-3)
            other = [c for c in base.columns if c != "credit_amount"]
            pd.testing.assert_frame_equal(base[other], drifted[other])


def test_drift_never_touches_the_history(tmp_path, credit):
    replay(credit, START, 2, landing_root=tmp_path / "base")
    summary = replay(credit, START, 2, drift_from=ds(0), drift=["credit_amount=shift:2"], landing_root=tmp_path / "drift")
    assert summary.drift_days == [ds(0), ds(1)]
    base = read_events(tmp_path / "base", "credit_default", ds(0))
    drifted = read_events(tmp_path / "drift", "credit_default", ds(0))
    history = base["application_date"] < ds(0)
    pd.testing.assert_frame_equal(base[history], drifted[history])
    ratio = drifted[~history]["credit_amount"].astype(float).mean() / base[~history]["credit_amount"].astype(float).mean()
    assert ratio == pytest.approx(2.0, rel=1e-3)


def test_drift_mix_replaces_a_share(tmp_path, credit):
    replay(credit, START, 2, rows_per_day=4000, drift_from=ds(1), drift=["purpose=mix:car (new):0.5"],
           landing_root=tmp_path)
    before = daily(read_events(tmp_path, "credit_default", ds(0)), ds(0))["purpose"]
    after = read_events(tmp_path, "credit_default", ds(1))["purpose"]
    share_before = (before == "car (new)").mean()
    share_after = (after == "car (new)").mean()
    # 0.5 forced + 0.5 * natural share
    assert share_after == pytest.approx(0.5 + 0.5 * share_before, abs=0.04)
    assert share_before < 0.35


@pytest.mark.parametrize("spec, words", [
    ("nope=shift:2", "unknown column 'nope'"),
    ("credit_amount=shift:abc", "not a number"),
    ("credit_amount=scale:2", "unknown drift kind"),
    ("purpose=shift:2", "numeric"),
    ("purpose=mix:car (new)", "VALUE:P"),
    ("purpose=mix:car (new):1.5", "between 0 and 1"),
    ("credit_amount", "column="),
    ("application_id=mix:x:0.1", "unknown column"),
])
def test_bad_drift_spec_raises_clear_error(credit, spec, words):
    with pytest.raises(ReplayError) as err:
        parse_drift(spec, credit)
    assert repr(spec) in str(err.value) and words in str(err.value)


def test_drift_needs_drift_from(tmp_path, credit):
    with pytest.raises(ReplayError, match="--drift-from"):
        replay(credit, START, 2, drift=["credit_amount=shift:2"], landing_root=tmp_path)


def test_cli_bad_drift_exit_code(tmp_path, capsys):
    code = main(["--use-case", "credit_default", "--start", "2026-01-01", "--days", "2", "--landing", str(tmp_path),
                 "--drift-from", "2026-01-02", "--drift", "nope=shift:2"])
    assert code == 2
    assert "nope=shift:2" in capsys.readouterr().err


# -------------------------------------------------------------------------------------- malformed
def test_malformed_counts_match_summary_and_lines_are_broken(tmp_path, credit):
    days, rate = 10, 0.05
    summary = replay(credit, START, days, malformed_rate=rate, label_delay_days=2, landing_root=tmp_path)
    assert summary.total_malformed() == round(rate * days * 500)  # of the daily stream; the history is clean
    by_kind = summary.malformed_by_kind()
    assert set(by_kind) == set(MALFORMED_KINDS) and all(n == 50 for n in by_kind.values())  # even mix

    schema = credit.schema
    ncols = len(schema)
    sample = load_sample(credit)
    numeric = [c for c, t in schema.items() if t in ("int", "double")]
    found_total = dict.fromkeys(MALFORMED_KINDS, 0)
    for i in range(days):
        day = ds(i)
        header, rows = read_rows(events_file(tmp_path, "credit_default", day))
        assert len(rows) == summary.events[day]
        found = dict.fromkeys(MALFORMED_KINDS, 0)
        keys = [r[0] for r in rows]
        found["duplicate"] = len(keys) - len(set(keys))
        for r in rows:
            assert r[0].startswith("CD-")  # every line keeps its key
            if len(r) < ncols:
                found["truncated"] += 1
                continue
            assert len(r) == ncols
            values = dict(zip(header, r))
            if any(values[c] == "" for c in credit.required):
                found["empty_required"] += 1
                continue
            bad_number = False
            for c in numeric:
                try:
                    float(values[c])
                except ValueError:
                    bad_number = True
            if bad_number:
                found["non_numeric"] += 1
                continue
            if any(float(values[c]) < 0 <= sample[c].astype(float).min() for c in numeric):
                found["out_of_range"] += 1
        assert found == summary.malformed[day], day
        for k, n in found.items():
            found_total[k] += n
        # labels: one per distinct daily key (the history's are on start); rows replaced by duplicates have none
        daily_keys = [k for k in keys if k.startswith(f"CD-{day.replace('-', '')}-")]  # (the date may be blanked)
        assert len(daily_keys) == summary.daily_events[day] == 500
        labels = pd.read_csv(labels_file(tmp_path, "credit_default", ds(i + 2)), dtype=str)
        assert labels["application_id"].is_unique
        assert set(labels["application_id"]) == set(daily_keys)
        assert summary.labels[ds(i + 2)] == len(set(daily_keys)) == len(daily_keys) - found["duplicate"]
    assert found_total == by_kind
    # the history rows and labels are untouched: all 800 in start's files
    assert summary.labels[ds(0)] == summary.history_labels == CREDIT_HISTORY

    # the injected list agrees with the files
    assert len(summary.injected) == summary.total_malformed()
    for inj in summary.injected:
        header, rows = read_rows(events_file(tmp_path, "credit_default", inj.ds))
        if inj.ds == ds(0):
            assert inj.line > CREDIT_HISTORY  # never a history line
        line = rows[inj.line - 1]
        assert line[0] == inj.key and inj.key.startswith(f"CD-{inj.ds.replace('-', '')}-")
        if inj.kind == "empty_required":
            assert inj.column in credit.required and inj.column != "application_id"
            assert line[header.index(inj.column)] == ""
        elif inj.kind == "non_numeric":
            assert "x" in line[header.index(inj.column)]
        elif inj.kind == "out_of_range":
            assert float(line[header.index(inj.column)]) < 0
        elif inj.kind == "duplicate":
            assert sum(r == line for r in rows) >= 2


def test_malformed_with_scaling_and_lead_scoring(tmp_path, leads):
    summary = replay(leads, START, 2, rows_per_day=1000, malformed_rate=0.01, landing_root=tmp_path)
    assert summary.total_malformed() == 20
    assert all(sum(per.values()) == 10 for per in summary.malformed.values())
    for inj in summary.injected:
        text = events_file(tmp_path, "lead_scoring", inj.ds).read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(text)))
        assert len(rows) == 1001 + (LEADS_HISTORY if inj.ds == ds(0) else 0)
        assert rows[inj.line][0] == inj.key
        if inj.kind == "out_of_range":
            assert inj.column == "age"  # balance can be negative, so it is never the out-of-range column
            assert rows[inj.line][rows[0].index("age")] == "-5"


# ---------------------------------------------------------------------------------- arguments, CLI
@pytest.mark.parametrize("kwargs, words", [
    (dict(days=0), "days"),
    (dict(rows_per_day=0), "rows_per_day"),
    (dict(rows_per_day="lots"), "rows_per_day"),
    (dict(malformed_rate=1.5), "malformed_rate"),
    (dict(label_delay_days=-1), "label_delay_days"),
    (dict(customers_share=0), "customers_share"),
    (dict(history_share=1.0), "history_share"),
    (dict(history_share=-0.1), "history_share"),
    (dict(history_days=5), "history_days must be an integer >= 6"),  # labels could not have matured by start
    (dict(history_days=8, label_delay_days=9), "history_days must be an integer >= 9"),
    (dict(history="yes"), "history"),
])
def test_bad_arguments(tmp_path, credit, kwargs, words):
    args = dict(days=2) | kwargs
    days = args.pop("days")
    with pytest.raises(ReplayError, match=words):
        replay(credit, START, days, landing_root=tmp_path, **args)


def test_cli_runs_and_prints_summary(tmp_path, capsys):
    code = main(["--use-case", "credit_default", "--start", "2026-01-01", "--days", "25", "--landing", str(tmp_path),
                 "--seed", "3", "--malformed-rate", "0.01", "--label-delay-days", "1"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    # Replay's lines all start so; capsys also takes what another thread of this test process prints meanwhile (a
    # full run once had a seventh line here; alone the test prints six).
    out = [line for line in lines if line.startswith("replay ")]
    assert len(out) <= 6, lines  # the history, progress at most every ~10 days, plus the summary
    assert "history: 800 sample rows dated" in out[0]
    assert f"{800 + 25 * 500} event rows = 800 history rows" in out[-1]
    assert "500 a day resampled with noise" in out[-1] and "labels" in out[-1] and "files" in out[-1]
    assert events_file(tmp_path, "credit_default", "2026-01-25").is_file()
    assert labels_file(tmp_path, "credit_default", "2026-01-26").is_file()


def test_cli_history_options(tmp_path, capsys):
    code = main(["--use-case", "credit_default", "--start", "2026-01-01", "--days", "25", "--landing",
                 str(tmp_path / "old"), "--no-history"])
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "1000 event rows over 25 days" in last and "history rows" not in last and "resampled" not in last
    code = main(["--use-case", "credit_default", "--start", "2026-01-01", "--days", "3", "--landing",
                 str(tmp_path / "new"), "--history-days", "60", "--history-share", "0.5", "--rows-per-day", "once"])
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "500 history rows (sample rows dated 2025-11-02..2025-12-26" in last and "each sample row once" in last
    assert main(["--use-case", "credit_default", "--start", "2026-01-01", "--days", "3", "--landing",
                 str(tmp_path / "bad"), "--history-days", "2"]) == 2
    assert "history_days" in capsys.readouterr().err


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--rows-per-day", "--history-days", "--history-share", "--no-history"):
        assert flag in out
