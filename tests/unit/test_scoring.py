"""Scoring logic without Spark or MLflow: bands, deterministic shares, reason codes, the worker's batch function
and its booster cache, the model/feature checks and the summary line."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from jobs.lib import scoring
from jobs.lib.config import Band, ReasonCodes, ScoringSettings
from jobs.lib.modeling import FeatureSpec, base_params, prepare_features

BANDS = (Band("approve", 0.3), Band("review", 0.6), Band("decline", 1.0))
SETTINGS = ScoringSettings(bands=BANDS, reason_codes=ReasonCodes(bands=("review", "decline"), share=0.0, top_n=2,
                                                                 mode="exact"), canary_fraction=0.3)
SPEC = FeatureSpec(numeric=("x", "z"), categorical=("c",), categories={"c": ("high", "low", "mid")})


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=n), rng.normal(size=n)
    c = rng.choice(["low", "mid", "high"], size=n)
    logit = 1.5 * x + np.select([c == "high", c == "low"], [1.5, -1.0], 0.0) - 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"id": [f"k{i:04d}" for i in range(n)], "cust": [f"c{i % 97:03d}" for i in range(n)],
                         "x": x, "z": z, "c": c, "label": y})


@pytest.fixture(scope="module")
def models():
    """Two tiny boosters on the same features (champion, challenger), as :class:`ScoringModel`."""
    import xgboost as xgb

    frame = _frame()
    out = []
    for i, (depth, trees) in enumerate([(3, 30), (2, 15)]):
        clf = xgb.XGBClassifier(**{**base_params(1), "max_depth": depth, "n_estimators": trees})
        clf.fit(prepare_features(frame, SPEC), frame["label"])
        raw = bytes(clf.get_booster().save_raw("ubj"))
        out.append(scoring.ScoringModel(name="uc", version=str(i + 1), alias=["champion", "challenger"][i],
                                        run_id=f"run{i + 1}-{hashlib.sha1(raw).hexdigest()[:8]}", spec=SPEC, raw=raw))
    return out


def _batch(frame: pd.DataFrame, with_hashes: bool = True) -> pa.RecordBatch:
    data = {"id": pa.array(frame["id"]), scoring.ENTITY: pa.array(frame["cust"]),
            scoring.EVENT_DATE: pa.array([dt.date(2026, 3, 1)] * len(frame), pa.date32()),
            "x": pa.array(frame["x"]), "z": pa.array(frame["z"]), "c": pa.array(frame["c"])}
    if with_hashes:
        data[scoring.REASON_U] = pa.array([scoring.unit_hash(k) for k in frame["id"]], pa.float64())
        data[scoring.CANARY_U] = pa.array([scoring.unit_hash(k) for k in frame["cust"]], pa.float64())
    return pa.RecordBatch.from_pydict(data)


# -------------------------------------------------------------------------------------------- bands
def test_bands_are_inclusive_on_max_score_and_match_the_config_method():
    scores = np.array([0.0, 0.1, 0.3, np.nextafter(0.3, 1), 0.6, 0.61, 0.99, 1.0])
    names = scoring.assign_bands(scores, BANDS)
    assert list(names) == ["approve", "approve", "approve", "review", "review", "decline", "decline", "decline"]
    assert list(names) == [SETTINGS.band(s) for s in scores]
    assert scoring.assign_bands(np.array([np.nan]), BANDS)[0] is None


# ---------------------------------------------------------------------------------- deterministic shares
def test_unit_hash_is_the_first_8_hex_of_sha256_over_2_pow_32():
    digest = hashlib.sha256(b"customer-1").hexdigest()
    assert scoring.unit_hash("customer-1") == int(digest[:8], 16) / 2 ** 32
    values = np.array([scoring.unit_hash(f"c{i}") for i in range(20000)])
    assert 0 <= values.min() and values.max() < 1
    assert (values < 0.1).mean() == pytest.approx(0.1, abs=0.01)  # uniform enough for a share
    assert scoring.key_text(["a", None, 3]) == "a||3"


def test_reason_rows_are_the_configured_bands_plus_a_hashed_share_of_the_others():
    bands = np.array(["approve", "review", "decline", "approve", "approve"], dtype=object)
    u = np.array([0.05, 0.9, 0.9, 0.5, 0.2])
    rc = SETTINGS.reason_codes
    assert list(scoring.reason_mask(bands, u, rc)) == [False, True, True, False, False]
    assert list(scoring.reason_mask(bands, u, dataclasses.replace(rc, share=0.25))) == [True, True, True, False, True]
    assert list(scoring.canary_mask(np.array([0.1, 0.3, np.nan]), 0.3, 3)) == [True, False, False]
    assert not scoring.canary_mask(None, 0.3, 2).any() and not scoring.canary_mask(u, 0.0, 5).any()


def test_top_reasons_keep_only_positive_contributions_largest_first():
    contribs = np.array([[0.5, -0.2, 0.9, 0.1, -1.0],  # 4 features + bias
                         [-0.1, -0.2, -0.3, -0.4, 2.0],  # nothing positive: no reasons
                         [0.2, 0.2, 0.0, 0.3, 0.0]])  # tie: feature order
    counts, index, values = scoring.top_reasons(contribs, ["a", "b", "c", "d"], top_n=3)
    assert list(counts) == [3, 0, 3]
    assert list(index) == [2, 0, 3, 3, 0, 1] and list(values) == [0.9, 0.5, 0.1, 0.3, 0.2, 0.2]
    counts, index, _ = scoring.top_reasons(contribs, ["a", "b", "c", "d"], top_n=1)
    assert list(counts) == [1, 0, 1] and list(index) == [2, 3]


# ----------------------------------------------------------------------------------------- batches
def test_a_batch_scores_like_inplace_predict_with_reasons_for_the_configured_bands(models):
    import xgboost as xgb

    champion, _ = models
    frame = _frame(400, seed=5)
    plan = scoring.Plan(keys=("id",), scoring=SETTINGS, champion=champion)
    out = scoring.score_batch(_batch(frame), plan).to_pandas()

    booster = xgb.Booster(model_file=bytearray(champion.raw))
    X = prepare_features(frame, SPEC)
    expected = booster.inplace_predict(X).astype("float64")
    assert out["score"].to_numpy() == pytest.approx(expected, abs=1e-7)
    assert list(out.columns) == [c for c, _ in scoring.worker_columns(["id"])]
    assert list(out["band"]) == [SETTINGS.band(s) for s in out["score"]]
    assert set(out["model_role"]) == {"champion"} and out[scoring.SHADOW_SCORE].isna().all()
    assert not set(scoring.MODEL_IDENTITY) & set(out.columns)  # the job adds them from model_role
    assert scoring.model_identity(champion) == {"model_name": "uc", "model_version": "1", "model_alias": "champion",
                                                "run_id": champion.run_id}

    explained = out["band"].isin(["review", "decline"])
    assert explained.any() and (~explained).any()
    assert out.loc[~explained, "reason_codes"].isna().all()
    contribs = booster.predict(xgb.DMatrix(X, enable_categorical=True), pred_contribs=True)
    assert contribs.shape == (len(frame), len(SPEC.columns) + 1)  # one column per feature (categorical too) + bias
    margin = booster.inplace_predict(X, predict_type="margin")
    assert contribs.sum(axis=1) == pytest.approx(margin, abs=1e-4)
    for i in np.flatnonzero(explained):
        codes, values = list(out["reason_codes"][i]), list(out["reason_contributions"][i])
        positive = sorted(((v, -j) for j, v in enumerate(contribs[i, :-1]) if v > 0), reverse=True)[:2]
        assert codes == [SPEC.columns[-j] for _, j in positive]
        assert values == pytest.approx([v for v, _ in positive], abs=1e-6)
        assert len(codes) <= 2 and all(v > 0 for v in values)


def test_canary_rows_get_the_challengers_score_and_reasons(models):
    import xgboost as xgb

    champion, challenger = models
    frame = _frame(400, seed=6)
    plan = scoring.Plan(keys=("id",), scoring=SETTINGS, champion=champion, challenger=challenger)
    out = scoring.score_batch(_batch(frame), plan).to_pandas()
    X = prepare_features(frame, SPEC)
    champ = xgb.Booster(model_file=bytearray(champion.raw)).inplace_predict(X).astype("float64")
    chall_booster = xgb.Booster(model_file=bytearray(challenger.raw))
    chall = chall_booster.inplace_predict(X).astype("float64")
    canary = np.array([scoring.unit_hash(c) < 0.3 for c in frame["cust"]])
    assert 0 < canary.sum() < len(frame)
    assert list(out["model_role"] == "canary") == list(canary)
    assert out["score"].to_numpy() == pytest.approx(np.where(canary, chall, champ), abs=1e-7)
    assert out[scoring.SHADOW_SCORE].to_numpy() == pytest.approx(chall, abs=1e-7)
    contribs = chall_booster.predict(xgb.DMatrix(X, enable_categorical=True), pred_contribs=True)
    rows = np.flatnonzero(canary & out["reason_codes"].notna().to_numpy())
    assert len(rows)
    for i in rows:  # reasons explain the challenger's score (none when no feature pushes it up: empty, not null)
        top = contribs[i, :-1].argmax()
        codes = list(out["reason_codes"][i])
        assert codes[:1] == ([SPEC.columns[top]] if contribs[i, top] > 0 else [])


def test_approx_mode_and_an_empty_batch(models):
    champion, _ = models
    frame = _frame(50, seed=7)
    plan = scoring.Plan(keys=("id",), scoring=dataclasses.replace(
        SETTINGS, reason_codes=dataclasses.replace(SETTINGS.reason_codes, mode="approx", share=1.0)),
        champion=champion)
    out = scoring.score_batch(_batch(frame), plan).to_pandas()
    assert out["reason_codes"].notna().all()  # share 1.0: every row
    empty = scoring.score_batch(_batch(frame.head(0)), plan)
    assert empty.num_rows == 0 and empty.schema.names == [c for c, _ in scoring.worker_columns(["id"])]


def test_the_booster_is_loaded_once_per_process_and_version(models):
    champion, challenger = models
    scoring._BOOSTERS.clear()
    before = len(scoring.BOOSTER_LOADS)
    plan = scoring.Plan(keys=("id",), scoring=SETTINGS, champion=champion, challenger=challenger)
    score = scoring.batch_scorer(plan)
    batches = [_batch(_frame(60, seed=s)) for s in range(4)]
    assert sum(b.num_rows for b in score(iter(batches))) == 240
    list(score(iter(batches)))
    assert scoring.BOOSTER_LOADS[before:] == [champion.cache_key, challenger.cache_key]


# ------------------------------------------------------------------------------------------- checks
def test_a_model_that_does_not_match_its_spec_is_refused(models):
    import xgboost as xgb

    booster = xgb.Booster(model_file=bytearray(models[0].raw))
    scoring.check_model(SPEC, booster, "m v1")
    with pytest.raises(scoring.ScoringError, match=r"m v1: .*spec columns not in the model \['w'\]"):
        scoring.check_model(FeatureSpec(numeric=("x", "z", "w"), categorical=("c",)), booster, "m v1")
    with pytest.raises(scoring.ScoringError, match=r"treats \['c'\] as categorical but its feature spec says \[\]"):
        scoring.check_model(FeatureSpec(numeric=("x", "z", "c"), categorical=()), booster, "m v1")


def test_gold_columns_must_hold_every_feature_numeric_ones_numeric():
    scoring.check_columns(SPEC, {"x": "double", "z": "bigint", "c": "string"}, "gold")
    with pytest.raises(scoring.ScoringError, match=r"gold: missing feature column\(s\) \['z'\]; numeric feature\(s\) "
                                                   r"not numeric in gold: x is string"):
        scoring.check_columns(SPEC, {"x": "string", "c": "string"}, "gold")
    with pytest.raises(scoring.ScoringError, match="clash"):
        scoring.check_key_names(["score"])


def test_summary_is_one_line_with_versions_bands_and_reasons(models):
    champion, challenger = models
    plan = scoring.Plan(keys=("id",), scoring=SETTINGS, champion=champion, challenger=challenger)
    counts = scoring.Counts(rows=500, bands={"approve": 310, "review": 120, "decline": 70}, canary=48, reasons=190,
                            shadow=500)
    assert scoring.summary("credit_default", "2026-03-01", plan, counts) == (
        "scored 500 rows of credit_default 2026-03-01 with champion v1 (canary 48 by challenger v2, shadow 500); "
        "bands approve=310 review=120 decline=70; reason codes for 190 rows")
    alone = scoring.summary("uc", "2026-03-01", dataclasses.replace(plan, challenger=None),
                            scoring.Counts(rows=0, bands={}, canary=0, reasons=0, shadow=0))
    assert "no challenger" in alone and "is empty" in alone and "approve=0" in alone and "\n" not in alone


def test_prepare_batch_is_prepare_features_of_the_batch():
    """The worker prepares categorical columns per distinct value: the frame must be prepare_features' own."""
    spec = FeatureSpec(numeric=("n_int", "n_float", "n_null"), categorical=("c", "c2", "c_num"),
                       categories={"c": ("a", "b", "c"), "c2": ("x",), "c_num": ("1", "2")})
    batch = pa.RecordBatch.from_pydict({
        "n_int": pa.array([1, 2, 3, 4, 5], pa.int32()), "n_float": pa.array([0.5, None, 2.0, -1.0, 3.0]),
        "n_null": pa.array([None, None, 7, None, 1], pa.int64()),
        "c": pa.array(["b", "a", None, "unseen", "b"]), "c2": pa.array([None] * 5, pa.string()),
        "c_num": pa.array([1, 2, 3, None, 1], pa.int64()), "other": pa.array(["k"] * 5)})
    expected = prepare_features(batch.to_pandas(), spec)
    got = scoring.prepare_batch(batch, spec)
    pd.testing.assert_frame_equal(got, expected)
    assert list(got["c"].cat.codes) == [1, 0, -1, -1, 1]  # null and unseen levels are missing
    empty = batch.slice(0, 0)
    pd.testing.assert_frame_equal(scoring.prepare_batch(empty, spec), prepare_features(empty.to_pandas(), spec))
    frame = _frame(500, seed=9)
    pd.testing.assert_frame_equal(scoring.prepare_batch(_batch(frame), SPEC), prepare_features(frame, SPEC))
