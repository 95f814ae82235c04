"""Model registry commands (no Spark needed):

``python -m jobs.registry_cli gate --use-case credit_default --ds 2026-03-01``
    register the finished training run of that date (if not yet) as ``challenger`` and run the quality gate
    (what ``jobs/train.py`` does itself unless ``--no-gate``); exits 1 when the gate fails with ``--strict``.
``python -m jobs.registry_cli rollback --use-case credit_default [--reason "..."]``
    move ``champion`` back to ``previous`` (fails clearly when there is no previous version).
``python -m jobs.registry_cli status --use-case credit_default``
    the registered model's aliases and each version's gate status, as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from jobs.lib.cli import iso_date
from jobs.lib.config import ConfigError, load_use_case, use_case_names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Model registry: quality gate, rollback, status.")
    sub = parser.add_subparsers(dest="command", required=True)
    names = ", ".join(use_case_names()) or "none found"
    g = sub.add_parser("gate", help="register a date's training run as challenger and run the quality gate")
    g.add_argument("--use-case", required=True, metavar="NAME", help=f"use case ({names})")
    g.add_argument("--ds", required=True, type=iso_date, metavar="YYYY-MM-DD", help="logical date of the training run")
    g.add_argument("--strict", action="store_true", help="exit 1 when the gate fails")
    r = sub.add_parser("rollback", help="move the champion alias back to the previous version")
    r.add_argument("--use-case", required=True, metavar="NAME", help=f"use case ({names})")
    r.add_argument("--reason", default="manual rollback", help="recorded on the versions and the model")
    s = sub.add_parser("status", help="aliases and gate status of every version")
    s.add_argument("--use-case", required=True, metavar="NAME", help=f"use case ({names})")
    return parser


def status(use_case: str) -> dict:
    from jobs.lib import registry

    c = registry.client()
    name = registry.model_name(use_case)
    versions = c.search_model_versions(f"name = '{name}'")
    return {"model": name, "aliases": registry.aliases(c, name),
            "versions": {str(v.version): {"gate_status": v.tags.get("gate_status"), "gate_reason": v.tags.get("gate_reason"),
                                     "run_id": v.run_id, "logical_date": v.tags.get("logical_date")}
                         for v in sorted(versions, key=lambda v: int(v.version))}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        use_case = load_use_case(args.use_case)
    except ConfigError as exc:
        parser.error(str(exc))
    from jobs.lib import registry

    if args.command == "rollback":
        try:
            print(registry.rollback(use_case.name, reason=args.reason))
        except registry.RegistryError as exc:
            print(f"rollback failed: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "status":
        print(json.dumps(status(use_case.name), indent=1))
        return 0
    from jobs.train import find_run, register_and_gate

    c = registry.client()
    run = find_run(c, use_case.name, args.ds)
    if run is None:
        print(f"gate failed: no finished training run of {use_case.name} for {args.ds}", file=sys.stderr)
        return 1
    version, decision = register_and_gate(c, use_case, run.info.run_id)
    print(f"{use_case.name} v{version.version} (run {run.info.run_id}): gate {decision.summary}")
    return 1 if args.strict and not decision.passed else 0


if __name__ == "__main__":
    sys.exit(main())
