"""Replay a use case's public sample as landing files: a historical load on the first day, then daily files.

The public data sets (``data/samples/``, see ``PROVENANCE.md`` there) have no dates and no identifiers. The
replay shuffles the sample deterministically and adds the three columns the landing schema expects first: a
unique primary key, the event date and a customer id drawn from a pool smaller than the number of rows, so
some customers come back. Labels land in their own stream (the loan matures, the lead decides).

A bank loads its history once, then runs daily, and so does the replay (``history=True``, the default):

* **history**: ``history_share`` (default 0.8) of the shuffled sample, each row exactly once and unchanged,
  lands in the events file of the first day ``start``, with event dates spread evenly over the days from
  ``start - history_days`` (default 180) to ``start - max(label_delay_days, label.maturity_days)``: every
  event date is before ``start`` and every label has matured by ``start`` (gold joins a label when
  ``ds >= event date + maturity_days``), so all the history labels land in ``labels/ds=<start>`` and the
  first gold run on ``start`` has a training set with the bulk of the data. Malformed lines and drift are
  never applied to the history.
* **daily stream**: every day from ``start`` to ``start + days - 1`` gets ``rows_per_day`` (default 500) rows
  dated that day, **resampled with replacement and noise** from the rest of the sample (the rows that are
  not history), so daily volumes are large enough for drift statistics; their labels land
  ``label_delay_days`` later. Daily figures are therefore replayed data, not real volumes: say so wherever
  one is reported. ``rows_per_day=None`` uses each remaining sample row exactly once instead.

``history=False`` gives the layout without a history load: the whole sample spread over the days (each row
once, ``rows_per_day`` defaults to ``None``) or resampled to ``rows_per_day`` from the whole sample, and the
first ``label_delay_days`` label files hold only the header. Its files are byte-identical to the replay
before the history load existed.

Keys are ``<PREFIX>-<event date YYYYMMDD>-<n>`` (e.g. ``CD-20260101-000001``), unique over the whole replay:
a resampled row gets a new key each time it is drawn.

Optional extras, all deterministic for a seed (no wall clock anywhere, reruns give byte-identical files):

* ``rows_per_day``: resample with replacement to N rows a day, with ×N(1, 0.05) noise on numeric columns
  (ints rounded, clipped to the sample's range of the column, no sign flips), to scale the data up (say so
  wherever a figure is reported);
* drift from a date on (daily stream only): ``col=shift:F`` multiplies a numeric column by F,
  ``col=mix:VALUE:P`` sets the column to VALUE for a random share P of the rows;
* malformed lines (daily stream only): a share of the daily event lines replaced by realistic broken lines
  (see ``MALFORMED_KINDS``), counted per day and kind in the summary so pipeline tests can reconcile.

Layout (``paths.landing``, overridable with ``--landing`` or ``RISKPIPE_LANDING``)::

    <landing>/<use_case>/events/ds=YYYY-MM-DD/part-00000.csv   columns of use_case.schema, no label
    <landing>/<use_case>/labels/ds=YYYY-MM-DD/part-00000.csv   <primary key>,<label column>

    events/ds=<start>    header, the history rows (dated before start, oldest first), then start's daily rows
    events/ds=<day>      that day's daily rows (later days)
    labels/ds=<start>    every history label (then start's daily labels when label_delay_days is 0)
    labels/ds=<day>      the labels of the daily rows of day - label_delay_days; header only before that

Every day from ``start`` to ``start + days - 1 + label_delay_days`` has a label file. The summary reports
the history apart (``history_events``, ``history_labels``, ``daily_events``), so the events file of
``start`` holds ``history_events + daily_events[start]`` data lines. Each file is written to a hidden
temporary name in the same folder and renamed into place, so a reader never sees half a file.

Usage::

    python -m jobs.replay --use-case credit_default --start 2026-01-01 --days 60 \\
        [--history-days 180] [--history-share 0.8] [--rows-per-day 500|once] [--no-history] \\
        [--seed 7] [--drift-from 2026-02-01 --drift "credit_amount=shift:1.5"] \\
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
DEFAULT_HISTORY_DAYS = 180  # history event dates span the days before start
DEFAULT_HISTORY_SHARE = 0.8  # share of the sample loaded as history on the first day
DEFAULT_ROWS_PER_DAY = 500  # daily stream volume when the history load is on (resampled with noise)
AUTO = "auto"  # rows_per_day: DEFAULT_ROWS_PER_DAY with the history load, every row once without

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
    """What a replay wrote. Days are ISO strings (``YYYY-MM-DD``).

    ``events[ds]`` is what the events file of ``ds`` holds (what bronze receives), history included; the
    history (rows dated before ``start``, all in the file of ``start``, their labels all in the label file of
    ``start``) is also reported apart, so ``events[ds] == daily_events[ds] + (history_events if ds == start)``.
    """

    use_case: str
    landing_root: str
    start: date
    days: int
    seed: int
    label_delay_days: int
    customers: int  # size of the customer id pool
    history: bool = False  # whether the first day carries a historical load
    history_days: int = 0  # history event dates span start - history_days .. history_to
    history_share: float = 0.0
    rows_per_day: int | None = None  # daily stream volume (resampled with noise), None: sample rows used once
    history_events: int = 0  # history rows, all in the events file of start (no malformed ones)
    history_labels: int = 0  # their labels, all in the label file of start
    history_from: str | None = None  # earliest history event date
    history_to: str | None = None  # latest history event date (every label matured by start)
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

    @property
    def daily_events(self) -> dict[str, int]:
        """ds -> daily-stream lines in the events file (malformed incl.), i.e. without the history rows."""
        first = self.start.isoformat()
        return {ds: n - (self.history_events if ds == first else 0) for ds, n in self.events.items()}

    @property
    def total_daily_events(self) -> int:
        return self.total_events - self.history_events

    def total_malformed(self, kind: str | None = None) -> int:
        return sum(n for per_kind in self.malformed.values() for k, n in per_kind.items() if kind in (None, k))

    def malformed_by_kind(self) -> dict[str, int]:
        return {k: self.total_malformed(k) for k in MALFORMED_KINDS}

    def line(self) -> str:
        """One-line summary for humans; says that daily figures are resampled with noise when they are."""
        end = self.start + timedelta(days=self.days - 1)
        label_end = end + timedelta(days=self.label_delay_days)
        days = f"{self.days} day{'s' if self.days != 1 else ''} ({self.start}..{end})"
        if self.rows_per_day is not None:
            daily = f"{self.rows_per_day} a day resampled with noise"
        else:
            daily = "each sample row once"
        text = f"replay {self.use_case}: {len(self.files)} files, {self.total_events} event rows"
        if self.history:
            text += (f" = {self.history_events} history rows (sample rows dated {self.history_from}.."
                     f"{self.history_to}, in {self.start}'s landing files with their {self.history_labels} "
                     f"matured labels) + {self.total_daily_events} daily rows over {days}, {daily} "
                     f"from the other sample rows")
        else:
            text += f" over {days}" + (f", {daily}" if self.rows_per_day is not None else "")
        text += (f", {self.total_labels} labels ({self.start}..{label_end}, "
                 f"{'daily ones ' if self.history else ''}{self.label_delay_days} days later), "
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


def _csv_line(fields: Sequence[str], delimiter: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="").writerow(fields)  # QUOTE_MINIMAL, like pandas' to_csv
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


def _history_dates(start: date, history_days: int, gap: int, n: int) -> list[date]:
    """The event dates of ``n`` history rows: spread evenly, oldest first, from ``start - history_days`` to
    ``start - gap`` (both included)."""
    span = history_days - gap + 1
    first = start - timedelta(days=history_days)
    return [first + timedelta(days=k * span // n) for k in range(n)]


def replay(
    use_case: UseCase,
    start: date | str,
    days: int,
    *,
    history: bool = True,
    history_days: int = DEFAULT_HISTORY_DAYS,
    history_share: float = DEFAULT_HISTORY_SHARE,
    rows_per_day: int | None | str = AUTO,
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
    """Write the landing files of ``use_case`` under ``landing_root``: a history load on ``start`` (unless
    ``history=False``) and ``days`` daily event files, with the label files.

    History (see the module docstring): ``history_share`` of the shuffled sample, dated over the
    ``history_days`` days before ``start`` with matured labels, all landing on ``start``. Daily stream:
    ``rows_per_day`` rows a day resampled with replacement and noise on numeric columns from the rest of the
    sample (``rows_per_day=None``: each remaining row once, spread evenly over the days). ``rows_per_day``
    defaults (``"auto"``) to ``DEFAULT_ROWS_PER_DAY`` with the history and to ``None`` without it, which
    gives the layout of the replay before the history load: the whole sample spread over the days.
    ``label_delay_days`` defaults to ``use_case.label.maturity_days``; ``landing_root`` to ``paths.landing``;
    ``samples_dir`` to ``paths.samples``. ``log`` (e.g. ``print``) gets progress lines and the summary line.
    """
    start = _to_date(start, "start")
    drift_from = _to_date(drift_from, "drift_from")
    if not isinstance(days, int) or days < 1:
        raise ReplayError(f"days must be a positive integer, got {days!r}")
    if not isinstance(history, bool):
        raise ReplayError(f"history must be True or False, got {history!r}")
    if rows_per_day == AUTO:
        rows_per_day = DEFAULT_ROWS_PER_DAY if history else None
    if rows_per_day is not None and (not isinstance(rows_per_day, int) or isinstance(rows_per_day, bool)
                                     or rows_per_day < 1):
        raise ReplayError(f"rows_per_day must be a positive integer, None or {AUTO!r}, got {rows_per_day!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ReplayError(f"seed must be an integer >= 0, got {seed!r}")
    if not 0.0 <= malformed_rate < 1.0:
        raise ReplayError(f"malformed_rate must be in [0, 1), got {malformed_rate!r}")
    if not customers_share > 0:
        raise ReplayError(f"customers_share must be > 0, got {customers_share!r}")
    delay = use_case.label.maturity_days if label_delay_days is None else label_delay_days
    if not isinstance(delay, int) or delay < 0:
        raise ReplayError(f"label_delay_days must be an integer >= 0, got {delay!r}")
    # The latest history event date is `gap` days before start: before start, and matured both for the
    # replay's label delay and for gold's maturity rule (label day >= event date + maturity_days).
    gap = max(1, delay, use_case.label.maturity_days)
    if history:
        if not isinstance(history_share, (int, float)) or not 0.0 <= history_share < 1.0:
            raise ReplayError(f"history_share must be in [0, 1), got {history_share!r}")
        if not isinstance(history_days, int) or history_days < gap:
            raise ReplayError(
                f"history_days must be an integer >= {gap} (history labels must have matured by start: label "
                f"delay {delay} days, label.maturity_days {use_case.label.maturity_days}), got {history_days!r}")
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
    sep = use_case.source.delimiter  # the landing files are written as the use case says bronze reads them
    label_col = use_case.label.column
    columns = list(use_case.schema)
    data_cols = [c for c in columns if c not in (key_col, date_col, entity_col)]
    numeric_cols = [c for c in data_cols if use_case.schema[c] in NUMERIC_TYPES]
    strings = {c: sample[c].to_numpy(dtype=object) for c in data_cols}
    numbers = {c: _numeric_values(sample, c) for c in numeric_cols}
    low = {c: numbers[c].min() for c in numeric_cols}
    high = {c: numbers[c].max() for c in numeric_cols}
    labels_all = sample[label_col].to_numpy(dtype=object)

    # Which sample rows are history, which land on which day, and the customer of each row: one stream for
    # the whole replay. Without history the draws are exactly those of the replay before the history load.
    rng = _rng(seed, _STREAM_ROWS)
    hist_rows = np.array([], dtype=np.int64)
    rest: np.ndarray | None = None  # sample rows the daily stream draws from (None: the whole sample)
    if history:
        order = rng.permutation(n_sample)
        n_hist = int(math.floor(history_share * n_sample + 0.5))
        hist_rows, rest = order[:n_hist], order[n_hist:]
        if len(rest) == 0:
            raise ReplayError(f"history_share {history_share} leaves none of the {n_sample} sample rows for the "
                              "daily stream; use a smaller share")
    if rows_per_day is None:
        order = rng.permutation(n_sample) if rest is None else rest
        bounds = [i * len(order) // days for i in range(days + 1)]
        day_rows = [order[bounds[i]:bounds[i + 1]] for i in range(days)]
        total = len(order)
    else:
        total = rows_per_day * days
        drawn = rng.integers(0, n_sample if rest is None else len(rest), size=total)
        if rest is not None:
            drawn = rest[drawn]
        day_rows = [drawn[i * rows_per_day:(i + 1) * rows_per_day] for i in range(days)]
    n_hist = len(hist_rows)
    pool = max(1, int(customers_share * (n_hist + total)))
    customers = rng.integers(0, pool, size=n_hist + total)  # history rows first, then the daily ones
    cust_width = max(6, len(str(pool - 1)))
    prefix = "".join(part[0] for part in use_case.name.split("_") if part).upper()

    def customer_ids(drawn_customers: np.ndarray) -> np.ndarray:
        return np.array([f"C{c:0{cust_width}d}" for c in drawn_customers], dtype=object)

    def event_dates(values: Sequence[str]) -> np.ndarray:
        if use_case.schema[date_col] == "date":
            return np.array(values, dtype=object)
        return np.array([f"{v}T00:00:00" for v in values], dtype=object)

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
                            label_delay_days=delay, customers=pool, history=history,
                            history_days=history_days if history else 0,
                            history_share=float(history_share) if history else 0.0, rows_per_day=rows_per_day)
    base = root / use_case.name

    # History: sample rows unchanged, dated before start (oldest first), keys numbered per event date.
    history_text = ""  # the history's CSV lines (no header), written first in start's events file
    pending_labels: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # label ds -> labels written before the daily
    if n_hist:
        dates = _history_dates(start, history_days, gap, n_hist)
        isos = [d.isoformat() for d in dates]
        keys, counter, previous = [], 0, None
        for d in dates:
            counter = counter + 1 if d == previous else 1
            previous = d
            keys.append(f"{prefix}-{d:%Y%m%d}-{counter:06d}")
        hist_keys = np.array(keys, dtype=object)
        frame = {key_col: hist_keys, date_col: event_dates(isos), entity_col: customer_ids(customers[:n_hist])}
        frame |= {c: strings[c][hist_rows] for c in data_cols}
        history_text = pd.DataFrame(frame, columns=columns).to_csv(index=False, header=False, sep=sep, lineterminator="\n")
        pending_labels[start.isoformat()] = (hist_keys, labels_all[hist_rows])
        summary.history_events = summary.history_labels = n_hist
        summary.history_from, summary.history_to = isos[0], isos[-1]
        say(f"replay {use_case.name} history: {n_hist} sample rows dated {isos[0]}..{isos[-1]} land on {start} "
            f"with their matured labels")

    def write_labels(ds: str, keys: np.ndarray, values: np.ndarray) -> None:
        if ds in pending_labels:
            first_keys, first_values = pending_labels.pop(ds)
            keys, values = np.concatenate([first_keys, keys]), np.concatenate([first_values, values])
        frame = pd.DataFrame({key_col: keys, label_col: values}, columns=[key_col, label_col])
        path = base / "labels" / f"ds={ds}" / PART_FILE
        _write_atomic(path, lambda fh: frame.to_csv(fh, index=False, sep=sep, lineterminator="\n"))
        summary.labels[ds] = len(frame)
        summary.files.append(str(path))

    empty = np.array([], dtype=object)
    for j in range(delay):  # label days before the first daily outcome matures (start: the history's labels)
        write_labels((start + timedelta(days=j)).isoformat(), empty, empty)

    offset = 0  # daily rows of the days so far
    malformed_done = 0  # malformed lines of the previous days (cumulative rounding, round robin over kinds)
    for i, rows in enumerate(day_rows):
        day = start + timedelta(days=i)
        ds = day.isoformat()
        n = len(rows)
        before = history_text if i == 0 else ""  # data lines ahead of the day's own rows in its file
        ahead = n_hist if i == 0 else 0
        key_head, key_width = f"{prefix}-{day:%Y%m%d}-", max(6, len(str(n)))
        keys = np.array([f"{key_head}{k:0{key_width}d}" for k in range(1, n + 1)], dtype=object)
        frame: dict[str, Any] = {
            key_col: keys,
            date_col: np.full(n, ds if use_case.schema[date_col] == "date" else f"{ds}T00:00:00", dtype=object),
            entity_col: customer_ids(customers[n_hist + offset:n_hist + offset + n]),
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
            text = events.to_csv(index=False, sep=sep, lineterminator="\n")
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
                    fields = next(csv.reader([body[p]], delimiter=sep))
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
                    body[p] = _csv_line(fields, sep)
                counts[kind] += 1
                summary.injected.append(Injected(ds=ds, kind=kind, key=key, column=column, line=ahead + p + 1))
            malformed_done += m
            content = header + "\n" + before + "".join(line + "\n" for line in body)
        else:
            text = events.to_csv(index=False, sep=sep, lineterminator="\n")
            head, _, body_text = text.partition("\n")
            content = head + "\n" + before + body_text
        _write_atomic(path, lambda fh: fh.write(content))
        summary.events[ds] = ahead + n
        summary.malformed[ds] = counts
        summary.files.append(str(path))

        label_ds = (day + timedelta(days=delay)).isoformat()
        write_labels(label_ds, keys[keep_label], labels_all[rows][keep_label])

        if i % 10 == 0 or i == days - 1:
            bad = sum(counts.values())
            say(f"replay {use_case.name} {ds} (day {i + 1}/{days}): {n} events"
                + (" (resampled with noise)" if rows_per_day is not None else "")
                + (f" + {ahead} history rows" if ahead else "")
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


def _rows_per_day(text: str) -> int | str | None:
    if text in ("once", AUTO):
        return None if text == "once" else AUTO
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of rows nor 'once': {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.replay",
        description="Replay a use case's sample file as landing files: a history load on the first day (matured "
                    "labels included), then daily events resampled with noise (+ labels that land later).",
    )
    parser.add_argument("--use-case", required=True, help="use case name (conf/use_cases/<name>.yaml)")
    parser.add_argument("--start", required=True, type=_iso_date, help="first landing day (the history load lands on it), YYYY-MM-DD")
    parser.add_argument("--days", required=True, type=int, help="number of daily event days, from --start")
    parser.add_argument("--history", action=argparse.BooleanOptionalAction, default=True,
                        help="load the history on the first day (default); --no-history spreads the whole sample "
                             "over the days, as the replay did before the history load")
    parser.add_argument("--history-days", type=int, default=DEFAULT_HISTORY_DAYS,
                        help=f"history event dates span this many days before --start (default "
                             f"{DEFAULT_HISTORY_DAYS}; the last ones end when their labels have matured)")
    parser.add_argument("--history-share", type=float, default=DEFAULT_HISTORY_SHARE,
                        help=f"share of the sample loaded as history (default {DEFAULT_HISTORY_SHARE})")
    parser.add_argument("--rows-per-day", type=_rows_per_day, default=AUTO, metavar="N|once",
                        help=f"daily rows, resampled with replacement and noise from the sample rows that are not "
                             f"history; 'once': every such row once, spread over the days (default: "
                             f"{DEFAULT_ROWS_PER_DAY} with the history, 'once' with --no-history)")
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
            use_case, args.start, args.days, history=args.history, history_days=args.history_days,
            history_share=args.history_share, rows_per_day=args.rows_per_day, seed=args.seed, drift=args.drift,
            drift_from=args.drift_from, malformed_rate=args.malformed_rate, label_delay_days=args.label_delay_days,
            customers_share=args.customers_share, landing_root=args.landing, log=lambda msg: print(msg, flush=True),
        )
    except (ReplayError, ConfigError) as exc:
        print(f"replay: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
