"""The bare host path of one reducer call, ours against a baseline tree, in one run.

Each tree runs in a child process of its own: examples/bank.py loaded the way the server loads it
(`HostBackend`: the module host, its commit log with fsync off, the subscription commit listener
with nobody subscribed), 1,000 accounts seeded, then `ModuleHost.call_reducer("transfer", <BSATN
args>, caller=..., connection_id=...)` in rounds of `--calls` calls (two unique-index finds, two
updates, a commit logged). The parent has the children take turns, round after round, so load
from other processes falls on both alike, and prints each side's best and median microseconds
per call and their ratio (baseline / ours: above 1 means ours is faster).

    git archive OLD src examples | tar -x -C /tmp/old          # the baseline tree
    python benchmarks/host_call.py --baseline /tmp/old [--calls 5000] [--rounds 30]
    python benchmarks/host_call.py --baseline /tmp/old --no-commit-log   # without the commit log
    python benchmarks/host_call.py                                # ours only
"""

from __future__ import annotations

import argparse
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = 1000


def child(tree: Path, calls: int, commit_log: bool) -> None:
    """Runs in a fresh interpreter with `tree`'s sources: one round of calls per "run" line on stdin."""
    sys.path.insert(0, str(tree / "src"))
    from spacetimedb.control.database_registry import BackendSpec
    from spacetimedb.control.host_backend import HostBackend
    from spacetimedb.control.hosted_database import DatabaseInfo
    from spacetimedb.control.identity import identity_from_claims
    from spacetimedb.durability.policy import FsyncPolicy
    from spacetimedb.sats.special import ConnectionId, Identity

    with tempfile.TemporaryDirectory() as tmp:
        ident = identity_from_claims("localhost", "bench-db")
        info = DatabaseInfo("bank", ident, ident)
        backend = HostBackend(BackendSpec(info, tree / "examples" / "bank.py", Path(tmp), fresh=True),
                              fsync=FsyncPolicy.off())
        host = backend.host
        host.call_reducer("seed", struct.pack("<Iq", ACCOUNTS, 10**9), caller=host.owner)
        if not commit_log:
            host.set_commit_log(None)  # the engine, module and host layers alone
        caller, conn = Identity(0xC0FFEE), ConnectionId(7)
        args = [struct.pack("<IIq", i % ACCOUNTS, (i * 7 + 1) % ACCOUNTS, 1) for i in range(calls)]
        call = host.call_reducer
        for line in sys.stdin:
            if line.strip() != "run":
                break
            start = time.perf_counter_ns()
            for a in args:
                call("transfer", a, caller=caller, connection_id=conn)
            elapsed = time.perf_counter_ns() - start
            print(elapsed, flush=True)
        tid = host.module.tables[0].schema.table_id
        total = sum(r[1] for r in backend.engine.scan(tid))
        assert total == ACCOUNTS * 10**9, "transfers must conserve the sum of balances"
        backend.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", type=Path, default=None, help="a tree with src/spacetimedb and examples/bank.py")
    p.add_argument("--calls", type=int, default=5000, help="calls per round (default 5000)")
    p.add_argument("--rounds", type=int, default=30, help="rounds per side, taken in turns (default 30)")
    p.add_argument("--no-commit-log", action="store_true",
                   help="detach the commit log after seeding: time the engine, module and host layers alone")
    p.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    opts = p.parse_args()
    if opts.child is not None:
        child(opts.child, opts.calls, not opts.no_commit_log)
        return
    sides = {"ours": REPO_ROOT}
    if opts.baseline is not None:
        if not (opts.baseline / "src" / "spacetimedb").is_dir():
            sys.exit(f"--baseline {opts.baseline}: no src/spacetimedb there")
        sides = {"base": opts.baseline.resolve(), "ours": REPO_ROOT}
    procs = {
        name: subprocess.Popen(
            [sys.executable, __file__, "--child", str(tree), "--calls", str(opts.calls),
             *(["--no-commit-log"] if opts.no_commit_log else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tree,
        )
        for name, tree in sides.items()
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    try:
        order = list(procs.items())
        for _ in range(opts.rounds):
            order.reverse()  # each side goes first in every other round
            for name, proc in order:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write("run\n")
                proc.stdin.flush()
                times[name].append(int(proc.stdout.readline()) / opts.calls / 1000)
    finally:
        for proc in procs.values():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=60)
    log = "commit log detached" if opts.no_commit_log else "commit log on, fsync off"
    print(f"transfer through ModuleHost.call_reducer (BSATN args, {log}), "
          f"{opts.calls} calls x {opts.rounds} rounds per side, in turns")
    for name, tree in sides.items():
        t = times[name]
        print(f"  {name:5s} best {min(t):6.2f} us/call  median {statistics.median(t):6.2f} us/call  ({tree})")
    if "base" in times:
        best = min(times["base"]) / min(times["ours"])
        med = statistics.median(times["base"]) / statistics.median(times["ours"])
        print(f"  base / ours: best {best:.2f}x  median {med:.2f}x  (above 1: ours is faster)")


if __name__ == "__main__":
    main()
