"""Nightly scoring of a use case's gold features for a date with the registered champion (shadow and canary
with the challenger); the CRM reads the result.

Per ``(use case, ds)``:

1. the versions behind aliases ``champion`` and ``challenger`` of registered model ``<uc>``; no champion →
   nothing is scored or written ("no champion for <uc> yet: nothing scored", exit 0);
2. each version's booster (``mlflow.xgboost`` model of its run, raw ``xgboost.Booster``) and feature spec
   (``feature_spec.json``); checks before anything is written: the booster takes exactly the spec's features,
   the gold table holds every feature column (numeric ones numeric) — else :class:`ScoringError` naming the
   columns. A challenger that fails these checks is left out (said in the summary); the champion never is;
3. ``gold/<uc>/features`` partition ``ds`` scored in one ``mapInArrow`` pass (:mod:`jobs.lib.scoring`): the
   boosters travel as raw bytes in the function's closure and are loaded once per Python worker; features via
   ``modeling.prepare_features`` with each version's spec; ``Booster.inplace_predict``; bands; reason codes
   (XGBoost's own contributions) only for the rows that get them. The result is kept (a checkpoint) and counted before
   any write, so a scoring failure writes nothing;
4. ``scores/<uc>/daily`` (what the CRM reads; contract in :mod:`jobs.lib.scoring`): the date's
   ``score_date`` partition replaced (``replace_where``) — champion rows, and ``canary`` rows scored by the
   challenger for the entities whose hash falls in ``scoring.canary_fraction``;
5. ``scores/<uc>/shadow``: the challenger's scores of the same rows (role ``shadow``); without a challenger
   the date's partition is replaced by zero rows when the table exists, so a rerun never leaves an earlier
   run's shadow rows behind;
6. ``scores/<uc>/latest``: one row per entity, merged on ``entity_id`` from the date's CRM rows (per entity
   the latest event, then the highest key); an entity whose stored row has a newer ``score_date`` keeps it,
   so rerunning an older date never overwrites a newer score.

The three tables are separate Delta commits (4, 5, 6 in that order): a failure in between leaves the
earlier ones written and the rerun of the date replaces them all.

An empty gold partition writes empty partitions (0 rows) and says so. Run:
``python -m jobs.score --use-case credit_default --ds 2026-03-01``.
"""
from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from jobs.lib import lake, registry, scoring, tables
from jobs.lib.cli import run_job
from jobs.lib.config import Settings, UseCase, settings
from jobs.lib.spark import checkpoint, session_conf
from jobs.lib.scoring import (
    BAND,
    CANARY_U,
    CHALLENGER,
    CHAMPION,
    ENTITY,
    EVENT_DATE,
    REASON_CODES,
    REASON_CONTRIBUTIONS,
    REASON_U,
    ROLE_CANARY,
    ROLE_SHADOW,
    SCORE,
    SCORE_DATE,
    SCORED_AT,
    SHADOW_BAND,
    SHADOW_SCORE,
    Counts,
    Plan,
    ScoringError,
    ScoringModel,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["ScoringError", "load_model", "score", "run", "main"]


# ------------------------------------------------------------------------------------------- models
def load_model(version: ModelVersion, alias: str) -> ScoringModel:
    """A registered version as the workers need it (raw booster bytes + feature spec), checked: the booster's
    features must be the spec's."""
    import mlflow

    spec = registry.load_feature_spec(version.run_id)
    loaded = mlflow.xgboost.load_model(f"models:/{version.name}/{version.version}")
    booster = loaded.get_booster() if hasattr(loaded, "get_booster") else loaded
    scoring.check_model(spec, booster, f"model {version.name} v{version.version} (run {version.run_id})")
    return ScoringModel(name=version.name, version=str(version.version), alias=alias, run_id=version.run_id,
                        spec=spec, raw=bytes(booster.save_raw("ubj")))


def _versions(c: MlflowClient, use_case: str) -> tuple[ModelVersion | None, ModelVersion | None]:
    name = registry.model_name(use_case)
    champion = registry.version_by_alias(c, name, CHAMPION)
    challenger = registry.version_by_alias(c, name, CHALLENGER)
    if champion is not None and challenger is not None and str(challenger.version) == str(champion.version):
        challenger = None
    return champion, challenger


# -------------------------------------------------------------------------------------------- input
def scoring_input(gold: DataFrame, use_case: UseCase, plan: Plan) -> DataFrame:
    """The columns the scoring function reads: keys and entity as strings, event date as a date, the features
    of both models, and the deterministic hashes (only those the plan uses)."""
    from pyspark.sql import functions as F

    keys = list(use_case.primary_key)
    columns = [F.col(k).cast("string").alias(k) for k in keys]
    columns += [F.col(use_case.entity).cast("string").alias(ENTITY),
                F.col(use_case.event_timestamp).cast("date").alias(EVENT_DATE)]
    columns += [F.col(c) for c in plan.feature_columns]
    if plan.scoring.reason_codes.share > 0:
        key = F.concat_ws("|", *[F.coalesce(F.col(k).cast("string"), F.lit("")) for k in keys])
        columns.append(scoring.spark_unit_hash(key).alias(REASON_U))
    if plan.challenger is not None and plan.scoring.canary_fraction > 0:
        columns.append(scoring.spark_unit_hash(F.col(use_case.entity).cast("string")).alias(CANARY_U))
    return gold.select(*columns)


def _large_var_types(spark: SparkSession) -> bool:
    try:
        return str(spark.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false")).lower() == "true"
    except Exception:
        return False


# ---------------------------------------------------------------------------------------- outputs
def crm_rows(scored: DataFrame, plan: Plan, scored_at: dt.datetime, day: dt.date) -> DataFrame:
    """The CRM table's rows (contract order): the model columns from each row's role (champion or canary)."""
    from pyspark.sql import functions as F

    champion = scoring.model_identity(plan.champion)
    challenger = scoring.model_identity(plan.challenger) if plan.challenger is not None else None
    columns = {c: F.col(c) for c in scored.columns}
    for name, value in champion.items():
        column = F.lit(value)
        if challenger is not None:
            column = F.when(F.col("model_role") == ROLE_CANARY, F.lit(challenger[name])).otherwise(column)
        columns[name] = column
    columns.update({SCORED_AT: F.lit(scored_at), SCORE_DATE: F.lit(day)})
    return scored.select(*[columns[c].alias(c) for c, _ in scoring.crm_columns(plan.keys)])


def shadow_rows(scored: DataFrame, plan: Plan, scored_at: dt.datetime, day: dt.date) -> DataFrame:
    """The challenger's score of every row (no reason codes: see :mod:`jobs.lib.scoring`)."""
    from pyspark.sql import functions as F

    columns = {c: F.col(c) for c in scored.columns}
    columns.update({
        SCORE: F.col(SHADOW_SCORE), BAND: F.col(SHADOW_BAND), REASON_CODES: F.lit(None).cast("array<string>"),
        REASON_CONTRIBUTIONS: F.lit(None).cast("array<double>"), "model_role": F.lit(ROLE_SHADOW),
        **{name: F.lit(value) for name, value in scoring.model_identity(plan.challenger).items()},
        SCORED_AT: F.lit(scored_at), SCORE_DATE: F.lit(day)})
    return scored.select(*[columns[c].alias(c) for c, _ in scoring.crm_columns(plan.keys)])


def empty_rows(spark: SparkSession, keys: Sequence[str]) -> DataFrame:
    return spark.createDataFrame([], scoring.ddl(scoring.crm_columns(keys)))


def upsert_latest(spark: SparkSession, day_rows: DataFrame, keys: Sequence[str], table: str) -> tuple[int, int]:
    """Merge the newest row per entity of ``day_rows`` into ``table`` unless the stored row is newer (a later
    ``score_date``). Returns (entities upserted, entities that kept a newer stored score)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = [F.col(EVENT_DATE).desc_nulls_last(), *[F.col(k).desc_nulls_last() for k in keys]]
    newest = (day_rows.where(F.col(ENTITY).isNotNull())
              .withColumn("_rank", F.row_number().over(Window.partitionBy(ENTITY).orderBy(*order)))
              .where(F.col("_rank") == 1).drop("_rank"))
    if lake.exists(table):
        stored = lake.read(table, spark=spark).select(ENTITY, F.col(SCORE_DATE).alias("_stored_date"))
        newest = newest.join(stored, ENTITY, "left").withColumn(
            "_keep", F.col("_stored_date").isNull() | (F.col(SCORE_DATE) >= F.col("_stored_date")))
    else:
        newest = newest.withColumn("_keep", F.lit(True))
    newest = checkpoint(newest)  # read twice: counted, then merged
    total, keep = newest.agg(F.count(F.lit(1)), F.sum(F.col("_keep").cast("int"))).first()
    keep = int(keep or 0)
    if keep:
        columns = [c for c, _ in scoring.crm_columns(keys)]
        lake.merge(newest.where(F.col("_keep")).select(*columns), table, keys=[ENTITY])
    return keep, int(total) - keep


# ------------------------------------------------------------------------------------------------ job
def _counts(scored: DataFrame, challenger: bool) -> Counts:
    from pyspark.sql import functions as F

    rows = scored.groupBy(BAND, "model_role").agg(F.count(F.lit(1)).alias("n"),
                                                  F.count(REASON_CODES).alias("r")).collect()
    bands: dict[str, int] = {}
    for r in rows:
        bands[r[BAND]] = bands.get(r[BAND], 0) + int(r["n"])
    n = sum(int(r["n"]) for r in rows)
    return Counts(rows=n, bands=bands, canary=sum(int(r["n"]) for r in rows if r["model_role"] == ROLE_CANARY),
                  reasons=sum(int(r["r"]) for r in rows), shadow=n if challenger else 0)


def score(spark: SparkSession, use_case: UseCase, ds: str, cfg: Settings | None = None) -> str:
    """Score ``ds`` (see the module docstring); returns the one-line summary."""
    cfg = cfg or settings()
    uc = use_case.name
    if use_case.scoring is None:
        return f"{uc} has no 'scoring' section in {use_case.source_file.name}: nothing scored"
    keys = list(use_case.primary_key)
    scoring.check_key_names(keys)
    c = registry.client(cfg)
    champion_version, challenger_version = _versions(c, uc)
    if champion_version is None:
        return f"no champion for {uc} yet: nothing scored"

    gold_path = tables.gold_features(uc, cfg)
    if not lake.exists(gold_path):
        raise FileNotFoundError(f"{uc} {ds}: no gold features table {gold_path}; run the gold job first")
    gold_types = {f.name: f.dataType.simpleString() for f in lake.schema(gold_path, spark).fields}
    context = [use_case.entity, use_case.event_timestamp]
    missing_context = [col for col in [*keys, *context] if col not in gold_types]
    if missing_context:
        raise ScoringError(f"{uc} {ds}: {gold_path} lacks key/entity/event column(s) {missing_context}; "
                           "nothing written")
    champion = load_model(champion_version, CHAMPION)
    scoring.check_columns(champion.spec, gold_types,
                          f"{uc} {ds}: champion v{champion.version} cannot score {gold_path}")
    notes: list[str] = []
    challenger = None
    if challenger_version is not None:
        try:
            challenger = load_model(challenger_version, CHALLENGER)
            scoring.check_columns(challenger.spec, gold_types, f"challenger v{challenger.version}")
        except ScoringError as exc:
            challenger = None
            notes.append(f"challenger left out: {exc}")

    from pyspark.sql import functions as F

    plan = Plan(keys=tuple(keys), scoring=use_case.scoring, champion=champion, challenger=challenger,
                large_var_types=_large_var_types(spark))
    gold = lake.read(gold_path, spark=spark).where(F.col("ds") == ds)
    with session_conf(spark, scoring.SPARK_CONF):  # read when the action runs
        # Scored once and kept (a checkpoint): counted, written to the CRM and shadow tables and merged into
        # latest from the kept rows. A scoring failure here writes nothing.
        scored = checkpoint(scoring_input(gold, use_case, plan).mapInArrow(scoring.batch_scorer(plan),
                                                                           plan.output_ddl))
    counts = _counts(scored, challenger is not None)
    day = dt.date.fromisoformat(ds)
    scored_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    where = f"{SCORE_DATE} = '{ds}'"
    crm = crm_rows(scored, plan, scored_at, day)
    lake.write(crm, tables.scores(uc, cfg), mode="overwrite", replace_where=where, partition_by=[SCORE_DATE])
    shadow_path = tables.scores_shadow(uc, cfg)
    if challenger is not None:
        lake.write(shadow_rows(scored, plan, scored_at, day), shadow_path, mode="overwrite",
                   replace_where=where, partition_by=[SCORE_DATE])
    elif lake.exists(shadow_path):
        lake.write(empty_rows(spark, keys), shadow_path, mode="overwrite", replace_where=where,
                   partition_by=[SCORE_DATE])
    if counts.rows:
        upserted, kept = upsert_latest(spark, crm, keys, tables.scores_latest(uc, cfg))
        notes.append(f"latest: {upserted} customers upserted"
                     + (f", {kept} kept a newer score" if kept else ""))
    else:
        notes.append("latest unchanged")
    return scoring.summary(uc, ds, plan, counts, "; ".join(notes))


def run(spark: SparkSession, use_case: UseCase, ds: str) -> str:
    return score(spark, use_case, ds)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("Score the date's gold features with the champion (shadow and canary with the challenger) into "
                   "scores/<uc>/daily, scores/<uc>/shadow and scores/<uc>/latest.", run, argv)


if __name__ == "__main__":
    sys.exit(main())
