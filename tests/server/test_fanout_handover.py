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


def test_a_clients_own_message_sent_after_a_held_shared_one_leaves_after_it() -> None:
    """The shared pass at release must not overtake a client's own message sent after the shared
    one (it takes the shared one into its own queue), nor release anything before its commit is
    durable, nor send the shared one twice."""

    async def main() -> None:
        log, reads, worker = _setup()
        a, b, c = (_session(reads) for _ in range(3))
        worker.send_shared([a, b, c], b"\x04first", 5)
        worker.deliver_now()
        worker.send(b, b"\x04own6", 6)  # b's reply of the next commit
        worker.send(c, b"\x04nooffset", None)  # e.g. a subscription's rows: no commit of its own
        worker.deliver_now()
        worker.send_shared([a, b, c], b"\x04second", 6)
        worker.deliver_now()
        assert all(_written(s) == b"" for s in (a, b, c))  # nothing before its commit is durable
        log.make_durable(5, wake=5)
        await _settle()
        assert b"first" in _written(a) and b"second" not in _written(a)
        assert b"first" in _written(b) and b"own6" not in _written(b)  # its commit (6) is not durable
        assert _written(c).index(b"first") < _written(c).index(b"nooffset") and b"second" not in _written(c)
        log.make_durable(6, wake=6)
        await _settle()
        for s, own in ((a, None), (b, b"own6"), (c, b"nooffset")):
            out = _written(s)
            assert out.count(b"first") == 1 and out.count(b"second") == 1
            order = [out.index(b"first"), *([out.index(own)] if own else []), out.index(b"second")]
            assert order == sorted(order), (out, own)
        assert not reads.holding()

    asyncio.run(main())


def test_a_slow_client_gets_the_shared_frame_through_its_queue_and_it_counts() -> None:
    """At release, a client whose transport is not keeping up is not written to: the frame waits in
    its queue behind what it holds, counted for its cap and the server's send budget."""

    async def main() -> None:
        log, reads, worker = _setup()
        fast, slow = _session(reads), _session(reads)
        slow.protocol._paused = True  # type: ignore[attr-defined]
        worker.send_shared([fast, slow], b"\x04update", 5)
        worker.deliver_now()
        log.make_durable(5, wake=5)
        await _settle()
        assert b"update" in _written(fast)
        assert _written(slow) == b"" and slow.backlog() > 0 and slow._charged == slow.backlog()
        assert b"update" in b"".join(slow._frames)

    asyncio.run(main())


def test_the_database_process_front_hands_a_shared_update_over_in_order() -> None:
    """With SPACETIMEDB_DATABASE_PROCESSES=1 a commit's update crosses once with its recipients and
    goes through the same shared pass in the front: held until DURABLE covers it, and a client's own
    message that crossed after it leaves after it."""
    from types import SimpleNamespace

    from spacetimedb.control import records
    from spacetimedb.control.hosted_database import DatabaseInfo
    from spacetimedb.control.process_database import DatabaseProcess, ProcessOptions, _Link

    async def main() -> None:
        spec = SimpleNamespace(info=DatabaseInfo("x", b"\x01" * 32, b"\x02" * 32))
        db = DatabaseProcess(spec, ProcessOptions())
        link = _Link(SimpleNamespace(), SimpleNamespace(), SimpleNamespace())  # type: ignore[arg-type]
        db._link = link
        db.confirmed_reads.rebind(link.durability.wait)
        db.confirmed_reads.durable_now = link.durability.now
        a, b = _session(db.confirmed_reads), _session(db.confirmed_reads)
        plain = _session(db.confirmed_reads, confirmed=False)
        link.conns.update({1: a, 2: b, 3: plain})  # type: ignore[dict-item]
        K = records.Kind
        db._received(link, [(K.SEND, 0, records.send_payload(5, [1, 2, 3], b"\x04update")),
                            (K.SEND, 0, records.send_payload(None, [2], b"\x04own"))])
        await _settle()
        assert _written(a) == b"" and _written(b) == b"" and b"update" in _written(plain)
        db._received(link, [(K.DURABLE, 0, records.i64_payload(5))])
        await _settle()
        assert b"update" in _written(a)
        assert _written(b).index(b"update") < _written(b).index(b"own") and _written(b).count(b"update") == 1

    asyncio.run(main())


def test_the_database_process_front_writes_the_callers_reply_before_the_shared_update() -> None:
    from types import SimpleNamespace

    from spacetimedb.control import records
    from spacetimedb.control.hosted_database import DatabaseInfo
    from spacetimedb.control.process_database import DatabaseProcess, ProcessOptions, _Link

    async def main() -> None:
        spec = SimpleNamespace(info=DatabaseInfo("x", b"\x01" * 32, b"\x02" * 32))
        db = DatabaseProcess(spec, ProcessOptions())
        link = _Link(SimpleNamespace(), SimpleNamespace(), SimpleNamespace())  # type: ignore[arg-type]
        db._link = link
        caller, *others = (_session(db.confirmed_reads, confirmed=False) for _ in range(3))
        order: list[ClientSession] = []
        for i, s in enumerate((caller, *others)):
            s.transport.write = lambda data, s=s: order.append(s)  # type: ignore[attr-defined]
            link.conns[i + 1] = s  # type: ignore[assignment]
        K = records.Kind
        db._received(link, [(K.SEND, 0, records.send_payload(None, [1], b"\x04reply")),
                            (K.SEND, 0, records.send_payload(None, [2, 3], b"\x04update"))])
        assert order[0] is caller and sorted(map(id, order[1:])) == sorted(map(id, others))

    asyncio.run(main())


def test_the_release_pass_writes_idle_sessions_and_sends_the_others_their_careful_way() -> None:
    """The shared pass at release (`ClientSession.shared_pass`): an idle session gets the one shared
    frame with one write; a session with something queued, a paused transport, another compression
    or another kind of subscriber in the list gets it its own way, in order; bytes the transport
    kept are counted for the caps."""

    class _Other:
        confirmed = True

        def __init__(self, confirmed: bool = True) -> None:
            self.confirmed = confirmed
            self.got: list[bytes] = []
            self.offsets: list[int | None] = []

        def send_shared(self, message: bytes, tx_offset: int | None = None, flush: bool = True) -> None:
            self.got.append(message)
            self.offsets.append(tx_offset)

        def flush(self) -> None:
            pass

    async def main() -> None:
        log, reads, worker = _setup()
        idle, queued, paused, keeps = (_session(reads) for _ in range(4))
        caller = Caller(identity=b"\x01" * 32, issuer="localhost", subject="s", audience=(), token="e30.e30.x")
        gzip = ClientSession(None, _Db(reads), caller, 1, v3=True, compression=Compression.GZIP,  # type: ignore[arg-type]
                             confirmed=True, transport=FakeTransport(), protocol=FakeProtocol())
        other = _Other()
        worker.send(queued, b"\x04own", 6)  # waits for a later commit: the update must queue behind it
        worker.deliver_now()
        paused.protocol._paused = True  # type: ignore[attr-defined]
        keeps.transport.buffered = 100  # type: ignore[attr-defined]
        worker.send_shared([other, idle, queued, paused, keeps, gzip], b"\x04update", 5)
        worker.deliver_now()
        assert all(_written(s) == b"" for s in (idle, queued, paused, keeps, gzip)) and other.got == []
        log.durable = 5
        reads._release(5)  # (the waiter is for commit 6: as if the log reported 5 durable first)
        assert other.got == [b"\x04update"]
        assert idle.transport.writes == keeps.transport.writes  # type: ignore[attr-defined]  # the one frame
        assert len(idle.transport.writes) == 1 and idle.transport.writes[0].endswith(b"\x00\x04update")  # type: ignore[attr-defined]
        assert keeps._charged == 100 == keeps.backlog()
        assert idle._charged == 0
        assert _written(queued) == b"" and queued.pending()  # behind its own message (commit 6)
        assert _written(paused) == b"" and b"update" in b"".join(paused._frames) and paused._charged > 0
        assert len(gzip.transport.writes) == 1  # type: ignore[attr-defined]
        log.make_durable(6, wake=6)
        await _settle()
        out = _written(queued)
        assert out.index(b"own") < out.index(b"update")
        # Not waited for (no confirmed reads): sent at once, another kind of subscriber with its offset.
        plain, forwarded = _session(reads, confirmed=False), _Other(confirmed=False)
        worker.send_shared([plain, forwarded], b"\x04later", 9)
        worker.deliver_now()
        assert b"later" in _written(plain) and forwarded.got == [b"\x04later"] and forwarded.offsets == [9]

    asyncio.run(main())


def test_a_lone_reply_is_held_until_durable_and_flushed_once() -> None:
    """A turn's one reply to one client (`Subscriber.deliver`, the unpipelined call's path): under
    confirmed reads it waits for its commit, held without a flush, and leaves in the one flush of
    its release; in order behind whatever that client was sent before."""

    async def main() -> None:
        log, reads, worker = _setup()
        a = _session(reads)
        flushes = 0
        flush = a.flush

        def counted() -> None:
            nonlocal flushes
            flushes += 1
            flush()

        a.flush = counted  # type: ignore[method-assign]
        worker.send(a, b"\x04reply", 5)
        worker.deliver_now()
        assert _written(a) == b"" and a in reads._held and 5 in log.waits  # held, its wait started
        assert flushes == 0
        log.make_durable(5, wake=5)
        await _settle()
        assert b"reply" in _written(a)
        assert len(a.transport.writes) == 1 and flushes == 1 and not reads._held

        # Already durable, or a client without confirmed reads: written at once.
        worker.send(a, b"\x04old", 4)
        worker.deliver_now()
        assert b"old" in a.transport.writes[-1]
        plain = _session(reads, confirmed=False)
        worker.send(plain, b"\x04now", 9)
        worker.deliver_now()
        assert b"now" in _written(plain)

    asyncio.run(main())


def test_a_lone_reply_keeps_its_place_behind_held_messages() -> None:
    """A lone reply to a client that a held shared update or a held reply waits in goes behind
    them: nothing of it leaves before what was sent to that client first."""

    async def main() -> None:
        log, reads, worker = _setup()
        a, b = _session(reads), _session(reads)
        worker.send_shared([a, b], b"\x04update", 5)
        worker.deliver_now()
        worker.send(a, b"\x04reply", None)  # no commit of its own (e.g. a query's answer)
        worker.deliver_now()
        assert _written(a) == b"" and _written(b) == b""
        worker.send(b, b"\x04first", 6)
        worker.deliver_now()
        worker.send(b, b"\x04second", None)
        worker.deliver_now()
        assert _written(b) == b""
        log.make_durable(5, wake=5)
        await _settle()
        assert _written(a).index(b"update") < _written(a).index(b"reply")
        assert b"update" in _written(b) and b"first" not in _written(b)  # `first` waits for 6
        log.make_durable(6, wake=6)
        await _settle()
        got = _written(b)
        assert got.index(b"update") < got.index(b"first") < got.index(b"second")
        assert not reads._held and not reads._held_lists

    asyncio.run(main())


def test_a_lone_reply_to_a_closed_client_is_dropped() -> None:
    async def main() -> None:
        _, reads, worker = _setup()
        a = _session(reads)
        a._closing = True  # closed for a backlog or a bad message: nothing more leaves
        worker.send(a, b"\x04reply", None)
        worker.deliver_now()
        worker.send(a, b"\x04reply", 5)
        worker.deliver_now()
        assert _written(a) == b"" and a not in reads._held

    asyncio.run(main())
