"""Drift statistics against a model's reference statistics (:mod:`jobs.lib.reference_stats`).

Two halves:

* **Spark aggregation** (:func:`day_counts`): one pass over a day's rows gives small count vectors — per
  numeric feature the rows in each *cell* between consecutive cut points, per categorical feature the rows per
  category, and the row count. No raw row reaches the driver: partitions count, a ``groupBy`` sums.
* **Pure statistics** (numpy / scipy, on those counts): PSI, the KS statistic and its p-value, chi-square with
  Cramér's V, and the ``ok`` / ``warn`` / ``alert`` status of each against
  :class:`jobs.lib.config.DriftThresholds`.

Cells. For a numeric feature the cut points are the union of the reference's finite inner PSI ``edges`` and its
101 percentile values, sorted and deduplicated: ``c_0 < ... < c_{K-1}``. Cell ``j`` holds
``c_{j-1} < x <= c_j`` (right-closed, like the reference bins; ``c_{-1} = -inf``, ``c_K = +inf``); cell ``K + 1``
holds missing values (null or NaN; ``-inf`` / ``+inf`` are values, in the first / last cell, as in
:func:`jobs.lib.reference_stats.bin_index`). Every PSI edge is a cut point, so each PSI bin is a union of cells;
every percentile value is a cut point, so ``#{x <= q}`` is a cumulative sum of cells. One aggregation thus serves
PSI and KS of every feature: each Spark partition counts its rows into cells (a binary search per value, numpy in
``mapInArrow``), one ``groupBy`` sums the partitions' counts (see :func:`day_counts` for why not SQL ``CASE``).

**PSI** ``= sum_i (a_i - e_i) * ln(a_i / e_i)`` over the reference's bins plus the missing share as a bucket of its
own (``e`` reference shares, ``a`` the day's shares of *all* its rows). A share below :data:`FLOOR` (1e-4) is
raised to it — an empty bin would otherwise make the logarithm infinite — and the shares are not renormalised
afterwards (a bucket empty on both sides contributes exactly 0). Categorical PSI uses the reference's categories
(``__missing__`` included) plus one bucket for every category the reference never saw.

**KS** (numeric features, non-missing values only: the missing share is PSI's business). The reference keeps
101 percentiles, not its rows, so the statistic is evaluated on that grid:
``D = max_v |F_day(v) - F_ref(v)|`` over the distinct percentile values ``v``, with ``F_day(v)`` the day's share
of values ``<= v`` (exact, from the cells) and ``F_ref(v)`` the largest percentile probability whose value is
``<= v`` (for a continuous feature simply ``p_i`` at ``q_i``; for a discrete one, whose percentiles repeat, the
top of the run — comparing ``F_day(v)`` with the run's first ``p`` would report a drift of up to the value's whole
mass on identical data). ``F_ref`` is known to about 0.01 and the supremum is taken over 101 points only, so
``D`` approximates the two-sample statistic of the raw rows to about 0.01 (from below when the grid misses the
largest gap). The p-value is Smirnov's asymptotic one, as ``scipy.stats.ks_2samp(method="asymp")`` computes it:
``kstwo.sf(D, round(n * m / (n + m)))`` with ``n`` the day's and ``m`` the reference's non-missing rows
(``rows * (1 - missing)``). It treats the reference as a sample of ``m`` rows (which it was) and is
approximate for small samples, where ``ks_2samp`` would use the exact distribution. Above
:data:`KS_EXACT_MAX_N` effective rows the limiting distribution ``kstwobign.sf(D * sqrt(n_eff))`` replaces
``kstwo`` (scipy's ``kstwo.sf`` takes ~0.8 s per call at 500k rows; the two differ by well under 1%).

**Chi-square** (categorical features): goodness of fit of the day's counts to the reference frequencies × ``n``
(``n`` all the day's rows; missing is the category ``__missing__``). Buckets: the reference's categories, plus —
only when the day has any — one *unseen* bucket for the categories the reference never saw (its expected share
is :data:`FLOOR`; reference shares are floored the same way, then renormalised so that expected and observed
sum to ``n``). ``scipy.stats.chisquare`` gives the statistic and p-value; the effect size is Cramér's V for
goodness of fit, ``sqrt(chi2 / (n * (k - 1)))`` for ``k`` buckets, capped at 1 (with a floored expected share a
handful of unseen rows could push it past 1). Unlike a contingency-table V it does not shrink as the reference
grows.

**Status** (one status-carrying row per feature and test; the other rows of a test carry ``status = None``):

=====================  =====================  ================================================================
test                   row with the status    rule
=====================  =====================  ================================================================
PSI (every feature,    ``psi``                alert ``>= psi_alert``, warn ``>= psi_warn``
and the score)
KS                     ``ks_pvalue``          alert: ``p < ks_pvalue`` and ``D >= ks_min_statistic``; warn:
                                              ``p < ks_pvalue`` and ``D >= ks_min_statistic / 2``
chi-square             ``chi2_pvalue``        the same with Cramér's V and ``chi2_min_cramers_v``
new categories         ``new_category_share`` alert ``>= new_category_share_alert``, warn ``>= ..._warn``
=====================  =====================  ================================================================

``rows`` is what a statistic compared: all the day's rows for PSI and chi-square (missing is a bucket / a
category), the non-missing ones for KS, the day's silver input rows for ``new_category_share``.

``threshold`` is the alert threshold of the row's own metric: ``psi_alert``, ``ks_min_statistic`` (statistic),
``ks_pvalue`` (p-value), the chi-square critical value at ``chi2_pvalue`` for the row's degrees of freedom
(statistic), ``chi2_pvalue``, ``chi2_min_cramers_v``, ``new_category_share_alert``.

A small p-value alone never warns: with a large day (or reference) it flags shifts far too small to matter;
half the minimum effect, significant, is the early warning. Informational rows (``ks_statistic``,
``chi2_statistic``, ``cramers_v``) carry the test's relevant threshold but no status, so a consumer counting
``status = 'alert'`` counts each feature once per test.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from jobs.lib.reference_stats import MISSING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from jobs.lib.config import DriftThresholds

FLOOR = 1e-4  # smallest share PSI and the chi-square's expected frequencies use (an empty bucket gets this)
#: Above this many effective rows KS p-values come from the limiting distribution: ``kstwo.sf`` costs ~0.8 s a call
#: at 500k (and ~0.1 s at 50k) once p < ~0.1, while the two differ by < 0.5% (relative) from about 30k rows on.
KS_EXACT_MAX_N = 50_000
SCORE_FEATURE = "__score__"
UNSEEN = "__unseen__"  # the categorical bucket of categories the reference never saw
OK, WARN, ALERT = "ok", "warn", "alert"
STATUSES = (OK, WARN, ALERT)
METRICS = ("psi", "ks_statistic", "ks_pvalue", "chi2_statistic", "chi2_pvalue", "cramers_v", "new_category_share")
STATUS_METRICS = ("psi", "ks_pvalue", "chi2_pvalue", "new_category_share")  # the rows that carry a test's status
#: The drift table's columns (``tables.drift``), partitioned by ``ds``.
DRIFT_SCHEMA = ("use_case STRING, ds DATE, feature STRING, metric STRING, value DOUBLE, threshold DOUBLE, "
                "status STRING, model_version STRING, rows BIGINT, computed_at TIMESTAMP")
_ROW_COUNT = -1  # feature index of the partial-count rows that carry a partition's row count


# ------------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class DriftRow:
    """One statistic of one feature (a row of the drift table without its run-level columns)."""

    feature: str
    metric: str
    value: float
    threshold: float | None
    status: str | None  # None: an informational row (see the module docstring)
    rows: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChiSquare:
    statistic: float
    pvalue: float
    cramers_v: float
    dof: int
    buckets: tuple[str, ...]
    observed: tuple[int, ...]
    expected: tuple[float, ...]


# ------------------------------------------------------------------------------------- statistics
def psi(expected: Sequence[float], actual: Sequence[float], floor: float = FLOOR) -> float:
    """Population stability index of two share vectors over the same buckets (each floored at ``floor``)."""
    e = np.maximum(np.asarray(expected, dtype=float), floor)
    a = np.maximum(np.asarray(actual, dtype=float), floor)
    if e.shape != a.shape:
        raise ValueError(f"psi: {e.size} expected shares but {a.size} actual ones")
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_psi(reference: Mapping[str, Any], bin_counts: Sequence[int], missing: int,
                floor: float = FLOOR) -> float:
    """PSI of a day's bin counts (over ``reference["edges"]``) and missing count against a numeric reference."""
    counts = np.asarray([*bin_counts, missing], dtype=float)
    total = counts.sum()
    if total <= 0:
        raise ValueError("psi: no rows")
    return psi([*reference["proportions"], reference["missing"]], counts / total, floor)


def reference_cdf(probs: Sequence[float], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct percentile values ``v``, the reference ECDF at each): the largest probability whose percentile
    value is ``<= v``."""
    q = np.asarray(values, dtype=float)
    p = np.asarray(probs, dtype=float)
    grid = np.unique(q[np.isfinite(q)])
    last = np.searchsorted(q, grid, side="right") - 1
    return grid, p[last]


def ks_pvalue(statistic: float, n: int, m: int) -> float:
    """Smirnov's asymptotic two-sided p-value, as ``scipy.stats.ks_2samp(..., method="asymp")`` computes it:
    ``kstwo.sf(D, round(n * m / (n + m)))``; above :data:`KS_EXACT_MAX_N` effective rows, the limiting
    (Kolmogorov) distribution ``kstwobign.sf(D * sqrt(n_eff))``."""
    from scipy.stats import kstwo, kstwobign

    if n <= 0 or m <= 0:
        return float("nan")
    en = max(1, int(np.round(n * m / (n + m))))
    p = kstwo.sf(statistic, en) if en <= KS_EXACT_MAX_N else kstwobign.sf(statistic * math.sqrt(en))
    return float(np.clip(p, 0.0, 1.0))


def ks_on_grid(probs: Sequence[float], values: Sequence[float], day_le: Sequence[int], n: int, m: int
               ) -> tuple[float, float]:
    """(D, p-value): ``day_le[i]`` is the day's count of non-missing values ``<= `` the i-th *distinct* finite
    percentile value (the grid of :func:`reference_cdf`), ``n`` its non-missing rows, ``m`` the reference's."""
    grid, f_ref = reference_cdf(probs, values)
    le = np.asarray(day_le, dtype=float)
    if le.size != grid.size:
        raise ValueError(f"ks: {le.size} day counts for a grid of {grid.size} values")
    if n <= 0 or grid.size == 0:
        return float("nan"), float("nan")
    d = float(np.max(np.abs(le / n - f_ref)))
    return d, ks_pvalue(d, n, m)


def chi_square(frequencies: Mapping[str, float], day_counts: Mapping[str, int], floor: float = FLOOR) -> ChiSquare:
    """Goodness of fit of ``day_counts`` (category -> rows) to the reference ``frequencies`` (see the module
    docstring: unseen categories pooled in one bucket, floored and renormalised expected shares)."""
    from scipy.stats import chisquare

    known = [c for c in sorted(frequencies) if frequencies[c] > 0]
    observed = [int(day_counts.get(c, 0)) for c in known]
    shares = [float(frequencies[c]) for c in known]
    known_set = set(known)
    unseen = sum(int(v) for c, v in day_counts.items() if c not in known_set)
    buckets = list(known)
    if unseen:
        buckets.append(UNSEEN)
        observed.append(unseen)
        shares.append(0.0)
    n = sum(observed)
    k = len(buckets)
    e = np.maximum(np.asarray(shares, dtype=float), floor)
    e = e / e.sum() * n
    if n <= 0 or k < 2:
        return ChiSquare(0.0, 1.0, 0.0, max(k - 1, 0), tuple(buckets), tuple(observed), tuple(e.tolist()))
    result = chisquare(np.asarray(observed, dtype=float), e)
    statistic = float(result.statistic)
    v = min(1.0, math.sqrt(statistic / (n * (k - 1))))
    return ChiSquare(statistic, float(result.pvalue), v, k - 1, tuple(buckets), tuple(observed), tuple(e.tolist()))


def categorical_psi(frequencies: Mapping[str, float], day_counts: Mapping[str, int], floor: float = FLOOR) -> float:
    """PSI over the reference's categories plus the unseen bucket."""
    known = [c for c in sorted(frequencies) if frequencies[c] > 0]
    n = sum(int(v) for v in day_counts.values())
    if n <= 0:
        raise ValueError("psi: no rows")
    known_set = set(known)
    unseen = sum(int(v) for c, v in day_counts.items() if c not in known_set)
    expected = [float(frequencies[c]) for c in known] + [0.0]
    actual = [int(day_counts.get(c, 0)) / n for c in known] + [unseen / n]
    return psi(expected, actual, floor)


# ---------------------------------------------------------------------------------------- statuses
def level_status(value: float, warn: float, alert: float) -> str:
    if value is None or math.isnan(value):
        return OK
    return ALERT if value >= alert else WARN if value >= warn else OK


def significance_status(pvalue: float, effect: float, alpha: float, min_effect: float) -> str:
    """Significant and large enough: alert; significant and at least half as large: warn; otherwise ok."""
    if pvalue is None or math.isnan(pvalue) or effect is None or math.isnan(effect) or pvalue >= alpha:
        return OK
    return ALERT if effect >= min_effect else WARN if effect >= min_effect / 2 else OK


# ------------------------------------------------------------------------------------ cells (numpy)
def cut_points(reference: Mapping[str, Any]) -> np.ndarray:
    """Sorted distinct finite cut points of a numeric reference: its inner PSI edges and percentile values."""
    values = [*reference["edges"], *reference.get("quantiles", {}).get("values", [])]
    cuts = np.unique(np.asarray(values, dtype=float))
    return cuts[np.isfinite(cuts)]


def cell_counts_numpy(values: Sequence[float], cuts: Sequence[float]) -> np.ndarray:
    """In-process equivalent of the Spark aggregation for one feature: ``len(cuts) + 2`` counts (the last one:
    missing values)."""
    x = np.asarray(values, dtype=float)
    c = np.asarray(cuts, dtype=float)
    missing = np.isnan(x)
    cells = np.searchsorted(c, x[~missing], side="left")  # number of cuts < x: c[j-1] < x <= c[j]
    counts = np.bincount(cells, minlength=c.size + 1)
    return np.append(counts, int(missing.sum())).astype(np.int64)


def bins_from_cells(cells: Sequence[int], cuts: Sequence[float], edges: Sequence[float]) -> tuple[np.ndarray, int]:
    """(counts per reference bin, missing count) from cell counts; every finite edge must be a cut point."""
    counts = np.asarray(cells, dtype=np.int64)
    c = np.asarray(cuts, dtype=float)
    e = np.asarray(edges, dtype=float)
    upper = np.append(c, math.inf)  # each present cell's upper end
    bins = np.clip(np.searchsorted(e, upper, side="left") - 1, 0, e.size - 2)
    return np.bincount(bins, weights=counts[:-1], minlength=e.size - 1).astype(np.int64), int(counts[-1])


def ecdf_counts_from_cells(cells: Sequence[int], cuts: Sequence[float], grid: Sequence[float]) -> np.ndarray:
    """The count of non-missing values ``<= v`` for each ``v`` of ``grid`` (each a cut point)."""
    counts = np.asarray(cells, dtype=np.int64)[:-1]
    c = np.asarray(cuts, dtype=float)
    idx = np.searchsorted(c, np.asarray(grid, dtype=float), side="left")
    if np.any(idx >= c.size) or np.any(c[np.minimum(idx, c.size - 1)] != np.asarray(grid, dtype=float)):
        raise ValueError("ecdf: every grid value must be a cut point")
    return np.cumsum(counts)[idx]


# -------------------------------------------------------------------------------------- evaluation
@dataclass
class DayCounts:
    """What one aggregation pass returns: rows, per numeric feature its cell counts (last = missing), per
    categorical feature its counts by category (``__missing__`` for null)."""

    rows: int
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    categorical: dict[str, dict[str, int]] = field(default_factory=dict)


def numeric_rows(feature: str, reference: Mapping[str, Any], cells: Sequence[int], reference_rows: int,
                 thresholds: DriftThresholds, ks: bool = True) -> list[DriftRow]:
    """PSI (and KS) rows of one numeric feature from its cell counts over :func:`cut_points` of ``reference``."""
    cuts = cut_points(reference)
    counts = np.asarray(cells, dtype=np.int64)
    total = int(counts.sum())
    present = total - int(counts[-1])
    bins, missing = bins_from_cells(counts, cuts, reference["edges"])
    value = numeric_psi(reference, bins, missing)
    out = [DriftRow(feature, "psi", value, thresholds.psi_alert,
                    level_status(value, thresholds.psi_warn, thresholds.psi_alert), total)]
    quantiles = reference.get("quantiles") or {}
    if ks and quantiles.get("values") and present > 0:
        grid, _ = reference_cdf(quantiles["probs"], quantiles["values"])
        m = int(round(reference_rows * (1.0 - float(reference["missing"]))))
        d, p = ks_on_grid(quantiles["probs"], quantiles["values"], ecdf_counts_from_cells(counts, cuts, grid),
                          present, m)
        out += [DriftRow(feature, "ks_statistic", d, thresholds.ks_min_statistic, None, present),
                DriftRow(feature, "ks_pvalue", p, thresholds.ks_pvalue,
                         significance_status(p, d, thresholds.ks_pvalue, thresholds.ks_min_statistic), present)]
    return out


def categorical_rows(feature: str, reference: Mapping[str, Any], day: Mapping[str, int],
                     thresholds: DriftThresholds) -> list[DriftRow]:
    """PSI, chi-square, p-value and Cramér's V rows of one categorical feature."""
    from scipy.stats import chi2

    frequencies = reference["frequencies"]
    n = int(sum(day.values()))
    value = categorical_psi(frequencies, day)
    test = chi_square(frequencies, day)
    critical = float(chi2.isf(thresholds.chi2_pvalue, test.dof)) if test.dof > 0 else None
    return [
        DriftRow(feature, "psi", value, thresholds.psi_alert,
                 level_status(value, thresholds.psi_warn, thresholds.psi_alert), n),
        DriftRow(feature, "chi2_statistic", test.statistic, critical, None, n),
        DriftRow(feature, "chi2_pvalue", test.pvalue, thresholds.chi2_pvalue,
                 significance_status(test.pvalue, test.cramers_v, thresholds.chi2_pvalue, thresholds.chi2_min_cramers_v), n),
        DriftRow(feature, "cramers_v", test.cramers_v, thresholds.chi2_min_cramers_v, None, n),
    ]


def new_category_rows(quarantined: Mapping[str, int], columns: Sequence[str], silver_rows: int,
                      thresholds: DriftThresholds) -> list[DriftRow]:
    """``new_category_share`` of each value-set column: its quarantined rows over the day's silver input rows."""
    out = []
    for column in columns:
        share = int(quarantined.get(column, 0)) / silver_rows if silver_rows else 0.0
        out.append(DriftRow(column, "new_category_share", share, thresholds.new_category_share_alert,
                            level_status(share, thresholds.new_category_share_warn,
                                         thresholds.new_category_share_alert), int(silver_rows)))
    return out


def feature_rows(reference: Mapping[str, Any], counts: DayCounts, thresholds: DriftThresholds) -> list[DriftRow]:
    """Every feature row (numeric: PSI + KS; categorical: PSI + chi-square) of a day against ``reference``."""
    out: list[DriftRow] = []
    for feature, ref in reference.get("numeric", {}).items():
        if feature in counts.numeric:
            out += numeric_rows(feature, ref, counts.numeric[feature], int(reference["rows"]), thresholds)
    for feature, ref in reference.get("categorical", {}).items():
        if feature in counts.categorical:
            out += categorical_rows(feature, ref, counts.categorical[feature], thresholds)
    return out


def score_rows(reference: Mapping[str, Any], cells: Sequence[int], thresholds: DriftThresholds) -> list[DriftRow]:
    """PSI of the score (feature :data:`SCORE_FEATURE`)."""
    return numeric_rows(SCORE_FEATURE, reference["score"], cells, int(reference["rows"]), thresholds, ks=False)


def numpy_counts(frame: Mapping[str, Sequence[Any]], reference: Mapping[str, Any]) -> DayCounts:
    """:func:`day_counts` in-process on columns in memory (tests and the benchmark's baseline)."""
    import pandas as pd

    numeric = {f: cell_counts_numpy(pd.to_numeric(pd.Series(frame[f]), errors="coerce").to_numpy(dtype=float),
                                    cut_points(ref))
               for f, ref in reference.get("numeric", {}).items() if f in frame}
    categorical = {}
    for f in reference.get("categorical", {}):
        if f in frame:
            s = pd.Series(frame[f], dtype="object")
            keys = s.where(s.notna(), MISSING).astype(str)
            categorical[f] = {str(k): int(v) for k, v in keys.value_counts(sort=False).items()}
    rows = len(next(iter(frame.values()))) if frame else 0
    return DayCounts(rows=rows, numeric=numeric, categorical=categorical)


# ------------------------------------------------------------------------------------ Spark path
def _partition_counter(cuts: list[np.ndarray], n_categorical: int):
    """The per-partition function of :func:`day_counts` (self-contained: it runs in Spark's Python workers).

    Input batches: the numeric features as doubles (``_0`` ...), then the categorical ones as strings with null
    already replaced by ``__missing__``. Output: one row per non-zero (feature, cell or category) count of the
    whole partition, and the partition's row count as feature -1."""
    n_numeric = len(cuts)

    def count(batches):
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        rows = 0
        cells = [np.zeros(c.size + 2, dtype=np.int64) for c in cuts]
        categories: list[dict[str, int]] = [{} for _ in range(n_categorical)]
        for batch in batches:
            rows += batch.num_rows
            for i, c in enumerate(cuts):
                x = np.asarray(batch.column(i).to_numpy(zero_copy_only=False), dtype=float)
                missing = np.isnan(x)  # null arrives as NaN
                n_missing = int(missing.sum())
                if n_missing:
                    x = x[~missing]
                # number of cuts < x, i.e. the cell j with c[j-1] < x <= c[j]
                cells[i][: c.size + 1] += np.bincount(np.searchsorted(c, x, side="left"), minlength=c.size + 1)
                cells[i][-1] += n_missing
            for j in range(n_categorical):
                counted = pc.value_counts(batch.column(n_numeric + j))
                for value, n in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist()):
                    categories[j][value] = categories[j].get(value, 0) + int(n)
        f, cell, category, n = [-1], [0], [None], [rows]
        for i, counts in enumerate(cells):
            nonzero = np.flatnonzero(counts)
            f += [i] * nonzero.size
            cell += nonzero.tolist()
            category += [None] * nonzero.size
            n += counts[nonzero].tolist()
        for j, found in enumerate(categories):
            f += [n_numeric + j] * len(found)
            cell += [0] * len(found)
            category += list(found)
            n += list(found.values())
        yield pa.RecordBatch.from_pydict({"f": pa.array(f, pa.int32()), "c": pa.array(cell, pa.int32()),
                                          "v": pa.array(category, pa.string()), "n": pa.array(n, pa.int64())})

    return count


def day_counts(df: DataFrame, numeric: Mapping[str, Sequence[float]], categorical: Sequence[str] = ()
               ) -> DayCounts:
    """One Spark pass over ``df``: the row count, the cell counts of each ``numeric`` feature (feature -> its cut
    points) and the category counts of each ``categorical`` feature.

    Each partition counts its rows into the cells with numpy (``mapInArrow``: a binary search per value, the same
    as :func:`cell_counts_numpy`) and emits only its non-zero counts; one ``groupBy`` sums them. So the one pass
    reads the rows once and only count vectors (at most ``features x (cuts + 2)`` rows, plus the distinct
    categories) leave the executors. Why not SQL expressions: a ``CASE WHEN`` tree per feature (20 features x
    ~110 cut points) generates Java code beyond the JVM's 64 KB method limit, so Spark falls back from
    whole-stage codegen and spent ~20 s on 100k rows (compiling); ``pyspark.ml.feature.Bucketizer`` (a JVM
    binary search) plus an explode to (feature, cell) pairs and a ``groupBy`` took ~1.3x this path's time on 1M
    rows x 20 features (benchmarks/_drift.py, loaded 2-core machine)."""
    from pyspark.sql import functions as F

    cuts = {f: np.asarray(c, dtype=float) for f, c in numeric.items()}
    names, cats = list(cuts), list(categorical)
    columns = [F.col(f"`{f}`").cast("double").alias(f"_{i}") for i, f in enumerate(names)]
    columns += [F.coalesce(F.col(f"`{f}`").cast("string"), F.lit(MISSING)).alias(f"_{len(names) + j}")
                for j, f in enumerate(cats)]
    if not columns:
        columns = [F.lit(None).cast("double").alias("_none")]
    counter = _partition_counter([cuts[f] for f in names], len(cats))
    partial = df.select(*columns).mapInArrow(counter, "f INT, c INT, v STRING, n BIGINT")
    counted = partial.groupBy("f", "c", "v").agg(F.sum("n").alias("n")).collect()
    out = DayCounts(rows=0, numeric={f: np.zeros(cuts[f].size + 2, dtype=np.int64) for f in names},
                    categorical={f: {} for f in cats})
    for row in counted:
        f, c, v, n = int(row["f"]), int(row["c"]), row["v"], int(row["n"])
        if f == _ROW_COUNT:
            out.rows += n
        elif f < len(names):
            out.numeric[names[f]][c] += n
        else:
            out.categorical[cats[f - len(names)]][v] = n
    return out


def reference_cuts(reference: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Cut points of every numeric feature of a reference."""
    return {f: cut_points(ref) for f, ref in reference.get("numeric", {}).items()}


# --------------------------------------------------------------------------------------- consumers
def _get(row: Any, key: str) -> Any:
    return row[key] if isinstance(row, Mapping) else getattr(row, key)


def top_drifting(rows: Iterable[Any], n: int = 5) -> list[dict[str, Any]]:
    """The ``n`` alerting features to name in an alert, highest PSI first.

    ``rows``: drift rows (:class:`DriftRow`, dicts, or Spark ``Row`` objects of the drift table — anything with
    ``feature``, ``metric``, ``value``, ``status``). A feature alerts when any of its status rows says ``alert``.
    Returns ``[{"feature", "psi" (None when the feature has no PSI row), "alerts": [metrics that alert]}]``;
    features without a PSI come last, in name order.
    """
    psi_of: dict[str, float] = {}
    alerts: dict[str, list[str]] = {}
    for row in rows:
        feature, metric = _get(row, "feature"), _get(row, "metric")
        if metric == "psi":
            psi_of[feature] = float(_get(row, "value"))
        if _get(row, "status") == ALERT:
            alerts.setdefault(feature, []).append(metric)
    ranked = sorted(alerts, key=lambda f: (f not in psi_of, -psi_of.get(f, 0.0), f))
    return [{"feature": f, "psi": psi_of.get(f), "alerts": sorted(alerts[f])} for f in ranked[:max(n, 0)]]


def describe(row: DriftRow | Mapping[str, Any], rows: Iterable[Any] = ()) -> str:
    """A short text for a status row, e.g. ``duration_in_month psi 0.41``, ``age ks D=0.32 p=1e-09``."""
    feature, metric, value = _get(row, "feature"), _get(row, "metric"), float(_get(row, "value"))
    related = {(_get(r, "feature"), _get(r, "metric")): float(_get(r, "value")) for r in rows}
    if metric == "ks_pvalue":
        return f"{feature} ks D={related.get((feature, 'ks_statistic'), float('nan')):.3f} p={value:.2g}"
    if metric == "chi2_pvalue":
        return f"{feature} chi2 V={related.get((feature, 'cramers_v'), float('nan')):.3f} p={value:.2g}"
    if metric == "new_category_share":
        return f"{feature} new_category_share {value:.2%}"
    return f"{feature} {metric} {value:.2f}"
