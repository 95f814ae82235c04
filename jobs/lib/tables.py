"""Where each Delta table of a use case lives. One place, so jobs, tests and reports agree."""
from __future__ import annotations

from jobs.lib.config import Settings, settings

STREAMS = ("events", "labels")


def _cfg(cfg: Settings | None) -> Settings:
    return cfg or settings()


def bronze(use_case: str, stream: str, cfg: Settings | None = None) -> str:
    """Rows as received (all strings) plus ingestion metadata, partitioned by ``ds``."""
    return _cfg(cfg).table_path("bronze", use_case, stream)


def silver(use_case: str, stream: str, cfg: Settings | None = None) -> str:
    """Typed, normalised, deduplicated, validated rows; PII hashed; outliers flagged; by ``ds``."""
    return _cfg(cfg).table_path("silver", use_case, stream)


def gold_features(use_case: str, cfg: Settings | None = None) -> str:
    """Point-in-time features per event, partitioned by ``ds``."""
    return _cfg(cfg).table_path("gold", use_case, "features")


def gold_training(use_case: str, cfg: Settings | None = None) -> str:
    """Features joined with matured labels, partitioned by the ``ds`` the label arrived."""
    return _cfg(cfg).table_path("gold", use_case, "training")


def quarantine(use_case: str, cfg: Settings | None = None) -> str:
    """Rows kept out of a layer, with the reason, partitioned by ``ds`` and ``layer``."""
    return _cfg(cfg).table_path("quarantine", use_case, "rows")


def quality(use_case: str, cfg: Settings | None = None) -> str:
    """One data-quality record per batch, layer and stream, partitioned by ``ds`` and ``layer``."""
    return _cfg(cfg).table_path("quality", use_case, "batches")


def governance(use_case: str, cfg: Settings | None = None) -> str:
    """One governance report per model version (score, trust level, fairness, the report as JSON);
    not partitioned (a few rows per year), upserted on ``(model_name, model_version)``."""
    return _cfg(cfg).table_path("governance", use_case, "reports")


def scorecards(use_case: str, cfg: Settings | None = None) -> str:
    """Root of the use case's scorecard store: ``versions`` (one row per draft, with status and checks) and
    ``points`` (one row per version, feature and bin) Delta tables under it."""
    return f"{_cfg(cfg).paths.lakehouse.rstrip('/')}/scorecards/{use_case}"


def scores(use_case: str, cfg: Settings | None = None) -> str:
    """What the CRM reads: one row per scored key and score date (champion, or challenger for the canary share),
    partitioned by ``score_date``. Contract in the README ("Scores for the CRM")."""
    return _cfg(cfg).table_path("scores", use_case, "daily")


def scores_shadow(use_case: str, cfg: Settings | None = None) -> str:
    """The challenger's scores of the same rows (never read by the CRM), partitioned by ``score_date``."""
    return _cfg(cfg).table_path("scores", use_case, "shadow")


def scores_latest(use_case: str, cfg: Settings | None = None) -> str:
    """The latest score per customer (entity): the CRM's lookup table, upserted by each scoring run."""
    return _cfg(cfg).table_path("scores", use_case, "latest")


def drift(use_case: str, cfg: Settings | None = None) -> str:
    """One row per date, feature and statistic (PSI, KS, chi-square, new_category_share), partitioned by ``ds``."""
    return _cfg(cfg).table_path("monitoring", use_case, "drift")


def performance(use_case: str, cfg: Settings | None = None) -> str:
    """AUC / KS / bad rate per score-date cohort once its labels matured, next to the training holdout's."""
    return _cfg(cfg).table_path("monitoring", use_case, "performance")


def decisions(use_case: str, cfg: Settings | None = None) -> str:
    """One retraining decision per daily run (retrain or not, and why), partitioned by ``ds``."""
    return _cfg(cfg).table_path("monitoring", use_case, "decisions")
