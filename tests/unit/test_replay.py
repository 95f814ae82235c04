"""Unit tests of jobs.replay: daily landing files from the public samples (pure pandas, no Spark)."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from jobs.lib.config import load_use_case
from jobs.replay import MALFORMED_KINDS, ReplayError, load_sample, main, parse_drift, replay

START = date(2026, 1, 1)


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


# ------------------------------------------------------------------------------------------ layout
def test_layout_header_and_columns(tmp_path, credit):
    summary = replay(credit, START, 5, landing_root=tmp_path)
    for i in range(5):
        path = events_file(tmp_path, "credit_default", ds(i))
        assert path.is_file()
        header, rows = read_rows(path)
        assert header == list(credit.schema)
        assert "creditability" not in header
        assert len(rows) == summary.events[ds(i)] == 200
        assert all(len(r) == len(header) for r in rows)
        assert {r[1] for r in rows} == {ds(i)}  # event date = the day
        assert all(r[0].startswith(f"CD-{ds(i).replace('-', '')}-") for r in rows)
        assert all(r[2].startswith("C") and r[2][1:].isdigit() for r in rows)
    # label files for every day from the start to the last event day + delay; only those
    label_days = sorted(p.name for p in (tmp_path / "credit_default" / "labels").iterdir())
    assert label_days == [f"ds={ds(i)}" for i in range(5 + credit.label.maturity_days)]
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "part-00000.csv"]  # no temp leftovers
    assert len(summary.files) == 5 + 5 + credit.label.maturity_days
    assert all(Path(f).is_file() for f in summary.files)


def test_every_sample_row_used_once(tmp_path, credit):
    days = 60
    summary = replay(credit, START, days, landing_root=tmp_path)
    frames = [read_events(tmp_path, "credit_default", ds(i)) for i in range(days)]
    sizes = [len(f) for f in frames]
    assert sum(sizes) == summary.total_events == 1000
    assert max(sizes) - min(sizes) <= 1  # spread evenly
    events = pd.concat(frames, ignore_index=True)
    assert events["application_id"].is_unique
    # the multiset of sample rows is exactly the sample
    sample = load_sample(credit)
    cols = [c for c in credit.schema if c not in ("application_id", "application_date", "customer_id")]
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
    assert rows[0][0].startswith("LS-20260101-")
    assert summary.total_events == 4521
    labels = pd.read_csv(labels_file(tmp_path, "lead_scoring", ds(leads.label.maturity_days)), dtype=str)
    assert list(labels.columns) == ["lead_id", "y"]
    assert set(labels["y"]) <= {"yes", "no"}


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


def test_rerun_overwrites_with_identical_files(tmp_path, credit):
    replay(credit, START, 3, rows_per_day=50, landing_root=tmp_path)
    before = all_bytes(tmp_path)
    replay(credit, START, 3, rows_per_day=50, landing_root=tmp_path)
    assert all_bytes(tmp_path) == before


# ------------------------------------------------------------------------------------------ labels
@pytest.mark.parametrize("delay", [0, 3, None])
def test_labels_land_delay_days_later(tmp_path, credit, delay):
    days = 8
    summary = replay(credit, START, days, label_delay_days=delay, landing_root=tmp_path)
    delay = credit.label.maturity_days if delay is None else delay
    assert summary.label_delay_days == delay
    sample_labels = set(load_sample(credit)["creditability"])
    seen: set[str] = set()
    for i in range(days):
        keys = read_events(tmp_path, "credit_default", ds(i))["application_id"]
        labels = pd.read_csv(labels_file(tmp_path, "credit_default", ds(i + delay)), dtype=str)
        assert list(labels.columns) == ["application_id", "creditability"]
        assert list(labels["application_id"]) == list(keys)  # exactly one label per event key
        assert set(labels["creditability"]) <= sample_labels
        seen.update(labels["application_id"])
    assert len(seen) == summary.total_labels == summary.total_events
    for i in range(delay):  # nothing has matured yet: header only
        assert labels_file(tmp_path, "credit_default", ds(i)).read_text() == "application_id,creditability\n"


def test_label_values_match_sample(tmp_path, credit):
    replay(credit, START, 2, label_delay_days=1, landing_root=tmp_path)
    events = read_events(tmp_path, "credit_default", ds(0))
    labels = pd.read_csv(labels_file(tmp_path, "credit_default", ds(1)), dtype=str)
    joined = events.merge(labels, on="application_id")
    sample = load_sample(credit)
    cols = [c for c in credit.schema if c not in ("application_id", "application_date", "customer_id")]
    # each event row with its label is a row of the sample
    want = set(map(tuple, sample[[*cols, "creditability"]].to_numpy()))
    assert set(map(tuple, joined[[*cols, "creditability"]].to_numpy())) <= want


# ---------------------------------------------------------------------------------------- scaling
def test_rows_per_day_scaling_and_noise(tmp_path, credit):
    summary = replay(credit, START, 4, rows_per_day=2500, landing_root=tmp_path)
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


def test_drift_mix_replaces_a_share(tmp_path, credit):
    replay(credit, START, 2, rows_per_day=4000, drift_from=ds(1), drift=["purpose=mix:car (new):0.5"],
           landing_root=tmp_path)
    before = read_events(tmp_path, "credit_default", ds(0))["purpose"]
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
    assert summary.total_malformed() == round(rate * 1000)
    by_kind = summary.malformed_by_kind()
    assert set(by_kind) == set(MALFORMED_KINDS) and all(n == 10 for n in by_kind.values())  # even mix

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
        # labels: one per distinct key; the rows replaced by duplicates have none
        labels = pd.read_csv(labels_file(tmp_path, "credit_default", ds(i + 2)), dtype=str)
        assert labels["application_id"].is_unique
        assert set(labels["application_id"]) == set(keys)
        assert summary.labels[ds(i + 2)] == len(set(keys)) == len(rows) - found["duplicate"]
    assert found_total == by_kind

    # the injected list agrees with the files
    assert len(summary.injected) == summary.total_malformed()
    for inj in summary.injected:
        header, rows = read_rows(events_file(tmp_path, "credit_default", inj.ds))
        line = rows[inj.line - 1]
        assert line[0] == inj.key
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
        assert len(rows) == 1001
        assert rows[inj.line][0] == inj.key
        if inj.kind == "out_of_range":
            assert inj.column == "age"  # balance can be negative, so it is never the out-of-range column
            assert rows[inj.line][rows[0].index("age")] == "-5"


# ---------------------------------------------------------------------------------- arguments, CLI
@pytest.mark.parametrize("kwargs, words", [
    (dict(days=0), "days"),
    (dict(rows_per_day=0), "rows_per_day"),
    (dict(malformed_rate=1.5), "malformed_rate"),
    (dict(label_delay_days=-1), "label_delay_days"),
    (dict(customers_share=0), "customers_share"),
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
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) <= 5  # progress at most every ~10 days, plus the summary
    assert "1000 event rows" in out[-1] and "labels" in out[-1] and "files" in out[-1]
    assert events_file(tmp_path, "credit_default", "2026-01-25").is_file()
    assert labels_file(tmp_path, "credit_default", "2026-01-26").is_file()


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "--rows-per-day" in capsys.readouterr().out
