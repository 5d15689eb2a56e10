"""A commit's shared update is handed from the worker to the loop as one entry with its list of
subscribers, and held once for all of them under confirmed reads (not once per subscriber); it
leaves only once its commit is durable, each client's messages in send order, clients without
confirmed reads at once; and a completed durability wait releases every commit already durable."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.server.test_shared_frames import FakeProtocol, FakeTransport

from spacetimedb.control.confirmed_reads import LOG_FAILED_CLOSE_REASON, ConfirmedReads
from spacetimedb.control.worker import DatabaseWorker
from spacetimedb.protocol.compression import Compression
from spacetimedb.server.tokens import Caller
from spacetimedb.server.ws_session import ClientSession


class _Db:
    def __init__(self, reads: ConfirmedReads) -> None:
        self.confirmed_reads = reads


class _Log:
    """A commit log as confirmed reads sees it: waiters we complete by hand, and its durable offset."""

    def __init__(self) -> None:
        self.waits: dict[int, asyncio.Future[None]] = {}
        self.durable = -1

    def waiter(self, offset: int) -> asyncio.Future[None]:
        fut = self.waits.get(offset)
        if fut is None:
            fut = self.waits[offset] = asyncio.get_running_loop().create_future()
        return fut

    def make_durable(self, offset: int, *, wake: int) -> None:
        self.durable = offset
        self.waits[wake].set_result(None)


def _setup() -> tuple[_Log, ConfirmedReads, DatabaseWorker]:
    log = _Log()
    reads = ConfirmedReads(log.waiter, "db")
    reads.durable_now = lambda: log.durable
    worker = DatabaseWorker("db", on_turn=lambda: None, next_wake=lambda: None, after_flush=reads.after_turn)
    worker.reads = reads
    return log, reads, worker


def _session(reads: ConfirmedReads, *, confirmed: bool = True) -> ClientSession:
    caller = Caller(identity=b"\x01" * 32, issuer="localhost", subject="s", audience=(), token="e30.e30.x")
    return ClientSession(None, _Db(reads), caller, 1, v3=True, compression=Compression.NONE,  # type: ignore[arg-type]
                         confirmed=confirmed, transport=FakeTransport(), protocol=FakeProtocol())


def _written(s: ClientSession) -> bytes:
    return b"".join(s.transport.writes)


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_shared_update_is_held_once_and_leaves_when_durable_in_order() -> None:
    async def main() -> None:
        log, reads, worker = _setup()
        a, b, c = (_session(reads) for _ in range(3))
        plain = _session(reads, confirmed=False)
        worker.send(a, b"\x04before", None)
        worker.send_shared([a, b, c, plain], b"\x04update", 5)
        worker.send(b, b"\x04after", None)
        worker.deliver_now()
        assert len(reads._held_lists) == 1 and c not in reads._held  # one hold for the commit
        assert b"update" in _written(plain)  # no confirmed reads: at once
        assert b"before" in _written(a) and b"update" not in _written(a)
        assert _written(b) == b"" and _written(c) == b""  # b's reply waits behind its update
        log.make_durable(5, wake=5)
        await _settle()
        for s in (a, b, c):
            assert b"update" in _written(s)
        assert _written(b).index(b"update") < _written(b).index(b"after")
        assert not reads._held_lists and not reads._held

    asyncio.run(main())


def test_a_completed_wait_releases_every_durable_commit_at_once() -> None:
    async def main() -> None:
        log, reads, worker = _setup()
        a = _session(reads)
        worker.send_shared([a], b"\x04first", 5)
        worker.deliver_now()  # starts the wait for 5
        worker.send_shared([a], b"\x04second", 6)
        worker.deliver_now()
        log.make_durable(6, wake=5)  # one fsync covered both; only the wait for 5 has completed yet
        await _settle()
        assert a.transport.writes and b"first" in _written(a) and b"second" in _written(a)
        assert len(a.transport.writes) == 1  # released together: one frame for both

    asyncio.run(main())


def test_a_forgotten_client_gets_nothing_of_the_turn() -> None:
    async def main() -> None:
        _, reads, worker = _setup()
        a, b = _session(reads, confirmed=False), _session(reads, confirmed=False)
        worker.send_shared([a, b], b"\x04update", None)
        worker.forget(a)
        worker.deliver_now()
        assert _written(a) == b"" and b"update" in _written(b)

    asyncio.run(main())


class _Failing:
    def __init__(self) -> None:
        self.failed: list[tuple[int, str]] = []

    def enqueue(self, message: bytes, tx_offset: int | None = None) -> bool:
        return True

    def flush(self) -> None:
        pass

    def fail(self, code: int, reason: str) -> None:
        self.failed.append((code, reason))


def test_a_failed_log_closes_every_client_held_by_a_shared_update() -> None:
    async def main() -> None:
        log, _, worker = _setup()
        subs: list[Any] = [_Failing(), _Failing()]
        worker.send_shared(subs, b"\x04update", 3)
        worker.deliver_now()
        log.waits[3].set_exception(OSError("disk gone"))
        await _settle()
        assert all(s.failed == [(1011, LOG_FAILED_CLOSE_REASON)] for s in subs)

    asyncio.run(main())


def test_the_callers_reply_is_written_before_the_subscribers_update() -> None:
    """A reducer call's reply does not wait behind the write to every other subscriber, with and
    without confirmed reads (goal 7: the latency a caller feels at 1,000 subscribers)."""
    from types import SimpleNamespace

    from spacetimedb.control import fanout
    from spacetimedb.control.backend import CallResult, CallStatus

    for durable in (False, True):

        async def main(durable: bool = durable) -> None:
            log, reads, worker = _setup()
            caller, *others = (_session(reads) for _ in range(4))
            order: list[ClientSession] = []
            for s in (caller, *others):
                s.transport.write = lambda data, s=s: order.append(s)  # type: ignore[attr-defined]
            shared = [b"\x00set"]
            result = CallResult(CallStatus.COMMITTED, 1, tx_offset=3, fanout={s: shared for s in (*others, caller)})
            if durable:
                log.durable, reads.durable_offset = 3, 3
            fanout.broadcast(worker.send, SimpleNamespace(failures=[]), result, caller, 9, worker.send_shared)  # type: ignore[arg-type]
            worker.deliver_now()
            if not durable:
                assert order == []
                log.make_durable(3, wake=3)
                await _settle()
            assert order[0] is caller and sorted(map(id, order[1:])) == sorted(map(id, others))

        asyncio.run(main())
