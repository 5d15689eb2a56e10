"""What the server adds per reducer call, as a ratio to calling the host directly.

The same `transfer` calls of `examples/bank.py` run two ways in one process, interleaved so machine
load hits both alike: (a) the server path - a v3 frame of pipelined CallReducer messages decoded,
each call run through the database worker's handler, ReducerResults encoded, handed over and queued
for the socket; (b) the baseline - `ModuleHost.call_reducer` with pre-decoded arguments. Durability is on
(the commit log is written, fsync off so the disk does not dominate). No sockets are involved: this
isolates the protocol/dispatch layer; the keynote benchmark measures the whole system.

    python benchmarks/server_overhead.py [--calls 1000] [--repeats 30]
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from spacetimedb.control.database_registry import BackendSpec  # noqa: E402
from spacetimedb.control.host_backend import HostBackend  # noqa: E402
from spacetimedb.control.hosted_database import DatabaseInfo, HostedDatabase  # noqa: E402
from spacetimedb.control.identity import identity_from_claims  # noqa: E402
from spacetimedb.durability.policy import FsyncPolicy  # noqa: E402
from spacetimedb.module.auth import AuthCtx  # noqa: E402
from spacetimedb.protocol import wire  # noqa: E402
from spacetimedb.protocol.client_frames import decode_client_frame  # noqa: E402
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp  # noqa: E402

ACCOUNTS = 1000


class QueueOnly:
    """A connected client whose frames are built and then dropped (no socket)."""

    identity = identity_from_claims("localhost", "bench-client")
    connection_id = 7
    auth = AuthCtx(is_internal=False, jwt=None)  # a client that connected without a token

    def __init__(self) -> None:
        self.outbox: list[bytes] = []

    def enqueue(self, message: bytes, tx_offset: int | None = None) -> None:
        self.outbox.append(message)

    def flush(self) -> None:
        b"".join(self.outbox)
        self.outbox.clear()

    def fail(self, code: int, reason: str) -> None:
        raise RuntimeError(reason)

    def handled(self, count: int) -> None:
        pass


def _call(request_id: int, reducer: str, args: bytes) -> bytes:
    return b"\x03" + struct.pack("<I", request_id) + b"\x00" + wire.pack_str(reducer) + wire.pack_bytes(args)


def _transfer_args(i: int) -> bytes:
    return struct.pack("<IIq", i % ACCOUNTS, (i + 1) % ACCOUNTS, 1)


async def run(calls: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ident = identity_from_claims("localhost", "bench-db")
        info = DatabaseInfo("bank", ident, ident)
        spec = BackendSpec(info, ROOT / "examples" / "bank.py", Path(tmp), fresh=True)
        backend = HostBackend(spec, fsync=FsyncPolicy.off())
        db = HostedDatabase(info, backend)
        client = QueueOnly()
        db.subscribers.add(client)
        db.handle_all(client, decode_client_frame(_call(0, "seed", struct.pack("<Iq", ACCOUNTS, 10**9)), many=False))
        db.deliver_now()
        frame = b"".join(_call(i, "transfer", _transfer_args(i)) for i in range(calls))
        args = [_transfer_args(i) for i in range(calls)]
        caller, conn = Identity(int.from_bytes(client.identity, "big")), ConnectionId(client.connection_id)
        host = backend.host
        best_server = best_host = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            db.handle_all(client, decode_client_frame(frame, many=True))
            db.deliver_now()  # what the loop does with the worker's turn (the thread hand-off itself is not timed)
            best_server = min(best_server, time.perf_counter() - t)
            t = time.perf_counter()
            for a in args:
                host.call_reducer("transfer", a, caller=caller, connection_id=conn, timestamp=Timestamp.now())
            best_host = min(best_host, time.perf_counter() - t)
        backend.close()
    print(f"calls per repeat: {calls}, repeats: {repeats} (best of each)")
    print(f"server path / bare host time: {best_server / best_host:.2f}x")
    print(f"server overhead per call: {(best_server - best_host) / calls * 1e6:.2f} us "
          f"(bare host {best_host / calls * 1e6:.2f} us per call)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=30)
    opts = p.parse_args()
    asyncio.run(run(opts.calls, opts.repeats))


if __name__ == "__main__":
    main()
