"""Starts our server (spacetimedb.server.app.run_server) with the bank module published, for the benchmark.

Run: python -m keynote_bench.ours_server --listen 127.0.0.1:P --data-dir DIR --module examples/bank.py --name bank
(`--name` again publishes the module under another name too: benchmarks/both_cores.py loads two databases.)
Durability is left at the server's default (on), as a user would run it.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--module", required=True, type=Path)
    parser.add_argument("--name", action="append", default=None, help="database name (repeatable; default bank)")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="diagnostic: sys.setswitchinterval (how long a thread may hold the GIL; default 0.005)")
    parser.add_argument("--trace", type=Path, default=None,
                        help="diagnostic: write a confirmed call's latency breakdown here (keynote_bench.call_trace)")
    parser.add_argument("--database-processes", action="store_true",
                        help="run each database in a process of its own (spacetimedb start --database-processes)")
    opts = parser.parse_args(argv)
    if opts.trace is not None:
        from keynote_bench.call_trace import install

        install(opts.trace)
    if opts.switch_interval is not None:
        import sys

        sys.setswitchinterval(opts.switch_interval)
    from spacetimedb.server.app import run_server

    run_server(
        opts.listen,
        opts.data_dir,
        publish=[(name, opts.module) for name in opts.name or ["bank"]],
        database_processes=opts.database_processes or None,
    )


if __name__ == "__main__":
    main()
