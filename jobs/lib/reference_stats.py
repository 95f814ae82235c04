"""Reference statistics of a model's training window, saved with the model for drift monitoring.

The training job logs them as the MLflow artifact ``reference_stats.json`` of the run (next to the model).
The drift job compares a day's features and scores against them (PSI, KS, chi-square).

Format (``"format": "riskpipe.reference_stats/1"``), JSON written by :func:`dumps`::

    {
      "format": "riskpipe.reference_stats/1",
      "rows": 800,                                # rows of the training window
      "window": {"column": "application_date",    # event timestamp column of the use case
                 "start": "2026-01-01", "end": "2026-02-10"},   # first / last event date (inclusive)
      "bins": 10,                                 # requested number of quantile bins
      "numeric": {
        "<feature>": {
          "edges": [-Infinity, e1, ..., ek, Infinity],   # strictly increasing; k <= bins - 1
          "proportions": [p0, ..., pk],           # share of ALL rows in each bin (len(edges) - 1 values)
          "missing": pm,                          # share of rows with no value; sum(proportions) + pm == 1
          "quantiles": {"probs": [0, 0.01, ..., 1], "values": [...]},  # 101 percentiles (for KS); [] if all missing
          "mean": m, "std": s, "min": a, "max": b # of the non-missing values (null if all missing)
        }, ...
      },
      "categorical": {
        "<feature>": {"frequencies": {"<category>": share, ..., "__missing__": share}}   # shares sum to 1
      },
      "score": {"edges": [...], "proportions": [...], "missing": 0.0, "quantiles": {...}, ...}
                                                  # same layout as a numeric feature, for the predicted
                                                  # probability of the positive class on the window
    }

Bins are **right-closed**: bin ``i`` holds ``edges[i] < x <= edges[i+1]`` (``pandas.cut``'s convention),
so with quantile edges the mass of a repeated value stays in one bin. The inner edges are the
10%, 20%, ..., 90% quantiles of the window, deduplicated (a discrete feature gets fewer bins); the ends
are -inf/+inf so every future value falls into a bin. ``-Infinity`` / ``Infinity`` are the tokens Python's
``json`` module reads and writes; :func:`loads` returns them as floats. Use :func:`bin_proportions` with the
stored ``edges`` to bin new data the same way (then PSI = sum((a - e) * ln(a / e)) over bins, with a small
floor for empty bins, is the drift engineer's call). Categories unseen in training are absent from
``frequencies``: treat them as their own bucket.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

FORMAT = "riskpipe.reference_stats/1"
MISSING = "__missing__"
PERCENTILES = [i / 100 for i in range(101)]


def bin_edges(values: Sequence[float], bins: int = 10) -> list[float]:
    """Quantile edges of the non-missing ``values``: ``[-inf, q(1/bins), ..., q((bins-1)/bins), +inf]``,
    inner edges deduplicated."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return [-math.inf, math.inf]
    inner = np.unique(np.quantile(v, [i / bins for i in range(1, bins)]))
    inner = inner[np.isfinite(inner)]
    return [-math.inf, *(float(e) for e in inner), math.inf]


def bin_index(values: Sequence[float], edges: Sequence[float]) -> np.ndarray:
    """Bin of each value (right-closed bins: ``edges[i] < x <= edges[i+1]``); -1 for a missing value."""
    v = np.asarray(values, dtype=float)
    idx = np.searchsorted(np.asarray(edges, dtype=float), v, side="left") - 1
    idx = np.clip(idx, 0, len(edges) - 2)
    return np.where(np.isnan(v), -1, idx)


def bin_proportions(values: Sequence[float], edges: Sequence[float]) -> tuple[list[float], float]:
    """(share of all rows in each bin, share of missing rows); together they sum to 1."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("no values to bin")
    idx = bin_index(v, edges)
    counts = np.bincount(idx[idx >= 0], minlength=len(edges) - 1)
    return [float(c) / v.size for c in counts], float((idx < 0).sum()) / v.size


def numeric_stats(values: Sequence[float], bins: int = 10) -> dict[str, Any]:
    v = np.asarray(values, dtype=float)
    edges = bin_edges(v, bins)
    proportions, missing = bin_proportions(v, edges)
    present = v[~np.isnan(v)]
    has = present.size > 0
    return {
        "edges": edges, "proportions": proportions, "missing": missing,
        "quantiles": {"probs": PERCENTILES,
                      "values": [float(q) for q in np.quantile(present, PERCENTILES)] if has else []},
        "mean": float(present.mean()) if has else None, "std": float(present.std()) if has else None,
        "min": float(present.min()) if has else None, "max": float(present.max()) if has else None,
    }


def categorical_stats(values: Sequence[Any]) -> dict[str, Any]:
    s = pd.Series(values, dtype="object")
    if s.empty:
        raise ValueError("no values to count")
    keys = s.where(s.notna(), MISSING).astype(str)
    shares = keys.value_counts(normalize=True, sort=False)
    return {"frequencies": {str(k): float(shares[k]) for k in sorted(shares.index)}}


def compute(features: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str], scores: Sequence[float],
            window_column: str, window_start: str, window_end: str, bins: int = 10) -> dict[str, Any]:
    """Reference statistics of a training window (see the module docstring for the format)."""
    if len(features) != len(scores):
        raise ValueError(f"{len(features)} feature rows but {len(scores)} scores")
    return {
        "format": FORMAT,
        "rows": int(len(features)),
        "window": {"column": window_column, "start": window_start, "end": window_end},
        "bins": bins,
        "numeric": {c: numeric_stats(pd.to_numeric(features[c], errors="coerce").to_numpy(dtype=float), bins)
                    for c in numeric},
        "categorical": {c: categorical_stats(features[c].astype("object").to_numpy()) for c in categorical},
        "score": numeric_stats(np.asarray(scores, dtype=float), bins),
    }


def dumps(stats: dict[str, Any]) -> str:
    return json.dumps(stats, indent=1, sort_keys=False)  # allow_nan: +-inf edges as Infinity tokens


def loads(text: str) -> dict[str, Any]:
    stats = json.loads(text)
    if stats.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} document (format = {stats.get('format')!r})")
    return stats
