"""Points scorecard of a credit use case: draft after training, a person activates or rejects it.

Subcommands (logic in :mod:`jobs.lib.scorecard`; the store is ``<lakehouse>/scorecards/<uc>``, Delta tables
``versions`` and ``points``, see :func:`jobs.lib.tables.scorecards`):

``draft --use-case credit_default --ds D``
    read the gold training rows up to ``D`` (:func:`jobs.train.load_training_rows`, the rows training reads),
    split them by event date like training does (:func:`jobs.lib.modeling.time_split` with the use case's
    ``model.split``): the scorecard is fitted on train + validation (the older rows) and its AUC measured
    on the holdout (the most recent rows, the XGBoost model's holdout). Features: the use case's
    ``features.numeric`` and ``features.categorical`` minus protected attributes, PII, keys and forbidden
    columns. Scaling and checks come from the use case's ``scorecard`` section. If a scorecard is active it is
    compared with the draft on the same recent rows. The draft is saved with its checks; a rerun of the same
    date and data returns the same version. Prints and returns the version and the checks.
``activate --use-case X --version N --approver NAME --ds D [--allow-failed-checks]``
    make version N active (the previous active one is retired in the same commit); only a draft whose checks
    passed, unless the approver overrides them (recorded).
``reject --use-case X --version N --approver NAME --reason TEXT --ds D``
    mark a draft rejected (kept, with who, when and why).
``status --use-case X``
    every version with its status, checks and decision, as JSON.

``decided_at`` and ``created_at`` are the logical date ``--ds`` at 00:00 UTC, never the clock. Only ``draft``
needs Spark; the others read and write the small Delta tables through delta-rs.

Airflow: ``draft(spark, use_case, ds)`` -> :class:`DraftResult`, ``activate(use_case, version, approver, ds)``,
``reject(use_case, version, approver, reason, ds)``, ``status(use_case)``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobs.lib import modeling, tables
from jobs.lib.cli import iso_date
from jobs.lib.config import Settings, UseCase

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.lib.scorecard import CheckResult, ScorecardStore


class ScorecardJobError(ValueError):
    """The use case cannot have a scorecard (no ``scorecard`` or ``model`` section)."""


@dataclass(frozen=True)
class DraftResult:
    use_case: str
    ds: str
    version: int
    checks: tuple[CheckResult, ...]
    checks_passed: bool
    compared_to_version: int | None
    auc: float
    n_samples: int
    features: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"use_case": self.use_case, "ds": self.ds, "version": self.version,
                "checks": [c._asdict() for c in self.checks], "checks_passed": self.checks_passed,
                "compared_to_version": self.compared_to_version, "auc": self.auc, "n_samples": self.n_samples,
                "features": list(self.features)}

    def __str__(self) -> str:
        against = (f"compared with active v{self.compared_to_version}" if self.compared_to_version is not None
                   else "no active scorecard to compare with")
        lines = [f"{self.use_case} scorecard draft v{self.version} for {self.ds}: {len(self.features)} features, "
                 f"{self.n_samples} rows, AUC {self.auc:.4f} on the most recent rows; {against}; checks "
                 + ("passed" if self.checks_passed else "FAILED")]
        for c in self.checks:
            lines.append(f"  {'ok  ' if c.passed else 'FAIL'} {c.check}: {c.value} (threshold {c.threshold})")
        return "\n".join(lines)


def logical_time(ds: str) -> dt.datetime:
    """``ds`` at 00:00 UTC: the time recorded for drafts and decisions (no clock is read)."""
    return dt.datetime.combine(dt.date.fromisoformat(ds), dt.time(), tzinfo=dt.timezone.utc)


def store(use_case: UseCase | str, cfg: Settings | None = None) -> ScorecardStore:
    from jobs.lib.scorecard import ScorecardStore

    name = use_case if isinstance(use_case, str) else use_case.name
    return ScorecardStore(tables.scorecards(name, cfg), name)


def scorecard_features(use_case: UseCase) -> list[str]:
    """Configured numeric + categorical features, minus protected attributes, PII, keys and forbidden columns."""
    excluded = modeling.excluded_columns(use_case)
    return [c for c in [*use_case.features.numeric, *use_case.features.categorical] if c not in excluded]


def _settings(use_case: UseCase):
    if use_case.scorecard is None:
        raise ScorecardJobError(f"{use_case.source_file}: use case '{use_case.name}' has no 'scorecard' section")
    if use_case.model is None:
        raise ScorecardJobError(f"{use_case.source_file}: use case '{use_case.name}' has no 'model' section (its "
                                "split decides which rows fit the scorecard and which measure it)")
    return use_case.scorecard


# ---------------------------------------------------------------------------------------------- draft
def draft(spark: SparkSession, use_case: UseCase, ds: str, cfg: Settings | None = None) -> DraftResult:
    """Fit, compare, check and save a draft scorecard on the gold training rows up to ``ds``."""
    from jobs.lib.scorecard import QualityThresholds, ScorecardParams, build_draft, compare, quality_checks
    from jobs.train import load_training_rows

    sc = _settings(use_case)
    frame, table, table_version = load_training_rows(spark, use_case, ds)
    where = f"{table} (ds <= {ds})"
    modeling.check_rows(frame, where)
    split = modeling.time_split(frame, use_case.event_timestamp, use_case.primary_key,
                                use_case.model.split.validation_fraction, use_case.model.split.holdout_fraction, where)
    fit_rows, recent = split.fit.reset_index(drop=True), split.holdout
    features = scorecard_features(use_case)
    params = ScorecardParams(base_score=sc.base_score, base_odds=sc.base_odds, pdo=sc.pdo)
    new = build_draft(fit_rows, modeling.LABEL, features, params, bad_value=1, valid_df=recent)
    s = store(use_case, cfg)
    active_version = s.active_version()
    comparison = compare(new, s.load(active_version), recent) if active_version is not None else None
    c = sc.checks
    thresholds = QualityThresholds(min_samples=c.min_samples, default_rate_range=c.default_rate_range,
                                   auc_floor=c.auc_floor, max_weight_change=c.max_weight_change,
                                   min_correlation=c.min_correlation, max_band_psi=c.max_band_psi)
    checks = quality_checks(new, comparison, thresholds)
    fit_window = (split.window("train")[0], split.window("validation")[1])
    metadata = {"gold_table": table, "gold_version": table_version, "logical_date": ds,
                "fit_window": "/".join(fit_window), "auc_window": "/".join(split.window("holdout")),
                "fit_rows": len(fit_rows), "auc_rows": len(recent), "dropped": dict(new.dropped)}
    version = s.save_draft(new, ds, logical_time(ds), checks=checks, comparison=comparison,
                           compared_to_version=active_version, model_metadata=metadata)
    return DraftResult(use_case=use_case.name, ds=ds, version=version, checks=tuple(checks),
                       checks_passed=all(x.passed for x in checks), compared_to_version=active_version,
                       auc=new.auc, n_samples=new.n_samples, features=new.features)


# ------------------------------------------------------------------------------------------- decisions
def activate(use_case: UseCase, version: int, approver: str, ds: str, *, allow_failed_checks: bool = False,
             cfg: Settings | None = None) -> str:
    """Make ``version`` the active scorecard (decided at ``ds`` 00:00 UTC); returns a one-line summary."""
    _settings(use_case)
    s = store(use_case, cfg)
    before = s.active_version()
    s.activate(int(version), approver, logical_time(ds), allow_failed_checks=allow_failed_checks)
    retired = f"; v{before} retired" if before is not None and before != int(version) else ""
    return f"{use_case.name} scorecard v{version} is active (approved by {approver} for {ds}){retired}"


def reject(use_case: UseCase, version: int, approver: str, reason: str, ds: str, *,
           cfg: Settings | None = None) -> str:
    """Mark draft ``version`` rejected (decided at ``ds`` 00:00 UTC); returns a one-line summary."""
    _settings(use_case)
    store(use_case, cfg).reject(int(version), approver, reason, logical_time(ds))
    return f"{use_case.name} scorecard v{version} rejected by {approver} for {ds}: {reason}"


def status(use_case: UseCase | str, cfg: Settings | None = None) -> dict[str, Any]:
    """The active version and every version's status, checks and decision."""
    from deltalake import DeltaTable

    s = store(use_case, cfg)
    rows = (DeltaTable(s.versions_path).to_pyarrow_table().to_pylist()
            if DeltaTable.is_deltatable(s.versions_path) else [])
    keep = ("status", "auc", "n_samples", "checks_passed", "compared_to_version", "approved_by", "decision_reason")
    versions = [{"version": r["scorecard_version"], "created_for_ds": r["created_for_ds"].isoformat(),
                 **{k: r[k] for k in keep}, "checks": json.loads(r["checks"]),
                 "decided_at": r["decided_at"].isoformat() if r["decided_at"] else None}
                for r in sorted(rows, key=lambda r: r["scorecard_version"])]
    return {"use_case": s.use_case, "store": s.root, "active_version": s.active_version(), "versions": versions}


# ------------------------------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    from jobs.lib.config import use_case_names

    parser = argparse.ArgumentParser(description="Credit scorecard: draft after training, activate or reject by a "
                                                 "person, status.")
    sub = parser.add_subparsers(dest="command", required=True)
    names = ", ".join(use_case_names()) or "none found"

    def common(p: argparse.ArgumentParser, ds: bool = True) -> None:
        p.add_argument("--use-case", required=True, metavar="NAME", help=f"use case ({names})")
        if ds:
            p.add_argument("--ds", required=True, type=iso_date, metavar="YYYY-MM-DD",
                           help="logical date (recorded as the draft's / decision's time, 00:00 UTC)")

    d = sub.add_parser("draft", help="fit, compare, check and save a draft on gold training rows up to --ds")
    common(d)
    a = sub.add_parser("activate", help="make a draft whose checks passed the active scorecard")
    common(a)
    a.add_argument("--version", required=True, type=int, metavar="N")
    a.add_argument("--approver", required=True, metavar="NAME")
    a.add_argument("--allow-failed-checks", action="store_true", help="activate despite failed checks (recorded)")
    r = sub.add_parser("reject", help="mark a draft rejected, with the reason")
    common(r)
    r.add_argument("--version", required=True, type=int, metavar="N")
    r.add_argument("--approver", required=True, metavar="NAME")
    r.add_argument("--reason", required=True, metavar="TEXT")
    s = sub.add_parser("status", help="every version with status and checks, as JSON")
    common(s, ds=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from jobs.lib.config import ConfigError, load_use_case
    from jobs.lib.scorecard import ScorecardStateError

    parser = _parser()
    args = parser.parse_args(argv)
    try:
        use_case = load_use_case(args.use_case)
    except ConfigError as exc:
        parser.error(str(exc))
    try:
        if args.command == "draft":
            from jobs.lib.connect_server import ConnectServerError
            from jobs.lib.spark import get_spark

            try:
                spark = get_spark(f"riskpipe-scorecard-{use_case.name}-{args.ds}")
            except ConnectServerError as exc:
                print(f"scorecard_job: {exc}", file=sys.stderr)
                return 1
            print(draft(spark, use_case, args.ds))
        elif args.command == "activate":
            print(activate(use_case, args.version, args.approver, args.ds, allow_failed_checks=args.allow_failed_checks))
        elif args.command == "reject":
            print(reject(use_case, args.version, args.approver, args.reason, args.ds))
        else:
            print(json.dumps(status(use_case), indent=1, default=str))
    except (ScorecardJobError, ScorecardStateError, KeyError, modeling.TrainingDataError) as exc:
        print(f"scorecard {args.command} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
