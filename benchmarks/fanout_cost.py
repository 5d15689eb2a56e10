"""The server's own cost of fanning one commit out to N subscribers, per subscriber, in process.

examples/quickstart_chat.py on a hosted database (durability on, fsync off), N WebSocket sessions
subscribed to `SELECT * FROM message` whose transports only count what they are given (so the
write system call, the same for any server, is left out), and one client calling send_message.
Per commit it times the worker's part (the reducer, subscription evaluation, building and queueing
the messages) and the event loop's part (handing them to the sessions, framing, the transport
writes), and compares the whole with a bare loop handing one prebuilt frame to every transport
(the least any server in Python can do per subscriber). Confirmed reads off (see fanout.py for
the end-to-end figures). Then the process's CPU per subscriber per commit, all threads, without
and with confirmed reads (each update held until the commit log's thread wrote its commit).

    python benchmarks/fanout_cost.py [--clients 1000] [--commits 200]
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
from spacetimedb.protocol import wire  # noqa: E402
from spacetimedb.protocol.client_frames import decode_client_frame  # noqa: E402
from spacetimedb.protocol.compression import Compression  # noqa: E402
from spacetimedb.server.tokens import Caller  # noqa: E402
from spacetimedb.server.ws_session import ClientSession  # noqa: E402


class CountingTransport:
    """Takes every write and keeps only the count (no socket)."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


class Unpaused:
    _paused = False

    async def _drain_helper(self) -> None:
        pass


class NoSocket:
    async def close(self, **_kw: Any) -> None:
        pass


def _call(request_id: int, text: str) -> bytes:
    return b"\x03" + struct.pack("<I", request_id) + b"\x00" + wire.pack_str("send_message") + wire.pack_bytes(wire.pack_str(text))


def _subscribe() -> bytes:
    return b"\x00" + struct.pack("<III", 1, 1, 1) + wire.pack_str("SELECT * FROM message")


async def run(clients: int, commits: int, confirmed: bool) -> tuple[float, float, float, float]:
    """(worker s, loop s, bare write loop s, process CPU s) over all commits."""
    with tempfile.TemporaryDirectory() as tmp:
        ident = identity_from_claims("localhost", "bench-db")
        info = DatabaseInfo("chat", ident, ident)
        spec = BackendSpec(info, ROOT / "examples" / "quickstart_chat.py", Path(tmp), fresh=True)
        backend = HostBackend(spec, fsync=FsyncPolicy.off())
        db = HostedDatabase(info, backend)
        sessions = []
        for i in range(clients + 1):
            caller = Caller(identity_from_claims("localhost", f"c{i}"), "localhost", f"c{i}", (), "e30.e30.x")
            s = ClientSession(NoSocket(), db, caller, i + 1, v3=True, compression=Compression.NONE,  # type: ignore[arg-type]
                              confirmed=confirmed, transport=CountingTransport(), protocol=Unpaused())
            db.subscribers.add(s)
            db.connect(s)
            sessions.append(s)
        for s in sessions[1:]:
            db.handle_all(s, decode_client_frame(_subscribe(), many=False))
        db.deliver_now()
        senders = [asyncio.get_running_loop().create_task(s._sender()) for s in sessions]
        await asyncio.sleep(0)
        sender = sessions[0]
        frame = b"\x82\x10" + bytes(16)
        subscribers = sessions[1:]
        transports = [s.transport for s in subscribers]
        for t in transports:
            t.writes = 0  # count the commits' updates only
        worker = loop = bare = 0.0
        cpu = time.process_time()
        for i in range(commits):
            t0 = time.perf_counter()
            db.handle_all(sender, decode_client_frame(_call(i, f"{i} hello"), many=False))
            t1 = time.perf_counter()
            db.deliver_now()
            await asyncio.sleep(0)  # a server without direct writes sends from per-client tasks
            await asyncio.sleep(0)
            if confirmed:  # released once the commit log's thread has written the commit
                deadline = time.monotonic() + 10
                while (db.confirmed_reads.holding() or subscribers[-1].pending()) and time.monotonic() < deadline:
                    await asyncio.sleep(0.0001)
            t2 = time.perf_counter()
            for t in transports:
                t.write(frame)
            t3 = time.perf_counter()
            worker, loop, bare = worker + t1 - t0, loop + t2 - t1, bare + t3 - t2
        cpu = time.process_time() - cpu - bare  # every thread's CPU, the bare loop apart
        delivered = sum(t.writes for t in transports) - commits * clients  # the bare loop's writes apart
        for task in senders:
            task.cancel()
        backend.close()
    if delivered != commits * clients and not confirmed:  # (confirmed: commits released together share frames)
        raise SystemExit(f"only {delivered} of {commits * clients} updates were delivered")
    return worker, loop, bare, cpu


def report(clients: int, commits: int) -> None:
    per = commits * clients
    worker, loop, bare, cpu = asyncio.run(run(clients, commits, confirmed=False))
    *_, cpu_confirmed = asyncio.run(run(clients, commits, confirmed=True))
    print(f"{clients} subscribers x {commits} commits, every update delivered")
    print(f"worker (reducer, evaluation, messages): {worker / per * 1e6:.2f} us per subscriber per commit")
    print(f"event loop (hand-over, framing, writes): {loop / per * 1e6:.2f} us per subscriber per commit")
    print(f"bare loop of transport writes: {bare / per * 1e6:.2f} us per subscriber")
    print(f"server fan-out / bare write loop (a method call per subscriber): {(worker + loop) / bare:.1f}x")
    print(f"process CPU per subscriber per commit: {cpu / per * 1e6:.2f} us; with confirmed reads "
          f"{cpu_confirmed / per * 1e6:.2f} us ({cpu_confirmed / cpu:.2f}x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--commits", type=int, default=200)
    opts = p.parse_args()
    report(opts.clients, opts.commits)


if __name__ == "__main__":
    main()
