"""What the server adds per reducer call, as a ratio to calling the host directly.

The same `transfer` calls of `examples/bank.py` run two ways in one process, interleaved so machine
load hits both alike: (a) the server path - a v3 frame of pipelined CallReducer messages decoded,
each call run through the database worker's handler, ReducerResults encoded, handed over and queued
for the socket; (b) the baseline - `ModuleHost.call_reducer` with pre-decoded arguments. Durability is on
(the commit log is written, fsync off so the disk does not dominate). No sockets are involved: this
isolates the protocol/dispatch layer; the keynote benchmark measures the whole system.

`--unpipelined` measures the keynote's 16x1 shape instead: one call per v2 frame, each answered
before the next is sent, through the real front (a `ClientSession` over a transport that drops
what it is given, confirmed reads on, the call run on the event loop while the worker is idle and
its reply released once the commit log's writer thread says it is durable). It reports the event
loop thread's CPU time per call (`time.thread_time`), against the bare host's.

    python benchmarks/server_overhead.py [--calls 1000] [--repeats 30] [--unpipelined]
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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

    def deliver(self, message: bytes, tx_offset: int | None = None) -> None:
        self.enqueue(message, tx_offset)
        self.flush()

    def fail(self, code: int, reason: str) -> None:
        raise RuntimeError(reason)

    def handled(self, count: int) -> None:
        pass


def _call(request_id: int, reducer: str, args: bytes) -> bytes:
    return b"\x03" + struct.pack("<I", request_id) + b"\x00" + wire.pack_str(reducer) + wire.pack_bytes(args)


def _transfer_args(i: int) -> bytes:
    return struct.pack("<IIq", i % ACCOUNTS, (i + 1) % ACCOUNTS, 1)


def _bank(tmp: str) -> tuple[HostBackend, HostedDatabase]:
    """examples/bank.py as a hosted database in `tmp`, its commit log written without fsync."""
    ident = identity_from_claims("localhost", "bench-db")
    info = DatabaseInfo("bank", ident, ident)
    spec = BackendSpec(info, ROOT / "examples" / "bank.py", Path(tmp), fresh=True)
    backend = HostBackend(spec, fsync=FsyncPolicy.off())
    return backend, HostedDatabase(info, backend)


def _bare_host(backend: HostBackend, identity: bytes, connection_id: int, calls: int, clock: Any) -> float:
    """`clock` time of `calls` transfers through `ModuleHost.call_reducer` with pre-decoded arguments."""
    args = [_transfer_args(i) for i in range(calls)]
    caller, conn = Identity(int.from_bytes(identity, "big")), ConnectionId(connection_id)
    host = backend.host
    t = clock()
    for a in args:
        host.call_reducer("transfer", a, caller=caller, connection_id=conn, timestamp=Timestamp.now())
    return float(clock() - t)


def _report(what: str, calls: int, repeats: int, best_server: float, best_host: float) -> None:
    print(f"{what} calls per repeat: {calls}, repeats: {repeats} (best of each)")
    print(f"server path / bare host: {best_server / best_host:.2f}x")
    print(f"server overhead per call: {(best_server - best_host) / calls * 1e6:.2f} us "
          f"(bare host {best_host / calls * 1e6:.2f} us per call)")


async def run(calls: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        backend, db = _bank(tmp)
        client = QueueOnly()
        db.subscribers.add(client)
        db.handle_all(client, decode_client_frame(_call(0, "seed", struct.pack("<Iq", ACCOUNTS, 10**9)), many=False))
        db.deliver_now()
        frame = b"".join(_call(i, "transfer", _transfer_args(i)) for i in range(calls))
        best_server = best_host = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            db.handle_all(client, decode_client_frame(frame, many=True))
            db.deliver_now()  # what the loop does with the worker's turn (the thread hand-off itself is not timed)
            best_server = min(best_server, time.perf_counter() - t)
            best_host = min(best_host, _bare_host(backend, client.identity, client.connection_id, calls, time.perf_counter))
        backend.close()
    _report("pipelined (time)", calls, repeats, best_server, best_host)


class _Transport:
    """A socket that keeps up and drops what it is given; the reply's write completes the call."""

    def __init__(self) -> None:
        self.written: asyncio.Future[None] | None = None

    def write(self, data: bytes) -> None:
        fut = self.written
        if fut is not None and not fut.done():
            fut.set_result(None)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


class _Protocol:
    _paused = False

    async def _drain_helper(self) -> None:
        return None


async def run_unpipelined(calls: int, repeats: int, count_calls: bool = False) -> None:
    from spacetimedb.protocol.compression import Compression
    from spacetimedb.server.tokens import Caller
    from spacetimedb.server.ws_session import ClientSession

    with tempfile.TemporaryDirectory() as tmp:
        backend, db = _bank(tmp)
        db.start()
        me = identity_from_claims("localhost", "bench-client")
        caller = Caller(me, "localhost", "bench-client", (), "e30.e30.e30")  # payload "{}"
        transport = _Transport()
        session = ClientSession(
            None,  # type: ignore[arg-type]  # never read: frames go to the transport
            db, caller, 7, v3=False, compression=Compression.NONE, confirmed=True,
            transport=transport, protocol=_Protocol(),
        )
        db.subscribers.add(session)
        loop = asyncio.get_running_loop()

        async def one(frame: bytes) -> None:
            transport.written = loop.create_future()
            session._on_binary(frame)
            await transport.written

        await one(_call(0, "seed", struct.pack("<Iq", ACCOUNTS, 10**9)))
        frames = [_call(i, "transfer", _transfer_args(i)) for i in range(calls)]
        best_server = best_host = float("inf")
        for _ in range(repeats):
            t = time.thread_time()
            for frame in frames:
                await one(frame)
            best_server = min(best_server, time.thread_time() - t)
            best_host = min(best_host, _bare_host(backend, me, 7, calls, time.thread_time))
        counted = [0, 0]
        if count_calls:  # a count that load does not blur (the profiler slows this pass down)
            def on_event(_frame: Any, event: str, _arg: Any) -> None:
                if event == "call":  # (a coroutine's resumption counts as a call too)
                    counted[0] += 1
                elif event == "c_call":
                    counted[1] += 1

            sys.setprofile(on_event)
            try:
                for frame in frames:
                    await one(frame)
            finally:
                sys.setprofile(None)
        db.subscribers.discard(session)
        await db.stop()
    _report("unpipelined (event loop thread CPU)", calls, repeats, best_server, best_host)
    if count_calls:
        print(f"event loop calls per call: {counted[0] / calls:.1f} Python, {counted[1] / calls:.1f} C "
              f"(this benchmark's `one` included)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--unpipelined", action="store_true", help="one call per v2 frame through the real front")
    p.add_argument("--count-calls", action="store_true", help="with --unpipelined: count the loop's calls per call")
    opts = p.parse_args()
    if opts.unpipelined:
        try:
            import uvloop  # the server's loop

            uvloop.install()
        except ImportError:  # pragma: no cover
            pass
        asyncio.run(run_unpipelined(opts.calls, opts.repeats, opts.count_calls))
    else:
        asyncio.run(run(opts.calls, opts.repeats))


if __name__ == "__main__":
    main()
