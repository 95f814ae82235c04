"""Nightly scoring: the domain logic of :mod:`jobs.score` (no Spark session here, no MLflow).

**What the CRM reads** (``scores/<uc>/daily``, partitioned by ``score_date``; the contract other jobs build on):

=========================  ==================  ==============================================================
column                     type                meaning
=========================  ==================  ==============================================================
the primary key column(s)  string              the use case's key (e.g. ``application_id``)
``entity_id``              string              the hashed entity (customer) column of gold
``event_date``             date                the use case's event date
``score``                  double              probability of the positive class
``band``                   string              decision band (``scoring.bands``; inclusive on ``max_score``)
``reason_codes``           array<string>       features pushing the score towards the positive class, largest
                                               first (only positive contributions; null when not computed)
``reason_contributions``   array<double>       their contributions in log-odds, same order
``model_name``             string              registered model (the use case's name)
``model_version``          string              registered version that produced ``score``
``model_alias``            string              ``champion`` or ``challenger``
``model_role``             string              ``champion`` or ``canary`` (``shadow`` in the shadow table)
``run_id``                 string              MLflow run of that version
``scored_at``              timestamp           when the run scored (one value per run)
``score_date``             date                the logical date scored (partition)
=========================  ==================  ==============================================================

**Deterministic shares.** A value ``v`` maps to ``u(v) = int(sha256(v)[:8 hex], 16) / 2**32`` in ``[0, 1)``
(:func:`unit_hash`; the same in Spark SQL: :func:`spark_unit_hash`). The **canary** is every row whose
``u(entity_id) < scoring.canary_fraction``: a customer is in it or not on every date and rerun, whatever
else changed. The **reason-code sample** outside ``reason_codes.bands`` is ``u(key) < reason_codes.share``,
where the key is the primary key column(s) joined with ``|``.

**Models in the workers.** A :class:`ScoringModel` carries the booster's raw UBJSON bytes (no MLflow access on
executors); :func:`booster_for` loads them once per Python worker and keeps the ``xgboost.Booster`` in a
module-level cache keyed by (model name, version, run id), so every later batch and task of the worker reuses it.
Features are built with :func:`jobs.lib.modeling.prepare_features` and the version's own feature spec: the
same numeric ``float64`` and categorical ``category`` columns as training (an unseen level becomes missing);
:func:`prepare_batch` applies it to each categorical column's distinct values rather than to every row.

**Reason codes.** XGBoost's own per-feature contributions (``pred_contribs``: TreeSHAP for ``mode: exact``,
Saabas-style ``approx_contribs`` for ``approx``), computed only for the rows that get reason codes (they cost
hundreds of predictions each). Categorical features are split natively (one column per feature), so a
contribution belongs to the original feature, never to a one-hot level. Contributions plus the bias equal
the margin (log-odds). Canary rows get the challenger's reasons (they explain the score the CRM shows); shadow
rows get none (null), which halves the cost on days with a challenger.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobs.lib.config import Band, ReasonCodes, ScoringSettings
from jobs.lib.modeling import XGB_THREADS, FeatureSpec, prepare_features

if TYPE_CHECKING:
    import pyarrow as pa
    import xgboost as xgb
    from pyspark.sql import Column

CHAMPION, CHALLENGER = "champion", "challenger"  # registry aliases
ROLE_CHAMPION, ROLE_CANARY, ROLE_SHADOW = "champion", "canary", "shadow"
ENTITY, EVENT_DATE, SCORE, BAND = "entity_id", "event_date", "score", "band"
REASON_CODES, REASON_CONTRIBUTIONS = "reason_codes", "reason_contributions"
SCORED_AT, SCORE_DATE = "scored_at", "score_date"
SHADOW_SCORE, SHADOW_BAND = "_shadow_score", "_shadow_band"  # worker output only (the shadow table's score)
REASON_U, CANARY_U = "_reason_u", "_canary_u"  # worker input: the deterministic hashes (computed in Spark)
HASH_HEX = 8  # hex digits of sha256 used by unit_hash
MAX_CACHED_BOOSTERS = 4  # per Python worker (champion + challenger, and a new version after a promotion)
# Rows per Arrow batch handed to the scoring function (Spark's default is 10,000). Each batch pays a fixed cost in
# prepare_batch and inplace_predict; measured on 1M rows, 300 trees, local[2], quiet: the mapInArrow pass took
# 11.2 s at 10k rows a batch, 8.1 s at 50k, 8.6 s at 100k. ~50k rows x 21 features is a few MB per batch.
ARROW_BATCH_ROWS = 50_000
SPARK_CONF = {"spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH_ROWS)}  # around the scoring action


class ScoringError(ValueError):
    """Scoring cannot start (missing feature columns, a model that does not match its feature spec);
    raised before anything is written."""


# ------------------------------------------------------------------------------------------ contract
def model_columns() -> list[tuple[str, str]]:
    """The CRM columns after the key column(s): (name, Spark SQL type)."""
    return [(ENTITY, "string"), (EVENT_DATE, "date"), (SCORE, "double"), (BAND, "string"),
            (REASON_CODES, "array<string>"), (REASON_CONTRIBUTIONS, "array<double>"), ("model_name", "string"),
            ("model_version", "string"), ("model_alias", "string"), ("model_role", "string"), ("run_id", "string"),
            (SCORED_AT, "timestamp"), (SCORE_DATE, "date")]


def crm_columns(keys: Sequence[str]) -> list[tuple[str, str]]:
    """Every column of the CRM (and shadow, and latest) table, in order: (name, Spark SQL type)."""
    return [*((k, "string") for k in keys), *model_columns()]


#: Columns the job fills from the row's model_role, not the workers (one value per model: no need to ship a
#: string per row back from Python), and the ones it adds once per run.
MODEL_IDENTITY = ("model_name", "model_version", "model_alias", "run_id")
PER_RUN = (SCORED_AT, SCORE_DATE)


def worker_columns(keys: Sequence[str]) -> list[tuple[str, str]]:
    """What the scoring function returns per row: the CRM columns without the model identity (the job derives it
    from ``model_role``: :func:`model_identity`) and the per-run columns, plus the challenger's score and band
    for the shadow table."""
    return [*((c, t) for c, t in crm_columns(keys) if c not in (*MODEL_IDENTITY, *PER_RUN)),
            (SHADOW_SCORE, "double"), (SHADOW_BAND, "string")]


def model_identity(model: ScoringModel) -> dict[str, str]:
    """The CRM's model columns of the rows ``model`` scored."""
    return {"model_name": model.name, "model_version": model.version, "model_alias": model.alias,
            "run_id": model.run_id}


def ddl(columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"`{c}` {t}" for c, t in columns)


def check_key_names(keys: Sequence[str]) -> None:
    clash = [k for k in keys if k in {c for c, _ in model_columns()} | {SHADOW_SCORE, SHADOW_BAND}]
    if clash:
        raise ScoringError(f"primary key column(s) {clash} clash with the score table's own columns")


# ------------------------------------------------------------------------------------ deterministic
def unit_hash(value: str) -> float:
    """``value`` -> [0, 1): the first 8 hex digits of its SHA-256 (UTF-8) over 2**32."""
    return int(hashlib.sha256(value.encode("utf-8")).hexdigest()[:HASH_HEX], 16) / 2.0 ** 32


def spark_unit_hash(column: Column) -> Column:
    """:func:`unit_hash` of a string column as a Spark expression (null stays null)."""
    from pyspark.sql import functions as F

    return F.conv(F.substring(F.sha2(column, 256), 1, HASH_HEX), 16, 10).cast("double") / F.lit(2.0 ** 32)


def key_text(values: Sequence[Any]) -> str:
    """The text a (possibly composite) key is hashed as: its values joined with ``|``."""
    return "|".join("" if v is None else str(v) for v in values)


# -------------------------------------------------------------------------------------------- bands
def assign_bands(scores: np.ndarray, bands: Sequence[Band]) -> np.ndarray:
    """Band names of ``scores`` (vectorised :meth:`ScoringSettings.band`): the first band whose ``max_score``
    the score does not exceed; above the last one (cannot happen for a probability) the last band. A
    missing score has no band (None)."""
    scores = np.asarray(scores, dtype="float64")
    uppers = np.asarray([b.max_score for b in bands], dtype="float64")
    names = np.asarray([b.name for b in bands], dtype=object)
    index = np.minimum(np.searchsorted(uppers, scores, side="left"), len(bands) - 1)
    out = names[index]
    out[np.isnan(scores)] = None
    return out


def reason_mask(band_names: np.ndarray, reason_u: np.ndarray | None, rc: ReasonCodes) -> np.ndarray:
    """Which rows get reason codes: every row in ``rc.bands``, and the rows of other bands whose key hash is
    below ``rc.share``."""
    mask = np.isin(band_names.astype(object), np.asarray(rc.bands, dtype=object))
    if rc.share > 0 and reason_u is not None:
        mask |= np.asarray(reason_u, dtype="float64") < rc.share
    return mask


def canary_mask(canary_u: np.ndarray | None, fraction: float, n: int) -> np.ndarray:
    """Rows the challenger scores in the CRM table: entity hash below ``fraction`` (none without a hash)."""
    if canary_u is None or fraction <= 0:
        return np.zeros(n, dtype=bool)
    return np.asarray(canary_u, dtype="float64") < fraction


# ------------------------------------------------------------------------------------- reason codes
def top_reasons(contribs: np.ndarray, names: Sequence[str], top_n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From ``contribs`` (rows x (features + bias), XGBoost's layout: bias last) the top ``top_n`` features with
    a positive contribution per row, largest first (ties: feature order). Returns ``(counts, feature index,
    contribution)``: ``counts[i]`` reasons for row ``i``, the other two flattened row after row."""
    contribs = np.asarray(contribs, dtype="float64")
    features = contribs[:, :len(names)]
    if features.size == 0:
        return np.zeros(len(contribs), dtype="int64"), np.zeros(0, dtype="int64"), np.zeros(0)
    order = np.argsort(-features, axis=1, kind="stable")[:, :top_n]
    chosen = np.take_along_axis(features, order, axis=1)
    keep = chosen > 0
    counts = keep.sum(axis=1).astype("int64")
    return counts, order[keep], chosen[keep]  # positives come first in each row, so keep[i] is a prefix


# -------------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class ScoringModel:
    """One registered version as the workers need it: identity, feature spec and the booster's raw bytes."""

    name: str
    version: str
    alias: str  # champion / challenger
    run_id: str
    spec: FeatureSpec
    raw: bytes  # xgboost.Booster.save_raw("ubj")

    @property
    def cache_key(self) -> tuple[str, str, str]:
        return self.name, self.version, self.run_id

    def __repr__(self) -> str:  # not the bytes
        return f"ScoringModel({self.name} v{self.version} @{self.alias}, run {self.run_id}, {len(self.raw)} bytes)"


_BOOSTERS: OrderedDict[tuple[str, str, str], xgb.Booster] = OrderedDict()
BOOSTER_LOADS: list[tuple[str, str, str]] = []  # what this process loaded (tests check the cache with it)


def booster_for(model: ScoringModel) -> xgb.Booster:
    """The model's booster, loaded once per process (Python worker) and cached by (name, version, run id)."""
    cached = _BOOSTERS.get(model.cache_key)
    if cached is not None:
        _BOOSTERS.move_to_end(model.cache_key)
        return cached
    import xgboost as xgb

    booster = xgb.Booster(model_file=bytearray(model.raw))
    booster.set_param({"nthread": XGB_THREADS})  # one thread per Spark task: Spark runs a task per core
    _BOOSTERS[model.cache_key] = booster
    BOOSTER_LOADS.append(model.cache_key)
    while len(_BOOSTERS) > MAX_CACHED_BOOSTERS:
        _BOOSTERS.popitem(last=False)
    return booster


def iteration_range(booster: xgb.Booster) -> tuple[int, int]:
    """The trees predictions use: up to the best iteration when the model was early-stopped (as the
    scikit-learn wrapper does), else all of them."""
    best = booster.attr("best_iteration")
    return (0, int(best) + 1) if best is not None else (0, 0)


def check_model(spec: FeatureSpec, booster: xgb.Booster, where: str) -> None:
    """The booster must take exactly the spec's columns, in order, categorical where the spec says so."""
    names = list(booster.feature_names or [])
    if names != spec.columns:
        missing = [c for c in spec.columns if c not in names]
        extra = [c for c in names if c not in spec.columns]
        raise ScoringError(f"{where}: the model's features do not match its feature spec (feature_spec.json): "
                           f"spec columns not in the model {missing}, model columns not in the spec {extra}"
                           + ("" if missing or extra else f", order {names} vs {spec.columns}"))
    types = dict(zip(names, booster.feature_types or ["float"] * len(names), strict=True))
    categorical = [c for c in names if types[c] == "c"]
    if sorted(categorical) != sorted(spec.categorical):
        raise ScoringError(f"{where}: the model treats {categorical} as categorical but its feature spec says "
                           f"{list(spec.categorical)}")


NUMERIC_SPARK_TYPES = ("tinyint", "smallint", "int", "bigint", "float", "double", "boolean")


def check_columns(spec: FeatureSpec, column_types: dict[str, str], where: str) -> None:
    """The gold columns (name -> Spark simple type) must hold the spec's features: every one present, numeric
    features numeric. Raises naming every problem."""
    problems = []
    missing = [c for c in spec.columns if c not in column_types]
    if missing:
        problems.append(f"missing feature column(s) {missing}")
    retyped = [f"{c} is {column_types[c]}" for c in spec.numeric if c in column_types
               and not (column_types[c] in NUMERIC_SPARK_TYPES or column_types[c].startswith("decimal"))]
    if retyped:
        problems.append(f"numeric feature(s) not numeric in gold: {', '.join(retyped)}")
    if problems:
        raise ScoringError(f"{where}: " + "; ".join(problems))


def prepare_batch(batch: pa.RecordBatch, spec: FeatureSpec) -> pd.DataFrame:
    """``prepare_features(batch.to_pandas(), spec)`` — the same frame (a unit test holds them equal) — with the
    categorical columns prepared per distinct value instead of per row: each text column is dictionary-encoded
    in Arrow, :func:`prepare_features` turns its few distinct values (and a null) into the spec's categories,
    and the rows take their value's code. ``prepare_features`` maps categorical values one by one (a Python
    call per value), which otherwise costs about as much as the prediction. Numeric columns (and categorical
    columns that are not text) go through ``prepare_features`` as they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    types = dict(zip(batch.schema.names, batch.schema.types, strict=True))  # batch.schema is rebuilt per access
    text = [c for c in spec.categorical if pa.types.is_string(types[c]) or pa.types.is_large_string(types[c])]
    rest = FeatureSpec(numeric=spec.numeric, categorical=tuple(c for c in spec.categorical if c not in text),
                       categories={c: v for c, v in spec.categories.items() if c not in text})
    index = pd.RangeIndex(batch.num_rows)
    columns: dict[str, Any] = {}
    if rest.columns:
        plain = prepare_features(batch.select(rest.columns).to_pandas(), rest)
        columns.update({c: plain[c].to_numpy() if c in rest.numeric else plain[c].array for c in rest.columns})
    if text:
        encoded = {c: pc.dictionary_encode(batch.column(c)) for c in text}
        size = max(len(e.dictionary) for e in encoded.values()) + 1  # + a null
        distinct = pd.DataFrame({c: e.dictionary.to_pylist() + [None] * (size - len(e.dictionary))
                                 for c, e in encoded.items()})
        prepared = prepare_features(distinct, FeatureSpec(numeric=(), categorical=tuple(text),
                                                          categories={c: spec.categories.get(c, ()) for c in text}))
        for c, e in encoded.items():
            codes = prepared[c].cat.codes.to_numpy()
            rows = e.indices.fill_null(len(e.dictionary)).to_numpy(zero_copy_only=False)
            columns[c] = pd.Categorical.from_codes(codes[rows], dtype=prepared[c].dtype)
    return pd.DataFrame(columns, index=index)[spec.columns]


def predict(model: ScoringModel, X: pd.DataFrame) -> np.ndarray:
    """Probability of the positive class (float64 of XGBoost's float32)."""
    booster = booster_for(model)
    if len(X) == 0:
        return np.zeros(0)
    return np.asarray(booster.inplace_predict(X, iteration_range=iteration_range(booster)), dtype="float64")


def contributions(model: ScoringModel, X: pd.DataFrame, mode: str) -> np.ndarray:
    """Per-feature contributions in log-odds (rows x (features + bias)); ``mode`` exact or approx."""
    import xgboost as xgb

    booster = booster_for(model)
    if len(X) == 0:
        return np.zeros((0, len(model.spec.columns) + 1))
    matrix = xgb.DMatrix(X, enable_categorical=True, nthread=XGB_THREADS)
    return np.asarray(booster.predict(matrix, pred_contribs=True, approx_contribs=mode == "approx",
                                      iteration_range=iteration_range(booster)), dtype="float64")


# ------------------------------------------------------------------------------------------- batches
@dataclass(frozen=True)
class Plan:
    """Everything the scoring function needs in a worker (pickled into the closure; no MLflow, no Spark)."""

    keys: tuple[str, ...]
    scoring: ScoringSettings
    champion: ScoringModel
    challenger: ScoringModel | None = None
    large_var_types: bool = False  # spark.sql.execution.arrow.useLargeVarTypes

    @property
    def feature_columns(self) -> list[str]:
        cols = list(self.champion.spec.columns)
        if self.challenger is not None:
            cols += [c for c in self.challenger.spec.columns if c not in cols]
        return cols

    @property
    def output_ddl(self) -> str:
        return ddl(worker_columns(self.keys))


def spark_schema(columns: Sequence[tuple[str, str]]):
    """A Spark ``StructType`` of (name, type) columns built without a session (workers have no JVM)."""
    from pyspark.sql import types as T

    simple = {"string": T.StringType(), "date": T.DateType(), "double": T.DoubleType(),
              "timestamp": T.TimestampType(), "array<string>": T.ArrayType(T.StringType()),
              "array<double>": T.ArrayType(T.DoubleType())}
    return T.StructType([T.StructField(c, simple[t]) for c, t in columns])


def _arrow_schema(plan: Plan) -> pa.Schema:
    """The Arrow schema Spark expects back from the worker (same conversion as PySpark's)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(spark_schema(worker_columns(plan.keys)), timezone="UTC",
                           prefers_large_types=plan.large_var_types)


def _list_array(counts: np.ndarray, values: pa.Array, computed: np.ndarray, typ: pa.DataType) -> pa.Array:
    """A list column: ``counts[i]`` values for each computed row, null for the others."""
    import pyarrow as pa

    offsets = np.zeros(len(counts) + 1, dtype="int32")
    np.cumsum(counts, out=offsets[1:])
    array = pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~computed))
    return array.cast(typ) if array.type != typ else array


def score_batch(batch: pa.RecordBatch, plan: Plan, schema: pa.Schema | None = None) -> pa.RecordBatch:
    """Score one Arrow batch of the job's input (keys, ``entity_id``, ``event_date``, features, ``_reason_u``,
    ``_canary_u``) into the worker's output columns (:func:`worker_columns`)."""
    import pyarrow as pa

    schema = schema or _arrow_schema(plan)
    n = batch.num_rows
    names = batch.schema.names
    champion_x = prepare_batch(batch, plan.champion.spec)
    champion = predict(plan.champion, champion_x)
    canary_u = batch.column(CANARY_U).to_numpy(zero_copy_only=False) if CANARY_U in names else None
    reason_u = batch.column(REASON_U).to_numpy(zero_copy_only=False) if REASON_U in names else None
    if plan.challenger is not None:
        challenger_x = prepare_batch(batch, plan.challenger.spec)
        challenger = predict(plan.challenger, challenger_x)
        canary = canary_mask(canary_u, plan.scoring.canary_fraction, n)
    else:
        challenger_x, challenger, canary = None, None, np.zeros(n, dtype=bool)
    score = np.where(canary, challenger, champion) if challenger is not None else champion
    band = assign_bands(score, plan.scoring.bands)
    explain = reason_mask(band, reason_u, plan.scoring.reason_codes)

    # Reason codes: contributions only for the rows that get them, from the model whose score the row shows.
    rc = plan.scoring.reason_codes
    counts = np.zeros(n, dtype="int64")
    rows_of, names_of, values_of = [np.zeros(0, dtype="int64")], [np.zeros(0, dtype=object)], [np.zeros(0)]
    for model, x, rows in ((plan.champion, champion_x, explain & ~canary),
                           (plan.challenger, challenger_x, explain & canary)):
        index = np.flatnonzero(rows)
        if model is None or len(index) == 0:
            continue
        c, feature_index, values = top_reasons(contributions(model, x.iloc[index], rc.mode), model.spec.columns,
                                               rc.top_n)
        counts[index] = c
        rows_of.append(np.repeat(index, c))
        names_of.append(np.asarray(model.spec.columns, dtype=object)[feature_index])
        values_of.append(values)
    # The two models' rows are disjoint: order the values by row (stable: each row keeps its largest-first order).
    order = np.argsort(np.concatenate(rows_of), kind="stable")
    flat_names = np.concatenate(names_of)[order]
    flat_values = np.concatenate(values_of)[order]

    role = np.where(canary, ROLE_CANARY, ROLE_CHAMPION).astype(object)
    columns: dict[str, Any] = {k: batch.column(k) for k in plan.keys}
    columns.update({
        ENTITY: batch.column(ENTITY), EVENT_DATE: batch.column(EVENT_DATE), SCORE: pa.array(score, pa.float64()),
        BAND: pa.array(band, pa.string()),
        REASON_CODES: _list_array(counts, pa.array(flat_names.astype(object), pa.string()), explain,
                                  schema.field(REASON_CODES).type),
        REASON_CONTRIBUTIONS: _list_array(counts, pa.array(flat_values.astype("float64"), pa.float64()), explain,
                                          schema.field(REASON_CONTRIBUTIONS).type),
        "model_role": pa.array(role, pa.string()),
        SHADOW_SCORE: pa.array(challenger if challenger is not None else np.full(n, np.nan), pa.float64(),
                               from_pandas=True),
        SHADOW_BAND: pa.array(assign_bands(challenger, plan.scoring.bands) if challenger is not None
                              else np.full(n, None, dtype=object), pa.string()),
    })
    arrays = [columns[f.name] if columns[f.name].type == f.type else columns[f.name].cast(f.type) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def batch_scorer(plan: Plan) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function: scores every batch with the plan's models (loaded once per worker)."""

    def score_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        schema = _arrow_schema(plan)
        for batch in batches:
            yield score_batch(batch, plan, schema)

    return score_batches


# ------------------------------------------------------------------------------------------- summary
@dataclass(frozen=True)
class Counts:
    rows: int
    bands: dict[str, int]  # CRM band -> rows
    canary: int
    reasons: int  # rows with reason codes computed
    shadow: int  # rows written to the shadow table


def summary(use_case: str, ds: str, plan: Plan, counts: Counts, note: str = "") -> str:
    """One line: what was scored, by which versions, the band counts and the reason-code rows."""
    champ = f"champion v{plan.champion.version}"
    if plan.challenger is not None:
        models = f"{champ} (canary {counts.canary} by challenger v{plan.challenger.version}, shadow {counts.shadow})"
    else:
        models = f"{champ} (no challenger: no canary, no shadow rows)"
    bands = " ".join(f"{b.name}={counts.bands.get(b.name, 0)}" for b in plan.scoring.bands)
    empty = f" (gold partition ds={ds} is empty: wrote an empty score_date partition)" if counts.rows == 0 else ""
    return (f"scored {counts.rows} rows of {use_case} {ds}{empty} with {models}; bands {bands}; reason codes for "
            f"{counts.reasons} rows" + (f"; {note}" if note else ""))
