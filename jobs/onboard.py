"""Draft a new use case and its Great Expectations suite from a sample file (``make onboard``).

GX 1.x has no profilers or onboarding assistants any more, so this job does the first draft a person then
reviews: it profiles the sample with pandas and writes

* ``<conf>/use_cases/<name>.yaml``: schema (types inferred per column: int, bigint, double, date, timestamp,
  string), key / event date / entity, label, PII, protected attributes, features, forbidden features, and the
  ``model`` / ``gate`` / ``fairness`` / ``scoring`` / ``monitoring`` sections in the shape of the shipped use
  cases, so training and scoring work on it unedited;
* ``<expectations>/<name>_silver.json``: not-null for the columns never empty in the sample, uniqueness of the
  key, value sets of the categoricals, numeric ranges from the sample widened by :data:`RANGE_RULE` (each marked
  in ``meta.notes`` as to be replaced by business bounds), the hashed-PII regex for PII columns, and the
  table-level checks of the shipped suites.

What a person must confirm is flagged as ``CONFIRM`` comments in the YAML and printed:

* **PII** candidates: identifier-like names (``id``, ``email``, ``phone``, ``name``, ``iban`` ... with values
  that are mostly distinct), values that look like e-mail addresses, phone numbers or IBANs, integer columns
  unique per row, and high-cardinality strings (more than ``--max-categories`` values). PII columns are
  hashed in silver and never features. A name that suggests PII on a low-cardinality column is only a note;
* **protected attributes** by name (age, sex, gender, marital status, race, ethnicity, nationality, foreign
  worker, religion, disability, ...) or by values (``male`` / ``female``, ``married`` / ``divorced``);
* **leakage**: a column whose single-feature AUC against the label reaches ``--leakage-auc`` (default 0.8) goes
  to ``forbidden_features`` with the figure as its reason. Single-feature AUC: ``roc_auc_score`` of the label
  (positive = 1) against the column, numeric columns as they are (empty cells as one group below the
  minimum), categorical ones target-rate encoded (in-sample rate of the positive label per value, empty cells
  a value of their own); the figure is ``max(auc, 1 - auc)``, so a column predicting either way counts.

Key, event date and entity come from ``--key`` / ``--event-date`` / ``--entity``; a public sample usually has
none, and then they are declared as the columns :mod:`jobs.replay` adds (``<name>_id``, ``event_date``,
``customer_id``), as the two shipped use cases do. The replay refuses a sample that already has any of the
three, so with those options land real files instead.

Nothing is overwritten: the job exits non-zero naming the file when the YAML or the suite exists. Before
writing, the YAML is loaded back through the project's own config parser (:func:`jobs.lib.config.load_use_case`)
and the suite through :func:`jobs.lib.validation.load_suite`, both in a temporary folder, so a draft that the
pipeline would refuse is never written.

Usage::

    make onboard SAMPLE=data/samples/bank_marketing.csv.gz NAME=term_deposits LABEL=y POSITIVE=yes
    python -m jobs.onboard --sample data/samples/german_credit.csv --name loan_default \\
        --label creditability --positive bad [--negative good] [--key K --event-date D --entity E] \\
        [--leakage-auc 0.8] [--maturity-days 4] [--max-categories 50] \\
        [--conf-dir conf] [--expectations-dir expectations]

then review the ``CONFIRM`` comments, and run it: ``make run USE_CASES=<name>`` (or any job with
``RISKPIPE_CONF_DIR`` pointing at the folder the draft was written to).

Exit status: 0 written; 2 a bad argument or sample (the message says which: a missing label column lists the
columns, a missing positive value lists the values), or a draft file that already exists (named).
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

DEFAULT_LEAKAGE_AUC = 0.8
DEFAULT_MATURITY_DAYS = 4
DEFAULT_MAX_CATEGORIES = 50  # a string column with more distinct values is a high-cardinality (PII) candidate
REPLAY_EVENT_DATE = "event_date"
REPLAY_ENTITY = "customer_id"
HASHED_PII_REGEX = "^[0-9a-f]{64}$"
NUMERIC = frozenset({"int", "bigint", "double"})
RANGE_RULE = ("the sample's range widened by its span (max - min; 1 when the column is constant) on each side, "
              "and not below 0 when the sample has no negative value")
TO_REPLACE = "Draft bound from the sample, to be replaced by business bounds."
# PII and protected-attribute hints: whole tokens of the snake_case column name.
IDENTIFIER_TOKENS = frozenset({
    "id", "ids", "uuid", "guid", "key", "ssn", "nin", "iban", "bic", "passport", "email", "mail", "phone",
    "telephone", "mobile", "msisdn", "name", "surname", "firstname", "lastname", "fullname", "address", "street",
    "zip", "zipcode", "postcode", "postal", "ip", "card", "pan", "tax", "tin", "licence", "license", "username",
    "login", "account", "dob",
})
PROTECTED_TOKENS = {
    "age": "age", "sex": "sex", "gender": "gender", "marital": "marital status", "married": "marital status",
    "race": "race", "racial": "race", "ethnic": "ethnicity", "ethnicity": "ethnicity",
    "nationality": "nationality", "national": "nationality", "foreign": "nationality (foreign worker)",
    "citizen": "citizenship", "citizenship": "citizenship", "religion": "religion", "religious": "religion",
    "disability": "disability", "disabled": "disability", "pregnancy": "pregnancy", "pregnant": "pregnancy",
    "birth": "age (date of birth)", "dob": "age (date of birth)", "orientation": "sexual orientation",
}
PROTECTED_VALUE_WORDS = {"male": "sex", "female": "sex", "married": "marital status", "divorced": "marital status",
                         "widowed": "marital status", "separated": "marital status"}
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
INT32 = (-(2**31), 2**31 - 1)


class OnboardError(ValueError):
    """Bad arguments, a sample that cannot be drafted, or a draft file that exists; the message says which."""


# ------------------------------------------------------------------------------------------- profile
@dataclass(frozen=True)
class ColumnProfile:
    """One sample column: its landing name and type, nulls, cardinality, and range or values."""

    name: str  # landing name (snake_case)
    source: str  # name in the sample file
    type: str  # int, bigint, double, date, timestamp, string
    rows: int
    nulls: int  # empty cells (after trimming, as silver sees them)
    distinct: int  # distinct non-empty values (strings: after silver's whitespace normalisation)
    min: float | None = None  # numeric columns
    max: float | None = None
    values: tuple[str, ...] = ()  # the distinct values of a string column with at most max_categories of them
    auc: float | None = None  # single-feature AUC against the label (None: not computed, e.g. dates)

    @property
    def null_share(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC


@dataclass(frozen=True)
class Flag:
    """A candidate for a person to confirm: ``kind`` is pii, protected, leakage or note."""

    column: str
    kind: str
    reason: str

    def line(self) -> str:
        return f"{self.kind:<9} {self.column}: {self.reason}"


@dataclass(frozen=True)
class Profile:
    """What the sample says: its columns (without the label), the label and the candidates to confirm."""

    sample: str  # path of the sample file
    delimiter: str
    rows: int
    label: str  # landing name of the label column
    label_source: str
    positive: str
    negative: str
    positives: int  # rows with the positive label
    negatives: int
    other_labels: int  # rows whose label is empty or neither value (silver quarantines those labels)
    columns: dict[str, ColumnProfile]  # landing name -> profile, in file order, label excluded
    flags: list[Flag] = field(default_factory=list)
    leakage_auc: float = DEFAULT_LEAKAGE_AUC
    max_categories: int = DEFAULT_MAX_CATEGORIES

    @property
    def rename(self) -> dict[str, str]:
        """Sample column -> landing column, for the columns whose name had to change."""
        out = {c.source: c.name for c in self.columns.values() if c.source != c.name}
        if self.label_source != self.label:
            out[self.label_source] = self.label
        return out

    def flagged(self, kind: str) -> dict[str, str]:
        """Column -> reason for the flags of one kind (the first reason of a column)."""
        out: dict[str, str] = {}
        for f in self.flags:
            if f.kind == kind:
                out.setdefault(f.column, f.reason)
        return out

    @property
    def pii(self) -> list[str]:
        return list(self.flagged("pii"))

    @property
    def protected(self) -> list[str]:
        return list(self.flagged("protected"))

    @property
    def leakage(self) -> dict[str, str]:
        return self.flagged("leakage")


def read_sample(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, str]:
    """The sample as strings (nothing parsed, empty cells kept as ''), and its delimiter (sniffed from the
    header: comma, semicolon, tab or pipe). ``.csv`` and ``.csv.gz``."""
    path = Path(path)
    if not path.is_file():
        raise OnboardError(f"sample file {path} not found")
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            header = fh.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise OnboardError(f"{path}: not a readable UTF-8 CSV file: {exc}") from exc
    if not header.strip():
        raise OnboardError(f"{path}: empty file (a header line is needed)")
    counts = {d: len(next(csv.reader([header], delimiter=d))) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=lambda d: (counts[d], d == ","))
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, sep=delimiter, encoding="utf-8")
    if df.empty:
        raise OnboardError(f"{path}: no data rows")
    return df, delimiter


def snake_case(name: str) -> str:
    """A landing column name: lowercase snake_case (``Credit Amount`` -> ``credit_amount``)."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    text = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
    if not text:
        text = "column"
    return f"c_{text}" if text[0].isdigit() else text


def normalise(values: pd.Series) -> pd.Series:
    """What silver does to a string: trim, collapse inner whitespace; empty stays '' (silver: null)."""
    return values.str.strip().str.replace(r"\s+", " ", regex=True)


def infer_type(values: pd.Series) -> str:
    """int, bigint, double, date, timestamp or string, from the non-empty (trimmed) values."""
    v = values[values != ""]
    if v.empty:
        return "string"
    if v.str.match(_INT).all():
        if v.str.match(r"^[+-]?0\d").any():  # leading zeros: a code, not a number (00123)
            return "string"
        numbers = pd.to_numeric(v)
        return "int" if INT32[0] <= numbers.min() and numbers.max() <= INT32[1] else "bigint"
    if v.str.match(_FLOAT).all():
        return "double"
    if v.str.match(_DATE).all() and pd.to_datetime(v, format="%Y-%m-%d", errors="coerce").notna().all():
        return "date"
    if v.str.match(_TIMESTAMP).all() and pd.to_datetime(v, format="ISO8601", errors="coerce").notna().all():
        return "timestamp"
    return "string"


def single_feature_auc(values: pd.Series, y: np.ndarray, numeric: bool) -> float:
    """max(AUC, 1 - AUC) of the label ``y`` (0/1) against one column (strings, '' = empty). Numeric: the values,
    empty cells one group below the minimum; otherwise the in-sample positive rate per value (target-rate
    encoding, '' a value of its own). 0.5 for a constant column."""
    from sklearn.metrics import roc_auc_score

    if numeric:
        x = pd.to_numeric(values.where(values != ""), errors="coerce").astype("float64")
        if x.notna().any():
            x = x.fillna(x.min() - 1.0)
        else:
            x = x.fillna(0.0)
    else:
        rate = pd.Series(y, index=values.index).groupby(values).mean()
        x = values.map(rate).astype("float64")
    if x.nunique() < 2:
        return 0.5
    auc = float(roc_auc_score(y, x.to_numpy()))
    return max(auc, 1.0 - auc)


def _tokens(name: str) -> list[str]:
    return [t for t in name.split("_") if t]


def _share(values: pd.Series, pattern: re.Pattern[str]) -> float:
    return float(values.str.match(pattern).mean()) if len(values) else 0.0


def _pii_reason(col: ColumnProfile, values: pd.Series, max_categories: int) -> tuple[str | None, str | None]:
    """(reason it is PII, or None; a note when only the name suggests PII)."""
    filled = values[values != ""]
    n = len(filled)
    if col.type == "string" and n:
        for pattern, what in ((_EMAIL, "e-mail addresses"), (_IBAN, "IBANs")):
            share = _share(filled, pattern)
            if share >= 0.5:
                return f"values look like {what} ({share:.0%} of the filled cells)", None
        digits = filled.str.count(r"\d")
        share = float((filled.str.match(_PHONE) & (digits >= 7)).mean())
        if share >= 0.5:
            return f"values look like phone numbers ({share:.0%} of the filled cells)", None
    hint = sorted(set(_tokens(col.name)) & IDENTIFIER_TOKENS)
    unique_share = col.distinct / n if n else 0.0
    if hint and (unique_share >= 0.5 or col.distinct > max_categories):
        return (f"identifier-like name ('{hint[0]}') with mostly distinct values ({col.distinct:,} in {n:,} "
                f"filled rows)"), None
    if col.type in ("int", "bigint") and n >= 20 and col.distinct == n:
        return f"identifier-like values: an integer unique per row ({col.distinct:,} values in {n:,} rows)", None
    if col.type == "string" and col.distinct > max_categories:
        return (f"high-cardinality string ({col.distinct:,} distinct values in {n:,} filled rows, more than "
                f"{max_categories}): free text or an identifier"), None
    if hint:
        return None, (f"the name suggests PII ('{hint[0]}') but it has {col.distinct} distinct values: kept as a "
                      f"{'numeric' if col.numeric else 'categorical'} column, not hashed")
    return None, None


def _protected_reason(col: ColumnProfile) -> str | None:
    tokens = _tokens(col.name)
    for t in tokens:
        if t in PROTECTED_TOKENS:
            return f"the name suggests {PROTECTED_TOKENS[t]} ('{t}')"
    words = {w for v in col.values for w in re.findall(r"[a-z]+", v.lower())}
    hits = sorted(words & set(PROTECTED_VALUE_WORDS))
    if hits:
        return f"values suggest {PROTECTED_VALUE_WORDS[hits[0]]} (e.g. '{hits[0]}')"
    return None


def profile_sample(df: pd.DataFrame, label: str, positive: str, negative: str | None = None, *,
                   sample: str = "<sample>", delimiter: str = ",", leakage_auc: float = DEFAULT_LEAKAGE_AUC,
                   max_categories: int = DEFAULT_MAX_CATEGORIES, reserved: Sequence[str] = ()) -> Profile:
    """Profile a sample (all strings, as :func:`read_sample` gives it) and flag the candidates to confirm.

    ``label`` is the label column as named in the sample or in snake_case; ``positive`` one of its values;
    ``negative`` defaults to the other value when the label is binary. ``reserved``: landing names the caller
    declares itself (the columns the replay adds) that no sample column may take.
    """
    if not 0.5 < leakage_auc <= 1.0:
        raise OnboardError(f"--leakage-auc must be in (0.5, 1], got {leakage_auc}")
    if max_categories < 1:
        raise OnboardError(f"--max-categories must be >= 1, got {max_categories}")
    names: dict[str, str] = {}
    for source in df.columns:
        landing = snake_case(str(source))
        if landing in names.values():
            clash = next(s for s, n in names.items() if n == landing)
            raise OnboardError(f"{sample}: columns {clash!r} and {source!r} both become '{landing}'; rename one")
        names[str(source)] = landing
    by_landing = {n: s for s, n in names.items()}
    label_source = label if label in names else by_landing.get(label)
    if label_source is None:
        raise OnboardError(f"{sample}: label column '{label}' not found; columns: {', '.join(map(str, df.columns))}")
    label_name = names[label_source]
    labels = normalise(df[label_source])
    found = sorted(v for v in labels.unique() if v != "")
    positive, negative = str(positive).strip(), None if negative is None else str(negative).strip()
    if positive not in found:
        raise OnboardError(f"{sample}: positive value {positive!r} not in label column '{label_source}'; "
                           f"values: {', '.join(map(repr, found))}")
    if negative is None:
        others = [v for v in found if v != positive]
        if len(others) != 1:
            raise OnboardError(f"{sample}: label column '{label_source}' has {len(found)} values "
                               f"({', '.join(map(repr, found))}); name the negative one with --negative")
        negative = others[0]
    elif negative not in found or negative == positive:
        raise OnboardError(f"{sample}: negative value {negative!r} not in label column '{label_source}' (or equal "
                           f"to the positive one); values: {', '.join(map(repr, found))}")
    labelled = labels.isin([positive, negative]).to_numpy()
    y = (labels[labelled] == positive).astype(int).to_numpy()
    if y.min() == y.max():
        raise OnboardError(f"{sample}: every labelled row is {positive if y[0] else negative!r}; both classes needed")
    clash = [n for n in names.values() if n in reserved and n != label_name]
    if clash:
        raise OnboardError(f"{sample}: has column(s) {clash}, which the draft declares as replay-added columns; "
                           "pass them as --key / --event-date / --entity, or rename them in the sample")

    columns: dict[str, ColumnProfile] = {}
    flags: list[Flag] = []
    raw: dict[str, pd.Series] = {}
    for source, name in names.items():
        if source == label_source:
            continue
        values = normalise(df[source])
        raw[name] = values
        kind = infer_type(values)
        filled = values[values != ""]
        lo = hi = None
        if kind in NUMERIC and len(filled):
            numbers = pd.to_numeric(filled)
            lo, hi = float(numbers.min()), float(numbers.max())
        distinct = int(filled.nunique())
        listed = tuple(sorted(filled.unique())) if kind == "string" and distinct <= max_categories else ()
        columns[name] = ColumnProfile(name=name, source=source, type=kind, rows=len(values),
                                      nulls=int((values == "").sum()), distinct=distinct, min=lo, max=hi,
                                      values=listed)
    for name, col in columns.items():
        reason, note = _pii_reason(col, raw[name], max_categories)
        if reason:
            flags.append(Flag(name, "pii", reason + ": hashed in silver, never a feature"))
        if note:
            flags.append(Flag(name, "note", note))
        protected = _protected_reason(col)
        if protected:
            flags.append(Flag(name, "protected", protected + ": kept for fairness checks, never a model input"))
        if col.distinct == 0:
            flags.append(Flag(name, "note", "always empty in the sample: typed string, not a feature"))
        elif col.distinct == 1 and not reason:
            flags.append(Flag(name, "note", "one value in the whole sample: not a feature"))
        if col.type in ("date", "timestamp"):
            flags.append(Flag(name, "note", f"a {col.type} column: not a feature (an event date? pass "
                                            f"--event-date {name})"))
    pii = {f.column for f in flags if f.kind == "pii"}
    for name, col in list(columns.items()):
        if name in pii or col.type in ("date", "timestamp") or col.distinct == 0:
            continue
        auc = single_feature_auc(raw[name][labelled], y, col.numeric)
        columns[name] = ColumnProfile(**{**col.__dict__, "auc": auc})
        if auc >= leakage_auc:
            flags.append(Flag(name, "leakage", (
                f"single-feature AUC {auc:.3f} against {label_name} = {positive} reaches the leakage threshold "
                f"{leakage_auc:g}: probably known only after the outcome; confirm before it is ever a feature")))
    return Profile(sample=str(sample), delimiter=delimiter, rows=len(df), label=label_name, label_source=label_source,
                   positive=positive, negative=negative, positives=int(y.sum()), negatives=int(len(y) - y.sum()),
                   other_labels=int((~labelled).sum()), columns=columns, flags=flags, leakage_auc=leakage_auc,
                   max_categories=max_categories)


# ------------------------------------------------------------------------------------------- drafts
@dataclass(frozen=True)
class Keys:
    """Key, event date and entity of the draft, and which of them the replay adds."""

    key: str
    event_date: str
    entity: str
    replay_added: tuple[str, ...]  # of key, event_date, entity: the columns the sample does not have


def resolve_keys(name: str, key: str | None = None, event_date: str | None = None,
                 entity: str | None = None) -> Keys:
    """The options, or the replay-added defaults (``<name>_id``, ``event_date``, ``customer_id``)."""
    chosen = {"key": key, "event_date": event_date, "entity": entity}
    defaults = {"key": f"{name}_id", "event_date": REPLAY_EVENT_DATE, "entity": REPLAY_ENTITY}
    resolved = {k: snake_case(v) if v else defaults[k] for k, v in chosen.items()}
    if len(set(resolved.values())) != 3:
        raise OnboardError(f"key, event date and entity must be three different columns, got {resolved}")
    added = tuple(resolved[k] for k in ("key", "event_date", "entity") if not chosen[k])
    return Keys(key=resolved["key"], event_date=resolved["event_date"], entity=resolved["entity"],
                replay_added=added)


def _range(col: ColumnProfile) -> tuple[float, float]:
    """Suite bounds by :data:`RANGE_RULE`, rounded outwards to whole numbers."""
    lo, hi = float(col.min), float(col.max)
    pad = (hi - lo) or 1.0
    low, high = lo - pad, hi + pad
    if lo >= 0:
        low = max(0.0, low)
    return float(math.floor(low)), float(math.ceil(high))


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.4g}"


def draft_use_case(profile: Profile, name: str, keys: Keys, *, sample: str,
                   maturity_days: int = DEFAULT_MATURITY_DAYS) -> dict[str, Any]:
    """The use-case config (what ``conf/use_cases/<name>.yaml`` holds) as a dict. ``sample``: ``source.sample``."""
    cols = profile.columns
    for option, column, what in ((keys.key, keys.key, "--key"), (keys.event_date, keys.event_date, "--event-date"),
                                 (keys.entity, keys.entity, "--entity")):
        if column not in keys.replay_added and column not in cols:
            raise OnboardError(f"{what} '{option}' is not a column of the sample (label excluded); columns: "
                               f"{', '.join(cols)}")
    if keys.event_date in cols and cols[keys.event_date].type not in ("date", "timestamp"):
        raise OnboardError(f"--event-date '{keys.event_date}' is not a date (YYYY-MM-DD) or timestamp column: its "
                           f"values read as {cols[keys.event_date].type}")
    if maturity_days < 0:
        raise OnboardError(f"--maturity-days must be >= 0, got {maturity_days}")
    special = {keys.key, keys.event_date, keys.entity}
    pii = [keys.entity] + [c for c in profile.pii if c not in special]
    forbidden = {c: r for c, r in profile.leakage.items() if c not in special}
    schema: dict[str, str] = {}
    for c in (keys.key, keys.event_date, keys.entity):
        if c in keys.replay_added:
            schema[c] = "date" if c == keys.event_date else "string"
    for c, col in cols.items():
        schema[c] = "string" if c in pii else col.type
    numeric, categorical = [], []
    for c, col in cols.items():
        if c in special or c in pii or c in forbidden or col.distinct < 2 or col.type in ("date", "timestamp"):
            continue
        (numeric if col.numeric else categorical).append(c)
    protected = [c for c in profile.protected if c not in special and c not in pii]
    required = [keys.key, keys.event_date, keys.entity]
    required += [c for c, col in cols.items() if c not in special and col.nulls == 0]
    outliers = [c for c in numeric if cols[c].distinct >= 10]
    best = max((cols[c].auc or 0.5 for c in numeric + categorical), default=0.5)
    auc_floor = min(0.70, max(0.55, math.floor(best * 100) / 100))
    return {
        "name": name,
        "description": f"DRAFT from {Path(profile.sample).name}: probability that {profile.label} = "
                       f"{profile.positive}.",
        "source": {"format": "csv", "delimiter": profile.delimiter, "sample": sample, "rename": profile.rename,
                   "drop": []},
        "schema": schema,
        "primary_key": [keys.key],
        "event_timestamp": keys.event_date,
        "entity": keys.entity,
        "label": {"column": profile.label, "positive": profile.positive, "negative": profile.negative,
                  "maturity_days": maturity_days},
        "pii": pii,
        "protected_attributes": protected,
        "required": required,
        "outlier_columns": outliers,
        "features": {"numeric": numeric, "categorical": categorical, "derived": []},
        "forbidden_features": forbidden,
        "expectations": {"silver": f"{name}_silver"},
        "thresholds": {"max_quarantine_share": 0.2, "outlier_z": 3.0, "outlier_iqr_k": 1.5},
        "model": {
            "seed": 42, "decision_cutoff": 0.5, "split": {"validation_fraction": 0.2, "holdout_fraction": 0.2},
            "search": {"n_trials": 25, "timeout_seconds": 300, "space": {
                "max_depth": {"type": "int", "low": 2, "high": 6},
                "learning_rate": {"type": "float", "low": 0.02, "high": 0.3, "log": True},
                "n_estimators": {"type": "int", "low": 50, "high": 400},
                "min_child_weight": {"type": "float", "low": 1.0, "high": 10.0, "log": True},
                "subsample": {"type": "float", "low": 0.6, "high": 1.0},
                "colsample_bytree": {"type": "float", "low": 0.5, "high": 1.0},
                "reg_lambda": {"type": "float", "low": 0.001, "high": 10.0, "log": True},
            }},
        },
        "gate": {"auc_floor": auc_floor, "min_improvement": 0.005, "enforce_fairness": False},
        "fairness": {"disparate_impact_min": 0.8, "equal_opportunity_max_diff": 0.1,
                     "age_buckets": [25, 35, 50, 65], "positive_is_favourable": False},
        "scoring": {
            "bands": [{"name": "low", "max_score": 0.3}, {"name": "medium", "max_score": 0.6},
                      {"name": "high", "max_score": 1.0}],
            "reason_codes": {"bands": ["high"], "share": 0.0, "top_n": 3, "mode": "exact"},
            "canary_fraction": 0.1,
        },
        "monitoring": {
            "drift": {"psi_warn": 0.1, "psi_alert": 0.25, "ks_pvalue": 0.05, "ks_min_statistic": 0.1,
                      "chi2_pvalue": 0.05, "chi2_min_cramers_v": 0.2, "new_category_share_warn": 0.005,
                      "new_category_share_alert": 0.02},
            "retrain": {"alert_runs": 3, "window_runs": 5, "min_alert_features": 2, "performance_drop": 0.10,
                        "min_cohort_rows": 200, "cooldown_runs": 5},
        },
    }


def draft_suite(profile: Profile, use_case: dict[str, Any]) -> dict[str, Any]:
    """The silver suite (what ``expectations/<name>_silver.json`` holds, as the shipped suites) as a dict."""
    name, schema = use_case["name"], use_case["schema"]
    key, event_date, entity = use_case["primary_key"][0], use_case["event_timestamp"], use_case["entity"]
    sample = Path(profile.sample).name
    exps: list[dict[str, Any]] = []

    def add(kind: str, notes: str, **kwargs: Any) -> None:
        exps.append({"type": kind, "kwargs": kwargs, "meta": {"notes": notes}})

    for c in use_case["required"]:
        if c == key:
            note = "Primary key: labels, reruns and the gold tables join on it."
        elif c == event_date:
            note = "Event date: drives partitioning, point-in-time features and label matching."
        elif c == entity:
            note = "Customer (hashed): point-in-time features group by it."
        else:
            note = f"Never empty in the sample ({sample}, {profile.rows:,} rows): an empty cell is refused, not imputed."
        add("expect_column_values_to_not_be_null", note, column=c)
    add("expect_column_values_to_be_unique", "Silver deduplicates on the key before validating, so a duplicate "
        "here is a silver bug. GX blames every row of a duplicated key.", column=key)
    for c in use_case["pii"]:
        add("expect_column_values_to_match_regex", "PII must arrive hashed (SHA-256, lowercase hex); anything else "
            "may be a clear-text identifier.", column=c, regex=HASHED_PII_REGEX)
    for c, col in profile.columns.items():
        if schema.get(c) not in NUMERIC or col.min is None:
            continue
        low, high = _range(col)
        add("expect_column_values_to_be_between",
            f"Sample range {_fmt(col.min)}..{_fmt(col.max)} ({sample}); bounds {_fmt(low)}..{_fmt(high)} are "
            f"{RANGE_RULE}. {TO_REPLACE}", column=c, min_value=low, max_value=high)
    for c, col in profile.columns.items():
        if schema.get(c) != "string" or c in use_case["pii"] or c in (key, entity) or not col.values:
            continue
        add("expect_column_values_to_be_in_set",
            f"The {len(col.values)} values of the sample ({sample}) after whitespace normalisation; a new category "
            "must be added here deliberately.", column=c, value_set=list(col.values))
    add("expect_table_columns_to_match_set", "Every landing column of the schema must be there; extra columns "
        "(_row_id, metadata) are allowed.", column_set=list(schema), exact_match=False)
    add("expect_table_row_count_to_be_between", "An empty silver batch means an upstream problem, not a quiet day.",
        min_value=1)
    return {"name": use_case["expectations"]["silver"], "expectations": exps,
            "meta": {"use_case": name, "notes": (
                f"DRAFT silver-layer checks for {name}, written by jobs/onboard.py from {sample} (see "
                "expectations/README.md). Numeric ranges are the sample's, widened: replace them by business "
                "bounds. Column-map expectations quarantine the rows they blame; table-level ones fail the task.")}}


# ------------------------------------------------------------------------------------------- YAML text
def _scalar(value: Any) -> str:
    """A YAML scalar that reads back as the same value (strings quoted when plain style would not)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    plain = (text and re.match(r"^[A-Za-z0-9_./-][A-Za-z0-9_./ -]*$", text) and not text.endswith(" ")
             and yaml.safe_load(text) == text)
    return text if plain else json.dumps(text, ensure_ascii=False)


def _flow(value: Any) -> str:
    """A mapping or list in YAML flow style, one line."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def _comment_block(text: str, indent: str = "", width: int = 116) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(indent) + 2 + len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}" if line else w
    if line:
        lines.append(line)
    return [f"{indent}# {x}" for x in lines]


def _with_comment(line: str, comment: str | None, column: int = 48) -> str:
    if not comment:
        return line
    return f"{line.ljust(column)} # {comment}"


def render_yaml(use_case: dict[str, Any], profile: Profile, keys: Keys) -> str:
    """The YAML text of the draft, with what was inferred and the candidates to confirm as comments."""
    uc, cols = use_case, profile.columns
    pii_reason, protected_reason, leak = profile.flagged("pii"), profile.flagged("protected"), profile.leakage
    notes = profile.flagged("note")
    confirm = [f for f in profile.flags if f.kind in ("pii", "protected", "leakage")]
    out = [f"# DRAFT of use case '{uc['name']}', written by `make onboard` (python -m jobs.onboard) from "
           f"{Path(profile.sample).name}",
           f"# ({profile.rows:,} rows; label {profile.label} = {profile.positive} in {profile.positives:,}, "
           f"{profile.negative} in {profile.negatives:,}"
           + (f", {profile.other_labels:,} other or empty" if profile.other_labels else "") + ").",
           "# Review every CONFIRM comment, then remove this header. Flagged for a person to confirm:"]
    out += [f"#   CONFIRM {f.line()}" for f in confirm] or ["#   (nothing flagged)"]
    for c, n in notes.items():
        out.append(f"#   note      {c}: {n}")
    out += ["", f"name: {_scalar(uc['name'])}", f"description: {_scalar(uc['description'])}", "", "source:"]
    src = uc["source"]
    out += [f"  format: {src['format']}", f"  delimiter: {_scalar(src['delimiter'])}",
            _with_comment(f"  sample: {_scalar(src['sample'])}", "under paths.samples; replayed into landing files"),
            _with_comment(f"  rename: {_flow(src['rename'])}", "sample column -> landing column"
                          if src["rename"] else None),
            f"  drop: {_flow(src['drop'])}", ""]
    added = keys.replay_added
    out += _comment_block("Landing columns in file order and their types (inferred from the sample: type, empty "
                          "share, distinct values, range, single-feature AUC against the label)."
                          + (f" {', '.join(added)} are added by the replay (the sample has none)." if added else ""))
    out.append("schema:")
    for c, t in uc["schema"].items():
        if c in added:
            comment = "added by the replay"
        else:
            col = cols[c]
            bits = [f"{col.null_share:.0%} empty", f"{col.distinct:,} values"]
            if col.numeric:
                bits.append(f"{_fmt(col.min)}..{_fmt(col.max)}")
            if col.auc is not None:
                bits.append(f"AUC {col.auc:.3f}")
            if t != col.type:
                bits.append(f"read as {col.type}, a string because PII")
            comment = ", ".join(bits)
            if c in leak:
                comment += "; CONFIRM leakage"
            elif c in pii_reason:
                comment += "; CONFIRM PII"
        out.append(_with_comment(f"  {c}: {t}", comment))
    out += ["", f"primary_key: {_flow(uc['primary_key'])}", f"event_timestamp: {_scalar(uc['event_timestamp'])}",
            f"entity: {_scalar(uc['entity'])}", "", "label:"]
    lab = uc["label"]
    out += [f"  column: {_scalar(lab['column'])}", f"  positive: {_scalar(lab['positive'])}",
            f"  negative: {_scalar(lab['negative'])}",
            _with_comment(f"  maturity_days: {lab['maturity_days']}",
                          "CONFIRM: days until an outcome is known (the replay delays labels by this much)"), ""]
    out.append("pii:" if uc["pii"] else "pii: []")
    for c in uc["pii"]:
        reason = ("the customer id, added by the replay" if c in added else
                  "the entity: hashed like all PII" if c == uc["entity"] and c not in pii_reason else
                  f"CONFIRM: {pii_reason.get(c, '')}")
        out.append(_with_comment(f"  - {c}", reason))
    out.append("protected_attributes:" if uc["protected_attributes"] else "protected_attributes: []")
    for c in uc["protected_attributes"]:
        out.append(_with_comment(f"  - {c}", f"CONFIRM: {protected_reason.get(c, '')}"))
    out += [_with_comment(f"required: {_flow(uc['required'])}", None),
            "# required: the key, event date and entity, and every column never empty in the sample (not-null "
            "in the suite).",
            f"outlier_columns: {_flow(uc['outlier_columns'])}", "",
            "# Features: numeric and categorical columns that are neither PII, forbidden, the key, the event date, the",
            "# entity nor the label (protected attributes stay listed, as in the shipped use cases: the model never",
            "# uses them). derived: functions of jobs/features.py (ratio, log1p, prior_event_count,",
            "# trailing_mean_ratio), none drafted.",
            "features:"]
    feats = uc["features"]
    for kind in ("numeric", "categorical"):
        out.append(f"  {kind}:" if feats[kind] else f"  {kind}: []")
        out += [f"    - {c}" for c in feats[kind]]
    out += ["  derived: []", ""]
    if uc["forbidden_features"]:
        out += _comment_block(f"Single-feature AUC against the label at or above {profile.leakage_auc:g} "
                              "(--leakage-auc): forbidden as features. CONFIRM each one.")
        out.append("forbidden_features:")
        out += [f"  {c}: {_scalar(r)}" for c, r in uc["forbidden_features"].items()]
    else:
        out.append(f"forbidden_features: {{}}                          # no column reaches single-feature AUC "
                   f"{profile.leakage_auc:g}")
    out += ["", "expectations:", _with_comment(f"  silver: {uc['expectations']['silver']}",
                                               f"expectations/{uc['expectations']['silver']}.json (drafted with "
                                               "this file)"), "",
            f"thresholds: {_flow(uc['thresholds'])}", ""]
    m = uc["model"]
    out += ["# Training (jobs/train.py): XGBoost tuned with Optuna on a time-ordered split of gold/<uc>/training.",
            "model:", f"  seed: {m['seed']}", f"  decision_cutoff: {m['decision_cutoff']}",
            f"  split: {_flow(m['split'])}", "  search:", f"    n_trials: {m['search']['n_trials']}",
            f"    timeout_seconds: {m['search']['timeout_seconds']}", "    space:"]
    out += [f"      {p}: {_flow(d)}" for p, d in m["search"]["space"].items()]
    g = uc["gate"]
    best = max((cols[c].auc or 0.5 for c in feats["numeric"] + feats["categorical"]), default=0.5)
    out += ["", "# Quality gate (jobs/lib/registry.py): challenger -> champion only when all of it holds.", "gate:",
            _with_comment(f"  auc_floor: {g['auc_floor']}", f"CONFIRM: best single feature {best:.3f}, rounded "
                          "down and kept in [0.55, 0.70]"),
            f"  min_improvement: {g['min_improvement']}",
            _with_comment(f"  enforce_fairness: {_scalar(g['enforce_fairness'])}",
                          "recorded, not blocking, until the governance review decides"), ""]
    f = uc["fairness"]
    out += ["fairness:", f"  disparate_impact_min: {f['disparate_impact_min']}",
            f"  equal_opportunity_max_diff: {f['equal_opportunity_max_diff']}",
            f"  age_buckets: {_flow(f['age_buckets'])}",
            _with_comment(f"  positive_is_favourable: {_scalar(f['positive_is_favourable'])}",
                          f"CONFIRM: false if {profile.label} = {profile.positive} is adverse (a risk), true if "
                          "favourable (an offer)"), ""]
    s = uc["scoring"]
    out += ["# Nightly scoring (jobs/score.py) into scores/<use_case>.", "scoring:", "  bands:"]
    out += [f"    - {_flow(b)}" for b in s["bands"]]
    out += [f"  reason_codes: {_flow(s['reason_codes'])}", f"  canary_fraction: {s['canary_fraction']}", ""]
    mon = uc["monitoring"]
    out += ["# Drift (jobs/drift.py) against the champion's reference statistics, and when to retrain.",
            "monitoring:", f"  drift: {_flow(mon['drift'])}", f"  retrain: {_flow(mon['retrain'])}"]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------- checks & I/O
def check_drafts(name: str, yaml_text: str, suite: dict[str, Any], expected: dict[str, Any]) -> None:
    """Load both drafts back through the project's own parsers, in a temporary folder: the YAML with
    :func:`jobs.lib.config.load_use_case` (and it must read back as ``expected``), the suite with
    :func:`jobs.lib.validation.load_suite`. Raises :class:`OnboardError` naming what the project refuses."""
    from jobs.lib.config import ConfigError, load_use_case
    from jobs.lib.validation import SuiteError, load_suite

    if yaml.safe_load(yaml_text) != expected:
        raise OnboardError("internal error: the YAML text does not read back as the drafted use case")
    with tempfile.TemporaryDirectory(prefix="riskpipe-onboard-") as tmp:
        folder = Path(tmp)
        (folder / "use_cases").mkdir()
        (folder / "use_cases" / f"{name}.yaml").write_text(yaml_text, encoding="utf-8")
        (folder / f"{suite['name']}.json").write_text(json.dumps(suite), encoding="utf-8")
        try:
            load_use_case(name, folder)
            load_suite(suite["name"], folder)
        except (ConfigError, SuiteError) as exc:
            raise OnboardError(f"the draft fails the project's own validation: {exc}") from exc


def _sample_reference(sample: Path, samples_dir: Path) -> str:
    """``source.sample``: the path under ``paths.samples`` when the file is there, else its absolute path."""
    sample, samples_dir = sample.resolve(), samples_dir.resolve()
    try:
        return sample.relative_to(samples_dir).as_posix()
    except ValueError:
        return str(sample)


@dataclass(frozen=True)
class Drafts:
    profile: Profile
    keys: Keys
    use_case: dict[str, Any]
    suite: dict[str, Any]
    yaml_text: str
    yaml_path: Path
    suite_path: Path


def make_drafts(sample: str | os.PathLike[str], name: str, label: str, positive: str, *,
                negative: str | None = None, key: str | None = None, event_date: str | None = None,
                entity: str | None = None, leakage_auc: float = DEFAULT_LEAKAGE_AUC,
                maturity_days: int = DEFAULT_MATURITY_DAYS, max_categories: int = DEFAULT_MAX_CATEGORIES,
                conf_dir: str | os.PathLike[str] | None = None,
                expectations_dir: str | os.PathLike[str] | None = None,
                samples_dir: str | os.PathLike[str] | None = None) -> Drafts:
    """Profile, draft and check; nothing is written. Refuses (:class:`OnboardError`) when a target file exists."""
    from jobs.lib import config

    if not _NAME.match(name):
        raise OnboardError(f"--name {name!r} must be lowercase snake_case (a-z, 0-9, _; a letter first)")
    folder = Path(conf_dir) if conf_dir else config.conf_dir()
    if samples_dir is None or expectations_dir is None:
        try:
            paths = config.load_settings(directory=folder).paths
        except config.ConfigError as exc:
            raise OnboardError(f"cannot read the settings of {folder} (--conf-dir must be a whole configuration "
                               f"folder: base.yaml, profiles/, use_cases/): {exc}") from exc
        samples_dir = samples_dir if samples_dir is not None else paths.samples
        expectations_dir = expectations_dir if expectations_dir is not None else paths.expectations
    yaml_path = folder / "use_cases" / f"{name}.yaml"
    suite_path = Path(expectations_dir) / f"{name}_silver.json"
    existing = [str(p) for p in (yaml_path, suite_path) if p.exists()]
    if existing:
        raise OnboardError(f"refusing to overwrite {' and '.join(existing)}: remove {'them' if len(existing) > 1 else 'it'}"
                           ", or pick another --name")
    keys = resolve_keys(name, key, event_date, entity)
    df, delimiter = read_sample(sample)
    profile = profile_sample(df, label, positive, negative, sample=str(sample), delimiter=delimiter,
                             leakage_auc=leakage_auc, max_categories=max_categories, reserved=keys.replay_added)
    use_case = draft_use_case(profile, name, keys, sample=_sample_reference(Path(sample), Path(samples_dir)),
                              maturity_days=maturity_days)
    suite = draft_suite(profile, use_case)
    text = render_yaml(use_case, profile, keys)
    check_drafts(name, text, suite, use_case)
    return Drafts(profile=profile, keys=keys, use_case=use_case, suite=suite, yaml_text=text, yaml_path=yaml_path,
                  suite_path=suite_path)


def write_drafts(drafts: Drafts) -> None:
    """Write both files, each created exclusively (a file that appeared meanwhile is never overwritten)."""
    written: list[Path] = []
    try:
        for path, text in ((drafts.suite_path, json.dumps(drafts.suite, indent=2) + "\n"),
                           (drafts.yaml_path, drafts.yaml_text)):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "x", encoding="utf-8") as fh:
                written.append(path)
                fh.write(text)
    except FileExistsError as exc:
        for path in written[:-1] if written and written[-1] == Path(exc.filename) else written:
            path.unlink(missing_ok=True)
        raise OnboardError(f"refusing to overwrite {exc.filename}: remove it, or pick another --name") from None
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def summary(drafts: Drafts) -> str:
    """What was inferred and what needs a person's confirmation, for the terminal."""
    p, uc = drafts.profile, drafts.use_case
    lines = [f"onboard {uc['name']}: {p.rows:,} rows of {p.sample} (delimiter {p.delimiter!r}); label "
             f"{p.label} = {p.positive!r} in {p.positives:,} rows, {p.negative!r} in {p.negatives:,}"
             + (f", {p.other_labels:,} other or empty" if p.other_labels else ""),
             f"  key {drafts.keys.key}, event date {drafts.keys.event_date}, entity {drafts.keys.entity}"
             + (f" ({', '.join(drafts.keys.replay_added)} added by the replay)" if drafts.keys.replay_added else ""),
             f"  {'column':<34} {'type':<9} {'empty':>6} {'values':>7} {'range':>21} {'AUC':>6}  role"]
    feats = uc["features"]
    for c, col in p.columns.items():
        role = ("key" if c == drafts.keys.key else "event date" if c == drafts.keys.event_date
                else "entity (PII)" if c == drafts.keys.entity else "PII" if c in uc["pii"]
                else "FORBIDDEN (leakage)" if c in uc["forbidden_features"]
                else "numeric feature" if c in feats["numeric"] else "categorical feature" if c in feats["categorical"]
                else "not a feature")
        if c in uc["protected_attributes"]:
            role += ", protected"
        rng = f"{_fmt(col.min)}..{_fmt(col.max)}" if col.numeric else ""
        auc = f"{col.auc:.3f}" if col.auc is not None else "-"
        lines.append(f"  {c[:34]:<34} {uc['schema'][c]:<9} {col.null_share:>6.1%} {col.distinct:>7,} {rng:>21} "
                     f"{auc:>6}  {role}")
    confirm = [f for f in p.flags if f.kind in ("pii", "protected", "leakage")]
    lines.append(f"Needs a person's confirmation ({len(confirm)}; also CONFIRM comments in the YAML):")
    lines += [f"  {f.line()}" for f in confirm] or ["  (nothing flagged)"]
    lines += [f"  CONFIRM   label.maturity_days = {uc['label']['maturity_days']}, gate.auc_floor = "
              f"{uc['gate']['auc_floor']}, fairness.positive_is_favourable = "
              f"{str(uc['fairness']['positive_is_favourable']).lower()}"]
    notes = [f for f in p.flags if f.kind == "note"]
    if notes:
        lines.append("Notes:")
        lines += [f"  {f.column}: {f.reason}" for f in notes]
    n = len(drafts.suite["expectations"])
    lines.append(f"Suite {drafts.suite['name']}: {n} expectations; numeric ranges are {RANGE_RULE} "
                 f"({TO_REPLACE.lower().rstrip('.')}).")
    if not drafts.keys.replay_added or len(drafts.keys.replay_added) < 3:
        lines.append("Note: jobs.replay adds the key, event date and entity itself and refuses a sample that has "
                     "any of them: land real files for this use case.")
    if Path(uc["source"]["sample"]).is_absolute():
        lines.append("Note: the sample is not under paths.samples; source.sample holds its absolute path. Move it "
                     "to the samples folder and set source.sample to its name before committing.")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.onboard",
        description="Draft conf/use_cases/<name>.yaml and expectations/<name>_silver.json from a sample file "
                    "(.csv or .csv.gz): types, nulls and cardinality profiled; PII, protected attributes and "
                    "leaking columns (single-feature AUC) flagged for a person to confirm. Never overwrites.")
    parser.add_argument("--sample", required=True, help="the sample file (.csv or .csv.gz, with a header line)")
    parser.add_argument("--name", required=True, help="use case name (lowercase snake_case)")
    parser.add_argument("--label", required=True, help="the label column of the sample")
    parser.add_argument("--positive", required=True, help="the label value the model predicts (positive class)")
    parser.add_argument("--negative", default=None,
                        help="the other label value (default: the other value when the label is binary)")
    parser.add_argument("--key", default=None,
                        help="primary key column, when the sample has one (default: <name>_id, added by the replay)")
    parser.add_argument("--event-date", default=None,
                        help=f"event date column, when the sample has one (default: {REPLAY_EVENT_DATE}, added by "
                             "the replay)")
    parser.add_argument("--entity", default=None,
                        help=f"customer column, when the sample has one (default: {REPLAY_ENTITY}, added by the "
                             "replay); hashed as PII")
    parser.add_argument("--leakage-auc", type=float, default=DEFAULT_LEAKAGE_AUC,
                        help=f"single-feature AUC from which a column is forbidden as leaking (default "
                             f"{DEFAULT_LEAKAGE_AUC})")
    parser.add_argument("--maturity-days", type=int, default=DEFAULT_MATURITY_DAYS,
                        help=f"days until a row's outcome is known (label.maturity_days, default "
                             f"{DEFAULT_MATURITY_DAYS})")
    parser.add_argument("--max-categories", type=int, default=DEFAULT_MAX_CATEGORIES,
                        help=f"a string column with more distinct values is a PII candidate, not a categorical "
                             f"(default {DEFAULT_MAX_CATEGORIES})")
    parser.add_argument("--conf-dir", default=None,
                        help="configuration folder to write use_cases/<name>.yaml into (default: RISKPIPE_CONF_DIR "
                             "or conf/)")
    parser.add_argument("--expectations-dir", default=None,
                        help="folder for <name>_silver.json (default: paths.expectations of that configuration)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        drafts = make_drafts(args.sample, args.name, args.label, args.positive, negative=args.negative,
                             key=args.key, event_date=args.event_date, entity=args.entity,
                             leakage_auc=args.leakage_auc, maturity_days=args.maturity_days,
                             max_categories=args.max_categories, conf_dir=args.conf_dir,
                             expectations_dir=args.expectations_dir)
        write_drafts(drafts)
    except OnboardError as exc:
        print(f"onboard: error: {exc}", file=sys.stderr)
        return 2
    print(summary(drafts))
    print(f"Wrote {drafts.yaml_path}\n      {drafts.suite_path}")
    print(f"Next: review the CONFIRM comments, then `make run USE_CASES={args.name}` (with RISKPIPE_CONF_DIR when "
          f"the draft is not in conf/).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
