"""Benchmark: nightly scoring throughput (the score job's mapInArrow path) against raw in-process XGBoost.

    python benchmarks/scoring_drift.py [--rows 1000000] [--trees 300] [--repeat 2] [--reason-rows 20000]
                                       [--skip-pyfunc] [--skip-numeric]

Data: ``--rows`` gold-like credit_default feature rows, resampled from the shipped German credit sample with noise
(numeric columns jittered, 2% of categorical values swapped for another level of the column, derived features
recomputed or drawn), keys ``B0000000``.., 400k distinct hashed customers. Model: one XGBoost classifier with
``--trees`` trees (depth 4, the project's base parameters: native categoricals, one thread) fitted on the
1000 labelled sample rows with the use case's feature spec. Generation, training and the Spark source
(``--partitions``, default twice the session's parallelism, persisted in memory) are not timed.

Measured (best of ``--repeat``; every run is in the JSON), all on the same rows:

* ``in-process inplace_predict``: ``Booster.inplace_predict`` on the already prepared feature frame, 2 threads
  (the reference: the raw model on this machine), and the same with ``prepare_features`` included;
* ``spark mapInArrow``: the score job's path (:func:`jobs.score.scoring_input`, :func:`jobs.lib.scoring.
  batch_scorer` — prepare_features, inplace_predict, bands, one thread per task — and :func:`jobs.score.crm_rows`)
  on a classic ``local[2]`` session, into Spark's ``noop`` sink; goal ≥ 0.5x the reference's rows/s. Reason
  codes off (no band gets them) so the figure is the prediction path; a second row with the configured reason
  codes (TreeSHAP for review/decline rows) and one with approx contributions run on a ``--reason-rows`` sample
  only (TreeSHAP costs hundreds of predictions per row);
* ``mlflow spark_udf``: ``mlflow.pyfunc.spark_udf`` of the same model logged with ``mlflow.xgboost`` (local env
  manager). Its pyfunc flavor hands XGBoost the text categoricals as ``object`` columns, which XGBoost refuses:
  the error is recorded. Unless ``--skip-numeric``, a numeric-only model (same rows, numeric features) is also
  scored by both paths, so spark_udf gets a figure (it returns class labels, not probabilities);
* **hook** (marked below): if ``benchmarks/_drift.py`` exists with ``measure(spark, rows) -> list[dict]``, its rows
  are printed in the same table and saved with the others.

Prints a table, writes ``.bench/scoring_drift.json``. Not a test: run on demand.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
RESULTS = PROJECT_ROOT / ".bench" / "scoring_drift.json"
DRIFT_HOOK = Path(__file__).resolve().parent / "_drift.py"
GOAL_RATIO = 0.5  # Spark rows/s over in-process rows/s
USE_CASE = "credit_default"
CUSTOMERS = 400_000


# ---------------------------------------------------------------------------------------------- data
def sample_frame(use_case, seed: int = 42):
    """The 1000 German credit rows with the derived features and a 0/1 label (training rows of the model)."""
    import numpy as np
    import pandas as pd

    from jobs.lib.config import settings

    raw = pd.read_csv(Path(settings().paths.samples) / use_case.source.sample)
    rng = np.random.default_rng(seed)
    raw["monthly_burden"] = raw["credit_amount"] / raw["duration_in_month"]
    raw["log_credit_amount"] = np.log1p(raw["credit_amount"])
    raw["prior_applications_90d"] = rng.poisson(0.3, len(raw))
    raw["credit_amount_vs_30d_mean"] = rng.lognormal(0.0, 0.5, len(raw))
    raw["label"] = (raw[use_case.label.column] == use_case.label.positive).astype("int32")
    return raw


def gold_like(sample, use_case, rows: int, seed: int = 7):
    """``rows`` gold feature rows resampled from ``sample`` with noise (see the module docstring)."""
    import hashlib

    import numpy as np

    rng = np.random.default_rng(seed)
    out = sample.iloc[rng.integers(0, len(sample), rows)].reset_index(drop=True)
    out["credit_amount"] = np.round(out["credit_amount"] * rng.lognormal(0.0, 0.1, rows), 2)
    out["duration_in_month"] = np.clip(out["duration_in_month"] + rng.integers(-2, 3, rows), 4, 72).astype("int32")
    for col in use_case.features.categorical:
        levels = out[col].dropna().unique()
        swap = rng.random(rows) < 0.02
        out.loc[swap, col] = rng.choice(levels, int(swap.sum()))
    out["monthly_burden"] = out["credit_amount"] / out["duration_in_month"]
    out["log_credit_amount"] = np.log1p(out["credit_amount"])
    out["prior_applications_90d"] = rng.poisson(0.3, rows)
    out["credit_amount_vs_30d_mean"] = rng.lognormal(0.0, 0.5, rows)
    out["application_id"] = [f"B{i:07d}" for i in range(rows)]
    customers = [hashlib.sha256(f"c{i}".encode()).hexdigest() for i in range(CUSTOMERS)]
    out["customer_id"] = [customers[i] for i in rng.integers(0, CUSTOMERS, rows)]
    out["application_date"] = dt.date(2026, 3, 1)
    return out


def spark_frame(spark, frame, use_case, partitions: int):
    """The rows as a gold-typed Spark DataFrame in ``partitions`` partitions, persisted and counted (not timed).
    The job reads a gold partition through the lake layer in about the session's parallelism of splits;
    ``createDataFrame`` would make one per Arrow batch (100 for 1M rows), and every task pays for shipping the
    scoring closure (the booster's bytes) and starting its pipeline."""
    from pyspark import StorageLevel

    types = {**use_case.schema, "monthly_burden": "double", "log_credit_amount": "double",
             "prior_applications_90d": "bigint", "credit_amount_vs_30d_mean": "double"}
    columns = [c for c in dict.fromkeys([*use_case.primary_key, use_case.entity, use_case.event_timestamp,
                                         *use_case.features.names, *use_case.protected_attributes])]
    df = spark.createDataFrame(frame[columns], ", ".join(f"`{c}` {types[c]}" for c in columns))
    df = df.repartition(partitions).persist(StorageLevel.MEMORY_AND_DISK)
    assert df.count() == len(frame)
    return df


# --------------------------------------------------------------------------------------------- model
def fit_model(sample, spec, trees: int, seed: int = 42):
    from jobs.lib import modeling

    return modeling.fit({"max_depth": 4, "learning_rate": 0.05, "n_estimators": trees}, seed,
                        modeling.prepare_features(sample, spec), sample["label"].to_numpy())


def scoring_model(model, spec, version: str = "1"):
    from jobs.lib.scoring import ScoringModel

    return ScoringModel(name=USE_CASE, version=version, alias="champion", run_id=f"bench-{version}-{time.time_ns()}",
                        spec=spec, raw=bytes(model.get_booster().save_raw("ubj")))


# ---------------------------------------------------------------------------------------- measuring
def best_of(fn, repeat: int) -> tuple[float, list[float], Any]:
    runs, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return min(runs), runs, result


def row(name: str, rows: int, seconds: float | None, runs: list[float] | None = None, note: str = "",
        **extra: Any) -> dict[str, Any]:
    return {"name": name, "rows": rows, "seconds": None if seconds is None else round(seconds, 3),
            "rows_per_s": None if not seconds else round(rows / seconds),
            "runs_seconds": [round(r, 3) for r in runs or []], "note": note, **extra}


def in_process(model, frame, spec, repeat: int) -> tuple[list[dict[str, Any]], Any]:
    import numpy as np

    from jobs.lib import modeling

    booster = model.get_booster()
    booster.set_param({"nthread": 2})
    X = modeling.prepare_features(frame, spec)
    best, runs, probs = best_of(lambda: booster.inplace_predict(X), repeat)
    prep, prep_runs, _ = best_of(lambda: booster.inplace_predict(modeling.prepare_features(frame, spec)), repeat)
    booster.set_param({"nthread": 1})
    one, one_runs, _ = best_of(lambda: booster.inplace_predict(X), 1)
    return [row("in-process inplace_predict (2 threads)", len(frame), best, runs,
                "reference: prepared features, model only", reference=True),
            row("in-process prepare_features + inplace_predict", len(frame), prep, prep_runs, "2 threads"),
            row("in-process inplace_predict (1 thread)", len(frame), one, one_runs)], np.asarray(probs, "float64")


def spark_path(spark, df, use_case, plan, repeat: int, name: str, note: str = "") -> dict[str, Any]:
    """The score job's scoring pass (input select, mapInArrow, the CRM columns) into the noop sink."""
    from jobs.lib import scoring
    from jobs.score import crm_rows, scoring_input

    scored = crm_rows(scoring_input(df, use_case, plan).mapInArrow(scoring.batch_scorer(plan), plan.output_ddl),
                      plan, dt.datetime.now(dt.timezone.utc), dt.date(2026, 3, 1))
    from jobs.lib.spark import session_conf

    rows = df.count()
    with session_conf(spark, scoring.SPARK_CONF):  # as the score job: its Arrow batch size
        best, runs, _ = best_of(lambda: scored.write.format("noop").mode("overwrite").save(), repeat)
    return row(name, rows, best, runs, f"{scoring.ARROW_BATCH_ROWS:,} rows per Arrow batch; {note}".rstrip("; "))


def check_scores(spark, df, use_case, plan, frame, probs, n: int = 2000) -> float:
    """Max |Spark score - in-process score| over the first ``n`` keys."""
    import numpy as np
    from pyspark.sql import functions as F

    from jobs.lib import scoring
    from jobs.score import scoring_input

    keys = list(frame["application_id"].iloc[:n])
    got = (scoring_input(df.where(F.col("application_id").isin(keys)), use_case, plan)
           .mapInArrow(scoring.batch_scorer(plan), plan.output_ddl).select("application_id", "score").toPandas())
    expected = dict(zip(frame["application_id"].iloc[:n], probs[:n], strict=True))
    return float(np.max(np.abs(got["score"].to_numpy() - np.array([expected[k] for k in got["application_id"]]))))


def pyfunc_udf(spark, df, model, spec, work: Path, repeat: int, name: str) -> dict[str, Any]:
    """``mlflow.pyfunc.spark_udf`` of ``model`` logged with ``mlflow.xgboost`` (errors recorded, not raised)."""
    import mlflow
    from pyspark.sql import functions as F

    try:
        mlflow.set_tracking_uri(f"sqlite:///{work}/mlflow.db")
        from jobs.train import signature_frame

        sample = df.limit(200).toPandas()
        signature = mlflow.models.infer_signature(signature_frame(sample, spec))  # as train.py: text categoricals
        with mlflow.start_run():
            info = mlflow.xgboost.log_model(model, name="model", model_format="ubj", signature=signature)
        udf = mlflow.pyfunc.spark_udf(spark, info.model_uri, result_type="double", env_manager="local")
        # The signature's types: numeric features double, categoricals text.
        inputs = [F.col(c).cast("double" if c in spec.numeric else "string").alias(c) for c in spec.columns]
        scored = df.select("application_id", udf(F.struct(*inputs)).alias("prediction"))
        rows = df.count()
        best, runs, _ = best_of(lambda: scored.write.format("noop").mode("overwrite").save(), repeat)
        return row(name, rows, best, runs, "pyfunc predict(): class labels, not probabilities")
    except Exception as exc:  # noqa: BLE001 - a benchmark records what failed
        import re

        message = " ".join(str(exc).split())
        errors = list(re.finditer(r"\b\w+(Error|Exception): ", message))  # the innermost (last) one of a traceback
        short = message[errors[-1].start():errors[-1].start() + 240] if errors else message[:240]
        return row(name, df.count(), None, note=f"failed: {type(exc).__name__}: {short}")


# ------------------------------------------------------------------------------ HOOK: drift benchmark
def drift_rows(spark, rows: int) -> list[dict[str, Any]]:
    """HOOK — drift measurements written by another engineer: if ``benchmarks/_drift.py`` exists and defines
    ``measure(spark, rows: int) -> list[dict]``, its rows join this benchmark's table and JSON (missing keys are
    filled in; a failure is recorded as a row, never raised)."""
    if not DRIFT_HOOK.is_file():
        return []
    try:
        spec = importlib.util.spec_from_file_location("benchmarks_drift_hook", DRIFT_HOOK)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        measured = list(module.measure(spark, rows))
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        return [row("drift (benchmarks/_drift.py)", rows, None, note=f"failed: {type(exc).__name__}: {exc}"[:300],
                    source="_drift.py")]
    out = []
    for r in measured:
        r = dict(r)
        n, seconds = r.get("rows", rows), r.get("seconds")
        r.setdefault("name", r.get("operation") or r.get("what") or "drift")
        r["rows"] = n
        if r.get("rows_per_s") is None and seconds:
            r["rows_per_s"] = round(n / seconds)
        r.setdefault("note", "")
        r["source"] = "_drift.py"
        out.append(r)
    return out
# ------------------------------------------------------------------------------------------ end HOOK


def print_table(results: list[dict[str, Any]], reference: float) -> None:
    header = f"{'measurement':<58}{'rows':>10}{'seconds':>10}{'rows/s':>12}{'vs ref':>8}  note"
    print(header)
    print("-" * len(header))
    for r in results:
        seconds = "-" if r.get("seconds") is None else f"{r['seconds']:.2f}"
        rate = r.get("rows_per_s")
        ratio = f"{rate / reference:.2f}x" if rate and reference else "-"
        print(f"{str(r['name'])[:57]:<58}{r.get('rows', 0):>10}{seconds:>10}{(f'{rate:,}' if rate else '-'):>12}"
              f"{ratio:>8}  {r.get('note', '')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement; the best is reported")
    parser.add_argument("--reason-rows", type=int, default=20_000,
                        help="rows for the reason-code measurements (TreeSHAP is ~hundreds of predictions a row)")
    parser.add_argument("--partitions", type=int, default=0,
                        help="Spark partitions of the source rows (default: twice the session's parallelism)")
    parser.add_argument("--skip-pyfunc", action="store_true", help="do not try mlflow.pyfunc.spark_udf")
    parser.add_argument("--skip-numeric", action="store_true", help="no numeric-only model comparison")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="scoring-bench-", dir="/tmp"))
    os.environ.setdefault("RISKPIPE_LAKEHOUSE", str(work / "lakehouse"))
    os.environ.setdefault("RISKPIPE_LANDING", str(work / "landing"))
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        import dataclasses

        from jobs.lib import modeling, scoring
        from jobs.lib.config import load_use_case
        from jobs.lib.spark import get_spark

        use_case = load_use_case(USE_CASE)
        started = time.perf_counter()
        sample = sample_frame(use_case)
        spec = modeling.build_spec(use_case, sample)
        model = fit_model(sample, spec, args.trees)
        frame = gold_like(sample, use_case, args.rows)
        print(f"data and model ready ({args.rows} rows, {model.get_booster().num_boosted_rounds()} trees, "
              f"{len(spec.columns)} features) in {time.perf_counter() - started:.0f}s", flush=True)

        results, probs = in_process(model, frame, spec, args.repeat)
        reference = results[0]["rows_per_s"]
        print(f"in-process reference: {reference:,} rows/s", flush=True)

        spark = get_spark("bench-scoring-drift", classic=True)
        partitions = args.partitions or 2 * spark.sparkContext.defaultParallelism
        df = spark_frame(spark, frame, use_case, partitions)
        no_reasons = dataclasses.replace(use_case.scoring, reason_codes=dataclasses.replace(
            use_case.scoring.reason_codes, bands=(), share=0.0))
        plan = scoring.Plan(keys=tuple(use_case.primary_key), scoring=no_reasons,
                            champion=scoring_model(model, spec))
        # Warm-up, untimed: every Python worker starts, imports and loads the booster (a sample keeps every
        # partition, so every worker warms; ``limit`` would warm one).
        spark_path(spark, df.sample(fraction=min(1.0, 20_000 / args.rows), seed=1), use_case, plan, 1, "warm-up")
        max_diff = check_scores(spark, df, use_case, plan, frame, probs)
        spark_row = spark_path(spark, df, use_case, plan, args.repeat, "spark mapInArrow (score job path)",
                               f"{spark.sparkContext.master}, {partitions} partitions, 1 thread/task, no reason codes; "
                               f"max |diff| vs in-process {max_diff:.1e}")
        spark_row["max_abs_diff_vs_in_process"] = max_diff
        results.append(spark_row)
        print(f"spark: {spark_row['rows_per_s']:,} rows/s", flush=True)

        few = df.sample(fraction=min(1.0, args.reason_rows / args.rows), seed=2).persist()
        n_few = few.count()
        rc = use_case.scoring.reason_codes
        for mode in ("exact", "approx"):
            with_reasons = dataclasses.replace(plan, scoring=dataclasses.replace(
                use_case.scoring, reason_codes=dataclasses.replace(rc, mode=mode)))
            results.append(spark_path(spark, few, use_case, with_reasons, 1,
                                      f"spark mapInArrow + reason codes ({mode})",
                                      f"bands {list(rc.bands)}, top {rc.top_n}; a {n_few}-row sample"))
        few.unpersist()

        if not args.skip_pyfunc:
            results.append(pyfunc_udf(spark, df, model, spec, work, args.repeat, "mlflow pyfunc spark_udf"))
        if not args.skip_numeric:
            numeric = modeling.FeatureSpec(numeric=spec.numeric, categorical=())
            numeric_model = fit_model(sample, numeric, args.trees)
            booster = numeric_model.get_booster()
            booster.set_param({"nthread": 2})
            X = modeling.prepare_features(frame, numeric)
            best, runs, _ = best_of(lambda: booster.inplace_predict(X), args.repeat)
            results.append(row("numeric-only model: in-process inplace_predict (2 thr)", len(frame), best, runs))
            numeric_plan = dataclasses.replace(plan, champion=scoring_model(numeric_model, numeric, "n1"))
            results.append(spark_path(spark, df, use_case, numeric_plan, args.repeat,
                                      "numeric-only model: spark mapInArrow"))
            if not args.skip_pyfunc:
                results.append(pyfunc_udf(spark, df, numeric_model, numeric, work, args.repeat,
                                          "numeric-only model: mlflow pyfunc spark_udf"))

        df.unpersist()  # the drift hook gets the session's memory
        results.extend(drift_rows(spark, args.rows))  # HOOK: benchmarks/_drift.py, when it exists

        print()
        print_table(results, reference)
        ratio = spark_row["rows_per_s"] / reference
        verdict = "meets" if ratio >= GOAL_RATIO else "does NOT meet"
        print(f"\nspark mapInArrow at {ratio:.2f}x the in-process rows/s: {verdict} the goal (>= {GOAL_RATIO}x)")

        import mlflow
        import xgboost

        from benchmarks._common import save_results

        save_results(RESULTS, "scoring_drift", {
            "rows": args.rows, "trees": args.trees, "features": len(spec.columns), "repeat": args.repeat,
            "source_partitions": partitions,
            "goal_ratio": GOAL_RATIO, "ratio": round(ratio, 3), "reference_rows_per_s": reference,
            "drift_hook": str(DRIFT_HOOK.relative_to(PROJECT_ROOT)) if DRIFT_HOOK.is_file() else None,
        }, results, {"xgboost": xgboost.__version__, "mlflow": mlflow.__version__,
                     "spark_master": spark.sparkContext.master,
                     "arrow_max_records_per_batch_scoring": scoring.ARROW_BATCH_ROWS})
        spark.stop()
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
