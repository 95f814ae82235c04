"""Start, stop or inspect the warm local Spark Connect server (``make spark-up`` / ``make spark-down``).

    python -m jobs.spark_server up       # start it unless it runs; wait until it accepts connections
    python -m jobs.spark_server down     # stop the server this project started (and only that)
    python -m jobs.spark_server status   # exit 0 when it is up, 3 when it is not

Host, port, master and state folder come from ``spark.connect`` in the config (port also from
``RISKPIPE_SPARK_CONNECT_PORT``). See :mod:`jobs.lib.connect_server`.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from jobs.lib import connect_server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "down", "status"), help="what to do with the server")
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            state = connect_server.ensure_running()
            print(state.describe())
            return 0
        if args.action == "down":
            connect_server.stop()
            return 0
        state = connect_server.status()
        print(state.describe())
        return 0 if state.ours and state.listening else 3
    except connect_server.ConnectServerError as exc:
        print(f"spark_server {args.action}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
