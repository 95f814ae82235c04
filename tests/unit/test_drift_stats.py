"""Drift statistics (jobs/lib/drift.py): PSI, KS on the percentile grid, chi-square, statuses, the Spark counts."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from jobs.lib import drift
from jobs.lib import reference_stats as rs
from jobs.lib.config import DriftThresholds

TH = DriftThresholds()


def _samples(seed: int = 3):
    rng = np.random.default_rng(seed)
    reference = rng.normal(50, 10, 800)
    day = rng.normal(55, 12, 500)
    day[rng.choice(500, 20, replace=False)] = np.nan  # 4% missing, the reference has none
    return reference, day


def _direct_psi(reference_stats, day):
    """PSI straight from the definition: reference_stats' own binning of the day, missing as a bucket."""
    proportions, missing = rs.bin_proportions(day, reference_stats["edges"])
    e = np.maximum([*reference_stats["proportions"], reference_stats["missing"]], 1e-4)
    a = np.maximum([*proportions, missing], 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))


def _direct_ks(reference_stats, day, m):
    """KS on the grid straight from the definition: day ECDF at each distinct percentile value, reference ECDF =
    the largest probability whose percentile is <= it; Smirnov's asymptotic p-value from scipy."""
    present = day[~np.isnan(day)]
    q = np.asarray(reference_stats["quantiles"]["values"])
    p = np.asarray(reference_stats["quantiles"]["probs"])
    grid = np.unique(q)
    f_day = np.array([np.mean(present <= v) for v in grid])
    f_ref = np.array([p[q <= v].max() for v in grid])
    d = float(np.max(np.abs(f_day - f_ref)))
    n = present.size
    return d, float(stats.kstwo.sf(d, round(n * m / (n + m))))


def _by_metric(rows):
    return {r.metric: r for r in rows}


def test_psi_and_ks_equal_a_direct_numpy_scipy_computation_on_the_same_bins_and_grid():
    reference, day = _samples()
    ref = rs.numeric_stats(reference)
    cells = drift.cell_counts_numpy(day, drift.cut_points(ref))
    rows = _by_metric(drift.numeric_rows("x", ref, cells, reference_rows=800, thresholds=TH))
    assert rows["psi"].value == pytest.approx(_direct_psi(ref, day), abs=1e-9)
    d, p = _direct_ks(ref, day, m=800)
    assert rows["ks_statistic"].value == pytest.approx(d, abs=1e-9)
    assert rows["ks_pvalue"].value == pytest.approx(p, abs=1e-9, rel=1e-9)
    assert rows["psi"].rows == 500 and rows["ks_pvalue"].rows == 480  # KS on the non-missing values
    # A 0.5-sigma shift: PSI well above the alert line, KS significant with a large effect.
    assert rows["psi"].value > 0.25 and rows["psi"].status == "alert"
    assert rows["ks_statistic"].value > 0.1 and rows["ks_pvalue"].status == "alert"
    assert rows["ks_statistic"].status is None  # the p-value row carries the KS status


def test_bins_and_ecdf_from_cells_match_the_reference_binning():
    reference, day = _samples(5)
    ref = rs.numeric_stats(reference)
    cuts = drift.cut_points(ref)
    cells = drift.cell_counts_numpy(day, cuts)
    assert cells.sum() == day.size and cells[-1] == 20
    bins, missing = drift.bins_from_cells(cells, cuts, ref["edges"])
    proportions, share_missing = rs.bin_proportions(day, ref["edges"])
    assert np.allclose(bins / day.size, proportions, atol=1e-12) and missing / day.size == share_missing
    grid = np.unique(ref["quantiles"]["values"])
    le = drift.ecdf_counts_from_cells(cells, cuts, grid)
    assert list(le) == [int(np.sum(day[~np.isnan(day)] <= v)) for v in grid]


def test_the_p_value_is_ks_2samp_asymptotic_and_the_grid_statistic_is_close_to_the_raw_one():
    reference, day = _samples(11)
    present = day[~np.isnan(day)]
    raw = stats.ks_2samp(reference, present, method="asymp")
    assert drift.ks_pvalue(raw.statistic, present.size, reference.size) == pytest.approx(raw.pvalue, rel=1e-12)
    ref = rs.numeric_stats(reference)
    rows = _by_metric(drift.numeric_rows("x", ref, drift.cell_counts_numpy(day, drift.cut_points(ref)), 800, TH))
    assert abs(rows["ks_statistic"].value - raw.statistic) < 0.02  # 101-point grid: ~0.01 resolution


def test_identical_samples_do_not_drift_even_for_a_discrete_feature():
    rng = np.random.default_rng(1)
    values = rng.choice([1.0, 2.0, 3.0, 4.0], size=1000, p=[0.13, 0.22, 0.16, 0.49])
    ref = rs.numeric_stats(values)
    rows = _by_metric(drift.numeric_rows("rate", ref, drift.cell_counts_numpy(values, drift.cut_points(ref)), 1000, TH))
    assert rows["psi"].value == pytest.approx(0.0, abs=1e-12)
    assert rows["ks_statistic"].value < 0.011  # the grid knows F_ref to 0.01; not the 0.13 of p_0 vs F(1)
    assert {rows["psi"].status, rows["ks_pvalue"].status} == {"ok"}


def test_chi_square_equals_scipy_on_the_same_counts():
    frequencies = {"a": 0.5, "b": 0.3, "c": 0.2}
    day = {"a": 240, "b": 170, "c": 90}
    test = drift.chi_square(frequencies, day)
    expected = scipy_expected = np.array([0.5, 0.3, 0.2]) * 500
    ref = stats.chisquare([240, 170, 90], scipy_expected)
    assert test.statistic == pytest.approx(ref.statistic, abs=1e-9)
    assert test.pvalue == pytest.approx(ref.pvalue, abs=1e-12)
    assert test.dof == 2 and test.buckets == ("a", "b", "c") and np.allclose(test.expected, expected)
    assert test.cramers_v == pytest.approx(math.sqrt(ref.statistic / (500 * 2)), abs=1e-12)


def test_unseen_categories_are_one_bucket_with_a_floored_expected_share():
    frequencies = {"a": 0.6, "b": 0.4, rs.MISSING: 0.0}
    day = {"a": 280, "b": 200, "new1": 15, "new2": 5}
    test = drift.chi_square(frequencies, day)
    assert test.buckets == ("a", "b", drift.UNSEEN) and test.observed == (280, 200, 20)
    shares = np.array([0.6, 0.4, 1e-4])
    expected = shares / shares.sum() * 500
    ref = stats.chisquare([280, 200, 20], expected)
    assert test.statistic == pytest.approx(ref.statistic, abs=1e-9) and test.pvalue == pytest.approx(ref.pvalue)
    assert test.cramers_v == 1.0  # capped: 4% of rows in a bucket the reference never saw
    # Without unseen categories there is no unseen bucket (no spurious degree of freedom).
    assert drift.chi_square(frequencies, {"a": 300, "b": 200}).buckets == ("a", "b")
    rows = _by_metric(drift.categorical_rows("c", {"frequencies": frequencies}, day, TH))
    assert rows["chi2_pvalue"].status == "alert" and rows["cramers_v"].status is None
    assert rows["chi2_statistic"].threshold == pytest.approx(stats.chi2.isf(0.05, 2))
    unseen_psi = (0.04 - 1e-4) * math.log(0.04 / 1e-4)
    direct = sum((a - e) * math.log(a / e) for a, e in [(280 / 500, 0.6), (200 / 500, 0.4)]) + unseen_psi
    assert rows["psi"].value == pytest.approx(direct, abs=1e-12)


def test_statuses_follow_the_thresholds():
    assert drift.level_status(0.05, 0.1, 0.25) == "ok"
    assert drift.level_status(0.1, 0.1, 0.25) == "warn"
    assert drift.level_status(0.3, 0.1, 0.25) == "alert"
    assert drift.significance_status(0.01, 0.2, 0.05, 0.1) == "alert"
    assert drift.significance_status(0.01, 0.06, 0.05, 0.1) == "warn"  # significant, half the effect
    assert drift.significance_status(0.01, 0.02, 0.05, 0.1) == "ok"  # significant but tiny (large samples)
    assert drift.significance_status(0.2, 0.5, 0.05, 0.1) == "ok"  # large but not significant
    rows = drift.new_category_rows({"purpose": 3, "housing": 12}, ["purpose", "housing", "job"], 500, TH)
    assert [(r.feature, r.value, r.status) for r in rows] == [
        ("purpose", 0.006, "warn"), ("housing", 0.024, "alert"), ("job", 0.0, "ok")]


def test_top_drifting_ranks_alerting_features_by_psi():
    rows = [
        drift.DriftRow("a", "psi", 0.3, 0.25, "alert", 100),
        drift.DriftRow("b", "psi", 0.9, 0.25, "alert", 100),
        drift.DriftRow("b", "ks_pvalue", 1e-9, 0.05, "alert", 100),
        drift.DriftRow("c", "psi", 2.0, 0.25, "ok", 100),  # high PSI but (say) no alert: not named
        {"feature": "d", "metric": "new_category_share", "value": 0.05, "status": "alert"},
        {"feature": "e", "metric": "psi", "value": 0.05, "status": "ok"},
        {"feature": "e", "metric": "ks_pvalue", "value": 1e-6, "status": "alert"},
    ]
    top = drift.top_drifting(rows, 3)
    assert [t["feature"] for t in top] == ["b", "a", "e"]
    assert top[0] == {"feature": "b", "psi": 0.9, "alerts": ["ks_pvalue", "psi"]}
    assert [t["feature"] for t in drift.top_drifting(rows, 10)] == ["b", "a", "e", "d"]


def test_the_spark_aggregation_gives_the_numpy_counts_and_statistics(spark):
    rng = np.random.default_rng(8)
    n = 300
    reference = {
        "rows": 400,
        "numeric": {"amount": rs.numeric_stats(rng.lognormal(7, 0.8, 400)),
                    "rate": rs.numeric_stats(rng.integers(1, 5, 400).astype(float))},
        "categorical": {"purpose": rs.categorical_stats(rng.choice(["car", "tv", "other", None], 400))},
    }
    amount = rng.lognormal(7.2, 0.8, n)
    amount[:7] = np.nan
    amount[7] = math.inf
    rate = rng.integers(1, 6, n).astype(float)  # 5 was never seen
    purpose = rng.choice(["car", "tv", "other", "boat", None], n).tolist()
    rows = [(None if (i < 3) else float(amount[i]), int(rate[i]), purpose[i]) for i in range(n)]  # null and NaN
    df = spark.createDataFrame(rows, "amount DOUBLE, rate INT, purpose STRING")
    counts = drift.day_counts(df, drift.reference_cuts(reference), ["purpose"])
    frame = {"amount": [np.nan if i < 3 else amount[i] for i in range(n)], "rate": rate, "purpose": purpose}
    expected = drift.numpy_counts(frame, reference)
    assert counts.rows == n
    for feature in ("amount", "rate"):
        assert counts.numeric[feature].tolist() == expected.numeric[feature].tolist(), feature
    assert counts.numeric["amount"][-1] == 7  # 3 nulls + 4 NaN
    assert counts.categorical == expected.categorical and expected.categorical["purpose"]["__missing__"] > 0
    spark_rows = drift.feature_rows(reference, counts, TH)
    numpy_rows = drift.feature_rows(reference, expected, TH)
    assert [(r.feature, r.metric, r.status, r.rows) for r in spark_rows] == [
        (r.feature, r.metric, r.status, r.rows) for r in numpy_rows]
    assert np.allclose([r.value for r in spark_rows], [r.value for r in numpy_rows], rtol=0, atol=1e-12)
    # ... and the same PSI as the definition on the raw values.
    psi = {r.feature: r.value for r in spark_rows if r.metric == "psi"}
    assert psi["amount"] == pytest.approx(_direct_psi(reference["numeric"]["amount"], np.asarray(frame["amount"])),
                                          abs=1e-9)


def test_an_empty_day_counts_zero_rows(spark):
    df = spark.createDataFrame([], "x DOUBLE, c STRING")
    counts = drift.day_counts(df, {"x": [1.0, 2.0]}, ["c"])
    assert counts.rows == 0 and counts.numeric["x"].tolist() == [0, 0, 0, 0] and counts.categorical == {"c": {}}


def test_large_samples_use_the_limiting_ks_distribution():
    n = m = 1_000_000
    d = 0.003  # z = D * sqrt(n_eff) ~ 2.1
    en = round(n * m / (n + m))
    assert drift.ks_pvalue(d, n, m) == pytest.approx(stats.kstwobign.sf(d * math.sqrt(en)), rel=1e-12)
    assert drift.ks_pvalue(d, n, m) == pytest.approx(stats.kstwo.sf(d, en), rel=5e-3)  # what scipy's exact one says

