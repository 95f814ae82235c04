"""Replay a use case's public sample as daily landing files, so the daily pipeline has something to ingest.

The public data sets (``data/samples/``, see ``PROVENANCE.md`` there) have no dates and no identifiers. The
replay shuffles the sample deterministically, spreads it over ``days`` days and adds the three columns the
landing schema expects first: a unique primary key, the event date (= the day) and a customer id drawn from a
pool smaller than the number of rows, so some customers come back. Labels land in their own stream
``label_delay_days`` later (the loan matures, the lead decides).

Optional extras, all deterministic for a seed (no wall clock anywhere, reruns give byte-identical files):

* ``rows_per_day``: resample with replacement to N rows a day, with ×N(1, 0.05) noise on numeric columns
  (ints rounded, clipped to the sample's range of the column, no sign flips), to scale the data up for
  benchmarks (say so wherever a figure is reported);
* drift from a date on: ``col=shift:F`` multiplies a numeric column by F, ``col=mix:VALUE:P`` sets the column
  to VALUE for a random share P of the rows;
* malformed lines: a share of the event lines replaced by realistic broken lines (see ``MALFORMED_KINDS``),
  counted per day and kind in the summary so pipeline tests can reconcile.

Layout (``paths.landing``, overridable with ``--landing`` or ``RISKPIPE_LANDING``)::

    <landing>/<use_case>/events/ds=YYYY-MM-DD/part-00000.csv   columns of use_case.schema, no label
    <landing>/<use_case>/labels/ds=YYYY-MM-DD/part-00000.csv   <primary key>,<label column>

Every day from ``start`` to ``start + days - 1 + label_delay_days`` has a label file; the first
``label_delay_days`` of them hold only the header (nothing has matured yet). Each file is written to a hidden
temporary name in the same folder and renamed into place, so a reader never sees half a file.

Usage::

    python -m jobs.replay --use-case credit_default --start 2026-01-01 --days 60 \\
        [--rows-per-day N] [--seed 7] [--drift-from 2026-02-01 --drift "credit_amount=shift:1.5"] \\
        [--malformed-rate 0.01] [--label-delay-days N] [--customers-share 0.7] [--landing DIR]
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from jobs.lib.config import ConfigError, UseCase, load_use_case, settings

NUMERIC_TYPES = frozenset({"int", "bigint", "double", "float"})
INTEGER_TYPES = frozenset({"int", "bigint"})
NOISE_SD = 0.05  # rows_per_day: numeric columns are multiplied by N(1, NOISE_SD)
PART_FILE = "part-00000.csv"

#: Kinds of malformed event lines, injected in this order, round robin over the whole replay:
#: ``truncated``       the line stops after 3..n-1 fields (key, date and customer id are kept);
#: ``non_numeric``     a numeric column (a required one if any) gets a letter: ``1234`` -> ``12x4``;
#: ``empty_required``  a required column other than the primary key is empty;
#: ``duplicate``       the line is an exact copy of another (clean) line of the same day, same key;
#:                     the row it replaces disappears, and so does its label;
#: ``out_of_range``    a never-negative numeric column gets a negative value (ages ``-5``, others ``-value``).
MALFORMED_KINDS = ("truncated", "non_numeric", "empty_required", "duplicate", "out_of_range")

# Independent random streams, so e.g. adding drift does not change which rows land on which day.
_STREAM_ROWS, _STREAM_NOISE, _STREAM_DRIFT, _STREAM_MALFORMED = 0, 1, 2, 3
_AGE_COLUMN = re.compile(r"(^|_)age(_|$)")


class ReplayError(ValueError):
    """Bad replay arguments or a sample that does not fit the use case; the message says which."""


# ------------------------------------------------------------------------------------------- drift
@dataclass(frozen=True)
class DriftSpec:
    """One ``--drift`` spec: ``col=shift:F`` or ``col=mix:VALUE:P``."""

    spec: str
    column: str
    kind: str  # "shift" or "mix"
    factor: float | None = None  # shift
    value: str | None = None  # mix
    share: float | None = None  # mix


def parse_drift(spec: str, use_case: UseCase) -> DriftSpec:
    """Parse and check one drift spec against the use case; a :class:`ReplayError` names the spec."""

    def bad(why: str) -> ReplayError:
        return ReplayError(f"bad --drift spec {spec!r}: {why} (expected 'col=shift:F' or 'col=mix:VALUE:P')")

    column, eq, rest = spec.partition("=")
    column = column.strip()
    if not eq or not column:
        raise bad("no 'column=' part")
    added = _added_columns(use_case)
    if column not in use_case.schema or column in added:
        known = [c for c in use_case.schema if c not in added]
        raise bad(f"unknown column '{column}'; columns that can drift: {', '.join(known)}")
    kind, _, args = rest.partition(":")
    numeric = use_case.schema[column] in NUMERIC_TYPES
    if kind == "shift":
        if not numeric:
            raise bad(f"shift needs a numeric column, '{column}' is {use_case.schema[column]}")
        try:
            factor = float(args)
        except ValueError:
            raise bad(f"factor {args!r} is not a number") from None
        if not math.isfinite(factor) or factor < 0:
            raise bad(f"factor {args!r} must be a finite number >= 0")
        return DriftSpec(spec=spec, column=column, kind="shift", factor=factor)
    if kind == "mix":
        value, sep, share_text = args.rpartition(":")
        if not sep:
            raise bad("mix needs VALUE:P")
        try:
            share = float(share_text)
        except ValueError:
            raise bad(f"share {share_text!r} is not a number") from None
        if not 0.0 <= share <= 1.0:
            raise bad(f"share {share_text!r} must be between 0 and 1")
        if numeric:
            try:
                float(value)
            except ValueError:
                raise bad(f"'{column}' is numeric but the value {value!r} is not a number") from None
        return DriftSpec(spec=spec, column=column, kind="mix", value=value, share=share)
    raise bad(f"unknown drift kind {kind!r}")


# ----------------------------------------------------------------------------------------- summary
@dataclass(frozen=True)
class Injected:
    """One malformed event line: day, kind, the key it carries, the column it breaks, its data line number."""

    ds: str
    kind: str
    key: str
    column: str | None
    line: int  # 1-based data line in the day's events file (the header is line 0)


@dataclass
class ReplaySummary:
    """What a replay wrote. Days are ISO strings (``YYYY-MM-DD``)."""

    use_case: str
    landing_root: str
    start: date
    days: int
    seed: int
    label_delay_days: int
    customers: int  # size of the customer id pool
    events: dict[str, int] = field(default_factory=dict)  # ds -> data lines in the events file (malformed incl.)
    labels: dict[str, int] = field(default_factory=dict)  # ds -> labels in that day's label file
    malformed: dict[str, dict[str, int]] = field(default_factory=dict)  # event ds -> kind -> lines injected
    injected: list[Injected] = field(default_factory=list)  # every malformed line, in file order
    drift_days: list[str] = field(default_factory=list)  # event days the drift was applied to
    files: list[str] = field(default_factory=list)  # every file written, in the order written

    @property
    def total_events(self) -> int:
        return sum(self.events.values())

    @property
    def total_labels(self) -> int:
        return sum(self.labels.values())

    def total_malformed(self, kind: str | None = None) -> int:
        return sum(n for per_kind in self.malformed.values() for k, n in per_kind.items() if kind in (None, k))

    def malformed_by_kind(self) -> dict[str, int]:
        return {k: self.total_malformed(k) for k in MALFORMED_KINDS}

    def line(self) -> str:
        """One-line summary for humans."""
        end = self.start + timedelta(days=self.days - 1)
        label_end = end + timedelta(days=self.label_delay_days)
        text = (f"replay {self.use_case}: {len(self.files)} files, {self.total_events} event rows over "
                f"{self.days} day{'s' if self.days != 1 else ''} ({self.start}..{end}), {self.total_labels} labels "
                f"({self.start}..{label_end}, {self.label_delay_days} days later), "
                f"{self.customers} customers")
        if self.drift_days:
            text += f", drift from {self.drift_days[0]}"
        malformed = self.total_malformed()
        if malformed:
            kinds = ", ".join(f"{k} {n}" for k, n in self.malformed_by_kind().items() if n)
            text += f", {malformed} malformed ({kinds})"
        return f"{text} -> {self.landing_root}/{self.use_case}"


# ---------------------------------------------------------------------------------------- sample
def _added_columns(use_case: UseCase) -> tuple[str, str, str]:
    """The columns the replay adds: primary key, event date, entity (the first three of the schema)."""
    return use_case.primary_key[0], use_case.event_timestamp, use_case.entity


def sample_path(use_case: UseCase, samples_dir: str | os.PathLike[str] | None = None) -> Path:
    return Path(samples_dir if samples_dir is not None else settings().paths.samples) / use_case.source.sample


def load_sample(use_case: UseCase, samples_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The sample as strings, renamed and trimmed to the landing columns it provides plus the label."""
    path = sample_path(use_case, samples_dir)
    if not path.is_file():
        raise ReplayError(f"use case '{use_case.name}': sample file {path} not found")
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                     sep=use_case.source.delimiter, encoding="utf-8")
    for what, names in (("source.drop", use_case.source.drop), ("source.rename", list(use_case.source.rename))):
        missing = [c for c in names if c not in df.columns]
        if missing:
            raise ReplayError(f"{use_case.source_file}: key '{what}' names {missing}, not columns of {path.name}")
    df = df.drop(columns=use_case.source.drop).rename(columns=use_case.source.rename)
    label = use_case.label.column
    if label not in df.columns:
        raise ReplayError(f"{path.name}: label column '{label}' (label.column) not found")
    added = _added_columns(use_case)
    clash = [c for c in added if c in df.columns]
    if clash:
        raise ReplayError(f"{path.name}: has columns {clash}, which the replay adds itself")
    wanted = [c for c in use_case.schema if c not in added]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise ReplayError(f"{path.name}: schema columns {missing} are not in the sample (after rename/drop)")
    extra = [c for c in df.columns if c not in wanted and c != label]
    if extra:
        raise ReplayError(f"{path.name}: columns {extra} are neither in 'schema' nor in 'source.drop'")
    df = df[[*wanted, label]]
    for column in df.columns:
        if df[column].str.contains(r"[\r\n]", regex=True).any():
            raise ReplayError(f"{path.name}: column '{column}' holds line breaks, which the replay does not support")
    return df


def _numeric_values(sample: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(sample[column], errors="coerce").to_numpy(dtype="float64")
    bad = np.isnan(values)
    if bad.any():
        first = sample[column].to_numpy()[np.argmax(bad)]
        raise ReplayError(f"sample column '{column}' is numeric in 'schema' but holds {first!r}")
    return values


# ------------------------------------------------------------------------------------------ writing
def _write_atomic(path: Path, write: Callable[[IO[str]], None]) -> None:
    """Write to a hidden temp file in the same folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _csv_line(fields: Sequence[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)  # QUOTE_MINIMAL, like pandas' to_csv
    return buf.getvalue()


def _garble(value: str) -> str:
    """A numeric string with a letter in it: ``1234`` -> ``12x4``, ``35`` -> ``3x5``, ``4`` -> ``4x``."""
    if len(value) >= 3:
        k = len(value) // 2
        return value[:k] + "x" + value[k + 1:]
    return value[:1] + "x" + value[1:]


def _out_of_range(column: str, value: str) -> str:
    if _AGE_COLUMN.search(column):
        return "-5"
    try:
        number = float(value)
    except ValueError:
        return "-1"
    return "-1" if number == 0 else "-" + value.lstrip("+-")


# ---------------------------------------------------------------------------------------- replay
def _rng(seed: int, stream: int, day: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, stream, day])


def _to_date(value: date | str | None, what: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ReplayError(f"{what} {value!r} is not an ISO date (YYYY-MM-DD)") from None


def replay(
    use_case: UseCase,
    start: date | str,
    days: int,
    *,
    rows_per_day: int | None = None,
    seed: int = 7,
    drift: Iterable[str | DriftSpec] = (),
    drift_from: date | str | None = None,
    malformed_rate: float = 0.0,
    label_delay_days: int | None = None,
    customers_share: float = 0.7,
    landing_root: str | os.PathLike[str] | None = None,
    samples_dir: str | os.PathLike[str] | None = None,
    log: Callable[[str], Any] | None = None,
) -> ReplaySummary:
    """Write ``days`` daily event files (and the label files) for ``use_case`` under ``landing_root``.

    ``rows_per_day=None`` uses every sample row exactly once, shuffled by ``seed`` and spread evenly over the
    days; ``rows_per_day=N`` resamples N rows a day with replacement and noise on numeric columns.
    ``label_delay_days`` defaults to ``use_case.label.maturity_days``; ``landing_root`` to ``paths.landing``;
    ``samples_dir`` to ``paths.samples``. ``log`` (e.g. ``print``) gets progress lines and the summary line.
    """
    start = _to_date(start, "start")
    drift_from = _to_date(drift_from, "drift_from")
    if not isinstance(days, int) or days < 1:
        raise ReplayError(f"days must be a positive integer, got {days!r}")
    if rows_per_day is not None and (not isinstance(rows_per_day, int) or rows_per_day < 1):
        raise ReplayError(f"rows_per_day must be a positive integer, got {rows_per_day!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ReplayError(f"seed must be an integer >= 0, got {seed!r}")
    if not 0.0 <= malformed_rate < 1.0:
        raise ReplayError(f"malformed_rate must be in [0, 1), got {malformed_rate!r}")
    if not customers_share > 0:
        raise ReplayError(f"customers_share must be > 0, got {customers_share!r}")
    delay = use_case.label.maturity_days if label_delay_days is None else label_delay_days
    if not isinstance(delay, int) or delay < 0:
        raise ReplayError(f"label_delay_days must be an integer >= 0, got {delay!r}")
    specs = [d if isinstance(d, DriftSpec) else parse_drift(d, use_case) for d in drift]
    if specs and drift_from is None:
        raise ReplayError("--drift needs --drift-from (the first day the drift applies)")
    root = Path(landing_root if landing_root is not None else settings().paths.landing)
    say = log or (lambda _msg: None)

    sample = load_sample(use_case, samples_dir)
    n_sample = len(sample)
    if n_sample == 0:
        raise ReplayError(f"sample {use_case.source.sample} has no rows")
    key_col, date_col, entity_col = _added_columns(use_case)
    label_col = use_case.label.column
    columns = list(use_case.schema)
    data_cols = [c for c in columns if c not in (key_col, date_col, entity_col)]
    numeric_cols = [c for c in data_cols if use_case.schema[c] in NUMERIC_TYPES]
    strings = {c: sample[c].to_numpy(dtype=object) for c in data_cols}
    numbers = {c: _numeric_values(sample, c) for c in numeric_cols}
    low = {c: numbers[c].min() for c in numeric_cols}
    high = {c: numbers[c].max() for c in numeric_cols}
    labels_all = sample[label_col].to_numpy(dtype=object)

    # Which sample rows land on which day, and the customer of each row: one stream for the whole replay.
    rng = _rng(seed, _STREAM_ROWS)
    if rows_per_day is None:
        order = rng.permutation(n_sample)
        bounds = [i * n_sample // days for i in range(days + 1)]
        day_rows = [order[bounds[i]:bounds[i + 1]] for i in range(days)]
        total = n_sample
    else:
        total = rows_per_day * days
        drawn = rng.integers(0, n_sample, size=total)
        day_rows = [drawn[i * rows_per_day:(i + 1) * rows_per_day] for i in range(days)]
    pool = max(1, int(customers_share * total))
    customers = rng.integers(0, pool, size=total)
    cust_width = max(6, len(str(pool - 1)))
    prefix = "".join(part[0] for part in use_case.name.split("_") if part).upper()

    # Malformed: columns each kind may break.
    required_numeric = [c for c in numeric_cols if c in use_case.required]
    non_negative = [c for c in numeric_cols if numbers[c].min() >= 0]
    candidates: dict[str, list[str | None]] = {
        "truncated": [None],
        "non_numeric": list(required_numeric or numeric_cols),
        "empty_required": [c for c in use_case.required if c not in use_case.primary_key],
        "duplicate": [None],
        "out_of_range": [c for c in required_numeric if c in non_negative] or list(non_negative),
    }
    kinds = [k for k in MALFORMED_KINDS if candidates[k]]
    position = {c: i for i, c in enumerate(columns)}

    summary = ReplaySummary(use_case=use_case.name, landing_root=str(root), start=start, days=days, seed=seed,
                            label_delay_days=delay, customers=pool)
    base = root / use_case.name

    def write_labels(ds: str, keys: np.ndarray, values: np.ndarray) -> None:
        frame = pd.DataFrame({key_col: keys, label_col: values}, columns=[key_col, label_col])
        path = base / "labels" / f"ds={ds}" / PART_FILE
        _write_atomic(path, lambda fh: frame.to_csv(fh, index=False, lineterminator="\n"))
        summary.labels[ds] = len(frame)
        summary.files.append(str(path))

    empty = np.array([], dtype=object)
    for j in range(delay):  # label days before the first outcome matures
        write_labels((start + timedelta(days=j)).isoformat(), empty, empty)

    offset = 0  # rows of the days so far
    malformed_done = 0  # malformed lines of the previous days (cumulative rounding, round robin over kinds)
    for i, rows in enumerate(day_rows):
        day = start + timedelta(days=i)
        ds = day.isoformat()
        n = len(rows)
        key_head, key_width = f"{prefix}-{day:%Y%m%d}-", max(6, len(str(n)))
        keys = np.array([f"{key_head}{k:0{key_width}d}" for k in range(1, n + 1)], dtype=object)
        frame: dict[str, Any] = {
            key_col: keys,
            date_col: np.full(n, ds if use_case.schema[date_col] == "date" else f"{ds}T00:00:00", dtype=object),
            entity_col: np.array([f"C{c:0{cust_width}d}" for c in customers[offset:offset + n]], dtype=object),
        }
        offset += n
        floats: dict[str, np.ndarray] = {}  # numeric columns that are changed today, as float
        if rows_per_day is not None:
            noise = _rng(seed, _STREAM_NOISE, i)
            for c in numeric_cols:
                original = numbers[c][rows]
                value = original * noise.normal(1.0, NOISE_SD, size=n)
                value = np.where(original >= 0, np.maximum(value, 0.0), value)  # no sign flips
                floats[c] = np.clip(value, low[c], high[c])  # stay within the sample's range (day 1..31)
        for c in data_cols:
            frame[c] = floats[c] if c in floats else strings[c][rows]
        if specs and day >= drift_from:
            shift = _rng(seed, _STREAM_DRIFT, i)
            for spec in specs:
                c = spec.column
                if spec.kind == "shift":
                    current = floats[c] if c in floats else numbers[c][rows]
                    floats[c] = frame[c] = current * spec.factor
                else:
                    hit = shift.random(n) < spec.share
                    if c in floats:
                        floats[c] = frame[c] = np.where(hit, float(spec.value), floats[c])
                    else:
                        frame[c] = np.where(hit, spec.value, frame[c]).astype(object)
            summary.drift_days.append(ds)
        for c, value in floats.items():  # final rounding: ints to int, doubles to cents
            if use_case.schema[c] in INTEGER_TYPES:
                frame[c] = np.rint(value).astype(np.int64)
            else:
                frame[c] = np.round(value, 2)
        events = pd.DataFrame(frame, columns=columns)

        # Malformed lines: cumulative rounding spreads round(rate * rows so far) evenly over the days.
        due = int(math.floor(malformed_rate * offset + 0.5)) - malformed_done if malformed_rate else 0
        m = max(0, min(due, n))
        counts = dict.fromkeys(MALFORMED_KINDS, 0)
        keep_label = np.ones(n, dtype=bool)
        path = base / "events" / f"ds={ds}" / PART_FILE
        if m and kinds:
            pick = _rng(seed, _STREAM_MALFORMED, i)
            chosen = np.sort(pick.choice(n, size=m, replace=False))
            clean = np.setdiff1d(np.arange(n), chosen)
            text = events.to_csv(index=False, lineterminator="\n")
            lines = text.split("\n")
            header, body = lines[0], lines[1:-1]
            for t, p in enumerate(chosen):
                p = int(p)
                kind = kinds[(malformed_done + t) % len(kinds)]
                if kind == "duplicate" and len(clean) == 0:
                    kind = "truncated"  # nothing clean to copy on a tiny day
                column = None
                key = str(keys[p])
                if kind == "duplicate":
                    source = int(clean[pick.integers(len(clean))])
                    body[p] = body[source]
                    key = str(keys[source])
                    keep_label[p] = False  # the replaced row never lands, nor does its label
                else:
                    fields = next(csv.reader([body[p]]))
                    if kind == "truncated":
                        fields = fields[:int(pick.integers(3, len(fields)))]
                    else:
                        column = candidates[kind][int(pick.integers(len(candidates[kind])))]
                        at = position[column]
                        if kind == "non_numeric":
                            fields[at] = _garble(fields[at])
                        elif kind == "empty_required":
                            fields[at] = ""
                        else:
                            fields[at] = _out_of_range(column, fields[at])
                    body[p] = _csv_line(fields)
                counts[kind] += 1
                summary.injected.append(Injected(ds=ds, kind=kind, key=key, column=column, line=p + 1))
            malformed_done += m
            content = "\n".join([header, *body]) + "\n"
            _write_atomic(path, lambda fh: fh.write(content))
        else:
            _write_atomic(path, lambda fh: events.to_csv(fh, index=False, lineterminator="\n"))
        summary.events[ds] = n
        summary.malformed[ds] = counts
        summary.files.append(str(path))

        label_ds = (day + timedelta(days=delay)).isoformat()
        write_labels(label_ds, keys[keep_label], labels_all[rows][keep_label])

        if i % 10 == 0 or i == days - 1:
            bad = sum(counts.values())
            say(f"replay {use_case.name} {ds} (day {i + 1}/{days}): {n} events"
                + (f" ({bad} malformed)" if bad else "")
                + (" drifted" if summary.drift_days and summary.drift_days[-1] == ds else "")
                + f", their {int(keep_label.sum())} labels land on {label_ds}")
    say(summary.line())
    return summary


# -------------------------------------------------------------------------------------------- CLI
def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.replay",
        description="Replay a use case's sample file as daily landing files (events + labels that land later).",
    )
    parser.add_argument("--use-case", required=True, help="use case name (conf/use_cases/<name>.yaml)")
    parser.add_argument("--start", required=True, type=_iso_date, help="first event day, YYYY-MM-DD")
    parser.add_argument("--days", required=True, type=int, help="number of event days")
    parser.add_argument("--rows-per-day", type=int, default=None,
                        help="resample N rows a day with replacement and noise (default: every sample row once)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7); same seed, same bytes")
    parser.add_argument("--drift-from", type=_iso_date, default=None, help="first day the --drift specs apply")
    parser.add_argument("--drift", action="append", default=[], metavar="SPEC",
                        help="'col=shift:F' (multiply a numeric column) or 'col=mix:VALUE:P' (set VALUE for a "
                             "share P of rows); repeatable")
    parser.add_argument("--malformed-rate", type=float, default=0.0,
                        help=f"share of event lines replaced by broken lines ({', '.join(MALFORMED_KINDS)})")
    parser.add_argument("--label-delay-days", type=int, default=None,
                        help="days until a row's label lands (default: label.maturity_days of the use case)")
    parser.add_argument("--customers-share", type=float, default=0.7,
                        help="customer pool size as a share of the rows (default 0.7: some customers return)")
    parser.add_argument("--landing", default=None, help="landing root (default: paths.landing)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        use_case = load_use_case(args.use_case)
        replay(
            use_case, args.start, args.days, rows_per_day=args.rows_per_day, seed=args.seed, drift=args.drift,
            drift_from=args.drift_from, malformed_rate=args.malformed_rate, label_delay_days=args.label_delay_days,
            customers_share=args.customers_share, landing_root=args.landing, log=lambda msg: print(msg, flush=True),
        )
    except (ReplayError, ConfigError) as exc:
        print(f"replay: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
