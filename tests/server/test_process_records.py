"""The records between the front and a database process (control/records.py): round trips, batching,
and hostile input, which must end in RecordError (the link ends), never in another exception."""

from __future__ import annotations

import asyncio
import pickle
import socket
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb.control import records
from spacetimedb.control.backend import CallResult, CallStatus, LogLine
from spacetimedb.control.records import (
    HEADER,
    TO_DATABASE,
    TO_FRONT,
    BatchWriter,
    Kind,
    RecordError,
    RecordReader,
    RecordTooLarge,
)

_kinds_to_front = st.sampled_from(sorted(TO_FRONT))
_record = st.tuples(_kinds_to_front, st.integers(0, 2**32 - 1), st.binary(max_size=300))


@given(st.lists(_record, max_size=20), st.lists(st.integers(1, 64), min_size=1, max_size=30))
@settings(max_examples=200, deadline=None)
def test_records_survive_any_split_of_the_stream(recs: list[tuple[Kind, int, bytes]], cuts: list[int]) -> None:
    stream = records.batch(recs)
    reader = RecordReader(TO_FRONT)
    got: list[tuple[Kind, int, bytes]] = []
    pos = 0
    i = 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        got += reader.feed(stream[pos : pos + step])
        pos += step
        i += 1
    reader.at_eof()
    assert got == [(Kind(k), c, p) for k, c, p in recs]


@given(st.binary(max_size=400))
@settings(max_examples=500, deadline=None)
def test_garbage_is_a_record_error_or_records_never_a_crash(data: bytes) -> None:
    for accepts in (TO_FRONT, TO_DATABASE):
        reader = RecordReader(accepts, max_bytes=1024)
        try:
            for kind, _conn, payload in reader.feed(data):
                _parse_as_front_would(kind, payload)
            reader.at_eof()
        except RecordError:
            pass


def _parse_as_front_would(kind: Kind, payload: bytes) -> None:
    if kind is Kind.SEND:
        records.parse_send(payload)
    elif kind is Kind.FAIL:
        records.parse_fail(payload)
    elif kind is Kind.HANDLED:
        records.parse_u32(payload, "HANDLED")
    elif kind is Kind.DURABLE:
        records.parse_i64(payload, "DURABLE")
    elif kind in (Kind.REPLY, Kind.LOG):
        records.loads(records.parse_id(payload, kind.name)[1])
    elif kind is Kind.LOG_FAILED:
        records.parse_text(payload, "LOG_FAILED")


def test_a_length_over_the_cap_is_refused_before_it_is_buffered() -> None:
    reader = RecordReader(TO_FRONT, max_bytes=100)
    with pytest.raises(RecordError, match="over the 100 byte limit"):
        reader.feed(HEADER.pack(101, Kind.SEND, 0))


def test_a_kind_the_peer_may_not_send_is_refused() -> None:
    with pytest.raises(RecordError, match="not accepted"):
        RecordReader(TO_FRONT).feed(records.record(Kind.FRAME, 1, b"x"))  # only the front sends FRAME
    with pytest.raises(RecordError, match="not accepted"):
        RecordReader(TO_DATABASE).feed(records.record(Kind.REPLY, 0, b"x"))
    with pytest.raises(RecordError, match="not accepted"):
        RecordReader(TO_FRONT).feed(HEADER.pack(0, 250, 0))


def test_a_stream_cut_inside_a_record_is_an_error_at_eof() -> None:
    reader = RecordReader(TO_FRONT)
    assert reader.feed(records.record(Kind.HANDLED, 3, records.u32_payload(2))[:-1]) == []
    with pytest.raises(RecordError, match="inside a record"):
        reader.at_eof()


@given(st.one_of(st.none(), st.integers(0, 2**62)), st.lists(st.integers(0, 2**32 - 1), max_size=50), st.binary(max_size=200))
def test_send_payload_round_trip(offset: int | None, conns: list[int], message: bytes) -> None:
    assert records.parse_send(records.send_payload(offset, conns, message)) == (offset, tuple(conns), message)


def test_send_payload_that_lies_about_its_recipients_is_refused() -> None:
    payload = records.send_payload(5, [1, 2, 3], b"m")
    with pytest.raises(RecordError):
        records.parse_send(payload[:16])  # says 3 clients, holds one
    with pytest.raises(RecordError):
        records.parse_send(b"\x00" * 4)
    with pytest.raises(RecordError):
        records.parse_send(records.send_payload(None, [], b"")[:0] + (-5).to_bytes(8, "little", signed=True) + b"\0\0\0\0")


def test_fail_and_fixed_payloads_are_checked() -> None:
    assert records.parse_fail(records.fail_payload(1011, "gone")) == (1011, "gone")
    with pytest.raises(RecordError):
        records.parse_fail(b"\x01")
    with pytest.raises(RecordError):
        records.parse_fail(b"\x00\x00bad code")
    with pytest.raises(RecordError):
        records.parse_fail(records.fail_payload(1011, "") + b"\xff\xfe")
    with pytest.raises(RecordError):
        records.parse_u32(b"\x01\x02", "HANDLED")
    with pytest.raises(RecordError):
        records.parse_i64(b"\x01", "DURABLE")
    with pytest.raises(RecordError):
        records.parse_id(b"\x01", "REPLY")


def test_pickled_replies_allow_only_plain_data() -> None:
    value = ("ok", CallResult(CallStatus.COMMITTED, 5, tx_offset=3), [LogLine("Info", 1, "m")], {"a": [1, 2.5, None]})
    assert records.loads(records.dumps(value)) == value

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    with pytest.raises(RecordError, match="not plain data"):
        records.loads(pickle.dumps(Evil()))
    with pytest.raises(RecordError, match="not plain data"):
        records.loads(pickle.dumps(RecordReader))  # a class, not data
    with pytest.raises(RecordError, match="does not decode"):
        records.loads(records.dumps(value)[:-3])


def test_a_record_over_the_cap_is_not_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 10)
    with pytest.raises(RecordTooLarge):
        records.record(Kind.SEND, 0, b"x" * 11)


def test_the_batch_writer_sends_one_write_per_loop_iteration() -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        loop = asyncio.get_running_loop()
        got = bytearray()
        done = asyncio.Event()

        class Sink(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                got.extend(data)
                if len(got) >= 40 * (HEADER.size + 4):
                    done.set()

        transport, _ = await loop.create_unix_connection(asyncio.Protocol, sock=a)
        rtransport, _ = await loop.create_unix_connection(Sink, sock=b)
        writer = BatchWriter(transport, loop)  # type: ignore[arg-type]
        for i in range(40):
            writer.add(Kind.HANDLED, i, records.u32_payload(1))
        await asyncio.wait_for(done.wait(), 5)
        assert writer.records == 40 and writer.batches == 1
        got_records = RecordReader(TO_FRONT).feed(bytes(got))
        assert [c for _, c, _ in got_records] == list(range(40))
        transport.close()
        rtransport.close()

    asyncio.run(main())


def test_the_batch_writer_holds_a_batch_until_forced() -> None:
    """The database process holds its batch while a durability wait is armed; the DURABLE record's
    flush (forced) writes it with everything collected meanwhile, in order."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport = _Transport()
        writer = BatchWriter(transport, loop)  # type: ignore[arg-type]
        held = True
        writer.hold = lambda: held
        writer.add(Kind.SEND, 0, records.send_payload(3, [1], b"reply"))
        await asyncio.sleep(0)
        writer.add(Kind.HANDLED, 1, records.u32_payload(1))
        for _ in range(3):
            await asyncio.sleep(0)
        assert transport.written == b"" and writer.batches == 0
        writer.add(Kind.DURABLE, 0, records.i64_payload(3))
        writer.flush(force=True)
        assert writer.batches == 1
        got = RecordReader(TO_FRONT).feed(bytes(transport.written))
        assert [k for k, _, _ in got] == [Kind.SEND, Kind.HANDLED, Kind.DURABLE]
        held = False
        writer.add(Kind.HANDLED, 2, records.u32_payload(1))
        await asyncio.sleep(0)
        assert writer.batches == 2

    asyncio.run(main())



def test_a_thread_writes_a_held_batch_with_its_durable_record_in_order() -> None:
    """The database process's commit-log thread writes the held replies and their DURABLE record
    itself (`write_from_thread`), without the loop; when the transport still has bytes queued, its
    batch waits behind them for a flush on the loop, so the order on the socket is kept."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        transport, _ = await loop.create_unix_connection(asyncio.Protocol, sock=a)
        writer = records.SharedBatchWriter(transport, loop)  # type: ignore[arg-type]
        writer.hold = lambda: True
        writer.add(Kind.SEND, 0, records.send_payload(3, [1], b"reply"))
        writer.add(Kind.HANDLED, 1, records.u32_payload(1))
        await asyncio.sleep(0)
        assert writer.batches == 0  # held

        def durable(offset: int) -> None:
            with writer.lock:
                writer.write_from_thread(Kind.DURABLE, 0, records.i64_payload(offset))

        await asyncio.to_thread(durable, 3)
        b.setblocking(False)
        got = RecordReader(TO_FRONT).feed(b.recv(1 << 16))  # written by the thread: no loop turn needed
        assert [k for k, _, _ in got] == [Kind.SEND, Kind.HANDLED, Kind.DURABLE]

        # The socket is full: the transport queues the rest of a big record; the thread's batch goes after it.
        writer.hold = None
        writer.add(Kind.SEND, 0, records.send_payload(4, [1], b"x" * 1_000_000))
        await asyncio.sleep(0)
        assert transport.get_write_buffer_size() > 0
        writer.add(Kind.HANDLED, 1, records.u32_payload(1))
        writer.hold = lambda: True
        await asyncio.to_thread(durable, 4)
        reader = RecordReader(TO_FRONT)
        kinds: list[Kind] = []
        for _ in range(2000):
            try:
                kinds += [k for k, _, _ in reader.feed(b.recv(1 << 16))]
            except BlockingIOError:
                await asyncio.sleep(0.005)
            if len(kinds) == 3:
                break
        assert kinds == [Kind.SEND, Kind.HANDLED, Kind.DURABLE]
        transport.close()
        b.close()

    asyncio.run(main())


class _Transport:
    """A transport that keeps what is written (the database process's side, without a socket)."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> Any:
        return self.sock if name == "socket" else None

    sock: socket.socket | None = None


_to_database = st.one_of(
    st.binary(max_size=200),
    st.lists(
        st.tuples(st.sampled_from(sorted(TO_DATABASE)), st.integers(0, 5), st.binary(max_size=60)), max_size=6
    ).map(records.batch),
    st.tuples(st.integers(0, 2**32 - 1), st.binary(max_size=60)).map(
        lambda t: records.record(Kind.REQUEST, 0, records.id_payload(t[0], t[1]))
    ),
    st.tuples(
        st.integers(0, 2**32 - 1),
        st.sampled_from(["call_reducer", "admit", "stop", "swap", "no_such_op", ""]),
        st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=3),
    ).map(lambda t: records.record(Kind.REQUEST, 0, records.id_payload(t[0], records.dumps((t[1], tuple(t[2])))))),
)


@given(st.lists(_to_database, min_size=1, max_size=4))
@settings(max_examples=150, deadline=None)
def test_the_database_process_survives_any_bytes_from_the_front(chunks: list[bytes]) -> None:
    """Whatever the front's side of the socket carries, the database process either answers (a
    request before CONFIG is refused) or ends the link; `data_received` never raises."""
    from spacetimedb.control.database_process import DatabaseProcessMain

    async def main() -> None:
        process = DatabaseProcessMain(asyncio.get_running_loop())
        transport = _Transport()
        process.connection_made(transport)  # type: ignore[arg-type]
        for chunk in chunks:
            process.data_received(chunk)
        for _ in range(3):
            await asyncio.sleep(0)
        assert process.db is None  # no CONFIG was valid: nothing was started
        for kind, _conn, payload in RecordReader(TO_FRONT).feed(bytes(transport.written)):
            assert kind is Kind.REPLY
            outcome = records.loads(records.parse_id(payload, "REPLY")[1])
            assert outcome[0] == "err"

    asyncio.run(main())


class _FakeBackend:
    """A database whose commit log reports durability when the test says (`call_when_durable`)."""

    def __init__(self) -> None:
        self.waits: list[tuple[int, object]] = []
        self.durable: int | None = None

    def durable_offset_waiter(self) -> object:
        backend = self

        class Waiter:
            def __call__(self, offset: int) -> object:
                raise AssertionError("the direct callback is used")

            def call_when_durable(self, offset: int, callback: object) -> None:
                backend.waits.append((offset, callback))

        return Waiter()

    def durable_offset_now(self) -> int | None:
        return self.durable


class _FakeDatabase:
    def __init__(self) -> None:
        self.backend = _FakeBackend()
        self.failure: str | None = None
        self.stopped = asyncio.Event()
        self.frames: list[object] = []

    def submit_frame(self, sub: object, messages: object) -> None:
        self.frames.append(messages)


def _process_serving_a_fake_database() -> tuple[Any, _Transport, _FakeDatabase, Any]:
    """A database process on the running loop, its link a recording transport, its database a
    fake: (process, transport, database, a RemoteSubscriber for connection 1)."""
    from spacetimedb.control.database_process import DatabaseProcessMain, RemoteSubscriber
    from spacetimedb.module.auth import AuthCtx

    process = DatabaseProcessMain(asyncio.get_running_loop())
    transport = _Transport()
    process.connection_made(transport)  # type: ignore[arg-type]
    db = _FakeDatabase()
    process.db = db  # type: ignore[assignment]
    assert process.out is not None
    return process, transport, db, RemoteSubscriber(process.out, 1, b"\x01" * 32, 1, AuthCtx.internal(), False)


def test_the_database_process_sends_a_commits_replies_with_its_durable_record() -> None:
    """Replies for a commit are held in the database process until the commit log says it is
    durable, then leave with their DURABLE record in one write (one wake-up of the front)."""

    async def main() -> None:
        process, transport, db, sub = _process_serving_a_fake_database()
        sub.enqueue(b"reply", 4)
        sub.handled(1)
        for _ in range(3):
            await asyncio.sleep(0)
        assert transport.written == b"" and [o for o, _ in db.backend.waits] == [4]
        sub.enqueue(b"later", 5)  # a newer commit while the wait is armed: held too
        await asyncio.sleep(0)
        assert transport.written == b""
        db.backend.durable = 4
        db.backend.waits.pop()[1](None)  # type: ignore[operator]
        assert process.out._writer.batches == 1
        got = RecordReader(TO_FRONT).feed(bytes(transport.written))
        assert [k for k, _, _ in got] == [Kind.SEND, Kind.HANDLED, Kind.SEND, Kind.DURABLE]
        assert records.parse_i64(got[-1][2], "DURABLE") == 4
        assert [o for o, _ in db.backend.waits] == [5]  # armed again for the newer one
        # A failed wait releases what is held (the front holds the replies; LOG_FAILED follows).
        sub.enqueue(b"more", 6)
        await asyncio.sleep(0)
        db.backend.waits.pop()[1](RuntimeError("log failed"))  # type: ignore[operator]
        assert process.out._writer.batches == 2

    asyncio.run(main())



class _FakeLog:
    """A commit log that tells its listeners (`add_durable_listener`) when the test says."""

    def __init__(self) -> None:
        self.listeners: list[Any] = []
        self.failure_listeners: list[Any] = []

    def add_durable_listener(self, callback: Any) -> None:
        self.listeners.append(callback)

    def add_failure_listener(self, callback: Any) -> None:
        self.failure_listeners.append(callback)


def test_the_commit_logs_thread_writes_the_replies_it_makes_durable() -> None:
    """With a commit log that has listeners, the database process arms no wait on its loop: the
    log's writer thread, right after its fsync, writes the held replies and their DURABLE record."""

    async def main() -> None:
        process, transport, db, sub = _process_serving_a_fake_database()
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        transport.sock = a
        db.backend.durability = log = _FakeLog()  # type: ignore[attr-defined]
        process._listen(db)
        sub.enqueue(b"reply", 4)
        sub.handled(1)
        await asyncio.sleep(0)
        sub.send_shared(b"update", 4)  # collected while held: it still reaches the batch this iteration
        for _ in range(3):
            await asyncio.sleep(0)
        assert transport.written == b"" and db.backend.waits == []  # held; nothing armed on the loop
        await asyncio.to_thread(log.listeners[0], 4)
        got = RecordReader(TO_FRONT).feed(b.recv(1 << 16))
        assert [k for k, _, _ in got] == [Kind.SEND, Kind.HANDLED, Kind.SEND, Kind.DURABLE]
        assert records.parse_i64(got[-1][2], "DURABLE") == 4
        # Durable before its reply was sent: the reply leaves at once, with a DURABLE record.
        await asyncio.to_thread(log.listeners[0], 6)  # nothing waits for it: nothing written
        sub.enqueue(b"x", 5)
        for _ in range(3):
            await asyncio.sleep(0)
        got = RecordReader(TO_FRONT).feed(bytes(transport.written))
        assert [k for k, _, _ in got] == [Kind.SEND, Kind.DURABLE]
        assert records.parse_i64(got[-1][2], "DURABLE") == 6
        # The log failed: what is held leaves (the front fails it; LOG_FAILED follows).
        transport.written.clear()
        sub.enqueue(b"y", 7)
        for _ in range(3):
            await asyncio.sleep(0)
        assert transport.written == b""
        await asyncio.to_thread(log.failure_listeners[0], RuntimeError("log failed"))
        for _ in range(3):
            await asyncio.sleep(0)
        assert [k for k, _, _ in RecordReader(TO_FRONT).feed(bytes(transport.written))] == [Kind.SEND]
        a.close()
        b.close()

    asyncio.run(main())


def test_the_database_process_closes_a_client_whose_frame_does_not_decode() -> None:
    """The front only counts a frame; the database process decodes it and closes a malformed one's
    client with the front's own code and reason, serving nothing more from it."""

    async def main() -> None:
        process, transport, db, process.subs[1] = _process_serving_a_fake_database()
        good = b"\x02\x00\x00\x00\x00" + records.u32_payload(1) + b"a"  # OneOffQuery(0, "a")
        process.data_received(records.batch([(Kind.FRAME, 1, good), (Kind.FRAME, 1, b"\x09"), (Kind.FRAME, 1, good)]))
        await asyncio.sleep(0)
        assert len(db.frames) == 1
        got = RecordReader(TO_FRONT).feed(bytes(transport.written))
        assert [(k, c) for k, c, _ in got] == [(Kind.FAIL, 1)]
        assert records.parse_fail(got[0][2]) == (1011, "malformed message: unknown ClientMessage tag 9")

    asyncio.run(main())


class _ServedDatabase:
    """What a database process serves, recording what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def has_http_route(self, method: str, path: str) -> bool:
        self.asked.append(f"has_http_route {method} {path}")
        return True

    def __getattr__(self, name: str) -> Any:
        self.asked.append(name)
        raise AttributeError(name)


def test_a_database_process_refuses_an_operation_outside_its_table() -> None:
    """A REQUEST for anything but a table operation (a `HostedDatabase` method the table does not
    name, a private helper) is an invalid record: the link ends and nothing runs."""
    from spacetimedb.control.database_process import DatabaseProcessMain

    def serve(op: str, *args: object) -> tuple[Any, _Transport, _ServedDatabase]:
        async def main() -> tuple[Any, _Transport, _ServedDatabase]:
            process = DatabaseProcessMain(asyncio.get_running_loop())
            transport = _Transport()
            process.connection_made(transport)  # type: ignore[arg-type]
            db = _ServedDatabase()
            process.db = db  # type: ignore[assignment]
            process.data_received(records.record(Kind.REQUEST, 0, records.id_payload(7, records.dumps((op, args)))))
            for _ in range(3):
                await asyncio.sleep(0)
            return process, transport, db

        return asyncio.run(main())

    process, transport, db = serve("has_http_route", "GET", "/a")  # a table operation is answered
    assert not process.done.done() and db.asked == ["has_http_route GET /a"]
    reply = list(RecordReader(records.TO_FRONT).feed(bytes(transport.written)))
    assert [(k, records.loads(records.parse_id(p, "REPLY")[1])) for k, _, p in reply] == [(Kind.REPLY, ("ok", True))]
    for op in ("submit_frame", "call", "backend", "_stop", "__init__", "swap_module"):
        process, transport, db = serve(op)
        assert process.done.done(), op
        assert db.asked == [] and transport.written == b"", op
