"""The keynote transfer benchmark: our server against the JSON-RPC peers a Python developer would build.

Every system runs the same workload, one after another, on this machine: 100,000 accounts seeded with
1,000,000,000 each, then `transfer(from, to, 1)` between account pairs drawn from a Zipf distribution
(alpha 0 = uniform, alpha 1.5 = heavy contention), from `--clients` connections with `--inflight` calls
in flight on each. It prints TPS, p50/p99 latency, failures, the CPU used by the load generator and the
server, checks that the sum of balances is unchanged, and gives the ratio of our TPS to the best peer's
at each alpha (the goal is at least 3x).

  python benchmarks/keynote.py                                  # all systems, both alphas, 10 s windows
  python benchmarks/keynote.py --seconds 30 --protocol v2       # the upstream-comparable profile
  python benchmarks/keynote.py --systems spacetimedb,sqlite --alphas 1.5

Needs Node 20 with the npm SDK in tests/node (`npm ci` there); PostgreSQL and asyncpg for the postgres
peer (benchmarks/keynote/setup.sh installs both). A system whose dependency is missing is skipped.
Everything listens on 127.0.0.1 and is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent / "keynote"))

from keynote_bench.config import RunConfig
from keynote_bench.loadgen_runner import NodeMissing, node_binary
from keynote_bench.report import as_json, render
from keynote_bench.runner import run_benchmark
from keynote_bench.systems import SYSTEMS


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=_positive(float), default=10.0, help="timed window per alpha (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="warmup before each window (default 2)")
    p.add_argument("--clients", type=_positive(int), default=16, help="connections (default 16)")
    p.add_argument("--inflight", type=_positive(int), default=40, help="calls in flight per connection (default 40)")
    p.add_argument("--peer-inflight", type=_positive(int), default=None,
                   help="calls in flight per client for the peers (default: same as --inflight)")
    p.add_argument("--alphas", default="0,1.5", help="comma-separated Zipf alphas (default 0,1.5)")
    p.add_argument("--repeat", type=_positive(int), default=1,
                   help="rounds over the alphas per system; the report shows each median and range (default 1)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, of: {', '.join(SYSTEMS)}")
    p.add_argument("--protocol", choices=["v2", "v3"], default="v3",
                   help="WebSocket subprotocol for our server: v3 (the SDK's default) or v2 (upstream's profile)")
    p.add_argument("--unconfirmed-reads", action="store_true",
                   help="diagnostic: our clients do not ask for confirmed reads (the workload asks for them)")
    p.add_argument("--accounts", type=_positive(int), default=100_000, help="accounts seeded (default 100000)")
    p.add_argument("--pg-pool", type=_positive(int), default=64, help="PostgreSQL peer's pool size (default 64)")
    p.add_argument("--http-client", choices=["request", "fetch"], default="request",
                   help="undici API the peers' generator uses (default request, the cheaper one)")
    p.add_argument("--pairs", type=_positive(int), default=1_000_000, help="precomputed account pairs")
    p.add_argument("--module", type=Path, default=None, help="the bank module (default examples/bank.py)")
    p.add_argument("--profile-pyspy", default=None, metavar="PY_SPY",
                   help="profile our server with this py-spy binary during each window; prints top frames")
    p.add_argument("--profile-dir", type=Path, default=None, help="keep the py-spy profiles here")
    p.add_argument("--server-cpus", default=None, metavar="LIST",
                   help="run each server under `taskset -c LIST` (e.g. 0: one core; the generator is not pinned)")
    p.add_argument("--trace", type=Path, default=None, metavar="FILE",
                   help="diagnostic: our server writes a confirmed call's latency breakdown (JSON, us) to FILE")
    p.add_argument("--sqlite-synchronous", choices=["normal", "full"], default="normal",
                   help="the SQLite peer's synchronous pragma: normal (upstream's harness; in WAL mode no sync per "
                   "commit) or full (a WAL sync per commit, as our server syncs every group commit)")
    p.add_argument("--server-flag", action="append", default=[], metavar="FLAG",
                   help="extra argument for our server (repeatable), e.g. --server-flag=--database-processes")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON to this file")
    p.add_argument("--keep", action="store_true", help="keep the run's temp dir (logs, data)")
    return p.parse_args(argv)


def config_from(args: argparse.Namespace) -> RunConfig:
    cfg = RunConfig(
        accounts=args.accounts,
        clients=args.clients,
        inflight=args.inflight,
        peer_inflight=args.peer_inflight,
        seconds=args.seconds,
        warmup=max(0.0, args.warmup),
        alphas=[float(a) for a in args.alphas.split(",") if a.strip()],
        repeat=int(args.repeat),
        confirmed_reads=not args.unconfirmed_reads,
        protocol=args.protocol,
        pg_pool=args.pg_pool,
        http_client=args.http_client,
        pairs=args.pairs,
    )
    cfg.profile_pyspy = args.profile_pyspy
    cfg.profile_dir = args.profile_dir.resolve() if args.profile_dir else None
    cfg.server_cpus = args.server_cpus
    cfg.sqlite_synchronous = args.sqlite_synchronous
    cfg.trace = args.trace.resolve() if args.trace else None
    cfg.server_flags = list(args.server_flag)
    if args.module is not None:
        cfg.module = args.module.resolve()
    return cfg


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through every ProcessGroup, stopping its servers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        print(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(SYSTEMS)}", file=sys.stderr)
        return 2
    try:
        node_binary()
    except NodeMissing as err:
        print(err, file=sys.stderr)
        return 2
    cfg = config_from(args)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    try:
        outcomes = run_benchmark(cfg, systems, say, keep_dir=args.keep)
    except KeyboardInterrupt:
        say("interrupted: every server has been stopped")
        return 130
    print(render(outcomes))
    if args.json is not None:
        args.json.write_text(json.dumps(as_json(outcomes), indent=2))
    broken = [o for o in outcomes if o.failed or (o.sum_check or "").startswith("MISMATCH")]
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
