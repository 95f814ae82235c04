"""Reference statistics for drift: quantile bins, proportions, the JSON format."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from jobs.lib import reference_stats as rs


def test_ten_quantile_bins_of_a_continuous_feature():
    values = np.arange(1, 101, dtype=float)
    edges = rs.bin_edges(values)
    assert edges[0] == -math.inf and edges[-1] == math.inf and len(edges) == 11
    assert edges[1] == pytest.approx(10.9) and edges[5] == pytest.approx(50.5)  # linear quantiles of 1..100
    proportions, missing = rs.bin_proportions(values, edges)
    assert proportions == pytest.approx([0.1] * 10) and missing == 0


def test_a_discrete_feature_gets_deduplicated_right_closed_bins():
    values = [1.0] * 50 + [2.0] * 50
    edges = rs.bin_edges(values)
    assert edges == [-math.inf, 1.0, 1.5, 2.0, math.inf]  # q10..q40 = 1, q50 = 1.5, q60..q90 = 2
    proportions, _ = rs.bin_proportions(values, edges)
    assert proportions == pytest.approx([0.5, 0.0, 0.5, 0.0])  # 1 in (-inf, 1], 2 in (1.5, 2]


def test_bins_take_every_value_and_count_missing_apart():
    edges = [-math.inf, 0.0, 10.0, math.inf]
    assert list(rs.bin_index([-5, 0, 0.1, 10, 11, math.inf, -math.inf, np.nan], edges)) == [0, 0, 1, 1, 2, 2, 0, -1]
    proportions, missing = rs.bin_proportions([1, 2, np.nan, 20], edges)
    assert proportions == pytest.approx([0.0, 0.5, 0.25]) and missing == pytest.approx(0.25)
    assert sum(proportions) + missing == pytest.approx(1)


def test_categorical_frequencies_include_missing():
    stats = rs.categorical_stats(["a", "b", "a", None])
    assert stats == {"frequencies": {"__missing__": 0.25, "a": 0.5, "b": 0.25}}


def test_compute_writes_the_documented_format_and_reads_back():
    frame = pd.DataFrame({"x": np.arange(20, dtype=float), "c": pd.Categorical(["u", "v"] * 10)})
    stats = rs.compute(frame, ["x"], ["c"], np.linspace(0, 1, 20), "event_date", "2026-01-01", "2026-01-09")
    back = rs.loads(rs.dumps(stats))
    assert back["format"] == rs.FORMAT and back["rows"] == 20 and back["bins"] == 10
    assert back["window"] == {"column": "event_date", "start": "2026-01-01", "end": "2026-01-09"}
    x = back["numeric"]["x"]
    assert x["edges"][0] == -math.inf and x["edges"][-1] == math.inf
    assert len(x["proportions"]) == len(x["edges"]) - 1 and sum(x["proportions"]) == pytest.approx(1)
    assert len(x["quantiles"]["values"]) == 101 and x["min"] == 0 and x["max"] == 19
    assert back["categorical"]["c"]["frequencies"] == {"u": 0.5, "v": 0.5}
    assert sum(back["score"]["proportions"]) == pytest.approx(1)
    with pytest.raises(ValueError, match="not a riskpipe.reference_stats/1 document"):
        rs.loads('{"format": "other"}')
