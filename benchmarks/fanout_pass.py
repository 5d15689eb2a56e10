"""The Python step per subscriber of one commit's shared update, alone: the worker's hand-over to
the loop plus the release once the commit is durable, for N sessions whose transport is a no-op.

No database, no reducer, no socket: `DatabaseWorker.send_shared`, `deliver_now` and the
confirmed reads' release, as the server runs them, best of several rounds, with and without
confirmed reads. Run it from a tree, or against another (e.g. a `git archive` of main before a
change) with `--tree DIR`, alternating the two:

    python benchmarks/fanout_pass.py [--clients 1000] [--commits 100] [--tree DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class NoopTransport:
    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


class Unpaused:
    _paused = False

    async def _drain_helper(self) -> None:
        pass


async def run(clients: int, commits: int, rounds: int) -> dict[bool, float]:
    from spacetimedb.control.confirmed_reads import ConfirmedReads
    from spacetimedb.control.worker import DatabaseWorker
    from spacetimedb.protocol.compression import Compression
    from spacetimedb.server.tokens import Caller
    from spacetimedb.server.ws_session import ClientSession

    reads = ConfirmedReads(None, "bench")
    reads.durable_offset = -1  # confirmed clients are held; released by hand below
    worker = DatabaseWorker("bench", on_turn=lambda: None, next_wake=lambda: None, after_flush=lambda: None)
    worker.reads = reads
    db: Any = type("Db", (), {"confirmed_reads": reads})()
    caller = Caller(identity=b"\x01" * 32, issuer="localhost", subject="s", audience=(), token="e30.e30.x")
    message = b"\x04" + bytes(60)
    best: dict[bool, float] = {}
    offset = 0
    for confirmed in (False, True):
        subs = [ClientSession(None, db, caller, i, v3=True, compression=Compression.NONE,  # type: ignore[arg-type]
                              confirmed=confirmed, transport=NoopTransport(), protocol=Unpaused())
                for i in range(clients)]
        best[confirmed] = float("inf")
        for _ in range(rounds):
            t = time.process_time()
            for _ in range(commits):
                offset += 1
                worker.send_shared(list(subs), message, offset)
                worker.deliver_now()
                reads._release(offset)
            best[confirmed] = min(best[confirmed], time.process_time() - t)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--commits", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--tree", type=Path, default=ROOT, help="the source tree to measure (default: this one)")
    opts = p.parse_args()
    sys.path.insert(0, str(opts.tree.resolve() / "src"))
    best = asyncio.run(run(opts.clients, opts.commits, opts.rounds))
    per = opts.clients * opts.commits
    for confirmed, seconds in best.items():
        print(f"{opts.tree}: confirmed reads {'on ' if confirmed else 'off'}: "
              f"{seconds / per * 1e9:.0f} ns per subscriber per commit (hand-over + release)")


if __name__ == "__main__":
    main()
