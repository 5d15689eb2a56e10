"""Fan-out frames are built once: every session that gets the same messages writes the very same
frame bytes object to its transport, straight from its flush (no sender task in between), unless
something is queued ahead or the transport is paused (then the frame queues, in order)."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import brotli
import pytest

from spacetimedb.protocol.compression import Compression
from spacetimedb.server.send_budget import SendBudget
from spacetimedb.server.shared_frames import frame_header
from spacetimedb.server.tokens import Caller
from spacetimedb.server.ws_session import ClientSession


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.buffered = 0

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.buffered


class FakeProtocol:
    def __init__(self) -> None:
        self._paused = False

    async def _drain_helper(self) -> None:
        pass


class FakeDatabase:
    def __init__(self, durable: float = float("inf")) -> None:
        self.durable_offset = durable
        self.held: list[tuple[Any, int]] = []
        self._held_lists: list[Any] = []  # no shared message held (ConfirmedReads.claim)
        self.confirmed_reads = self  # what a session reads: durable_offset, hold

    def hold(self, sub: Any, offset: int) -> None:
        self.held.append((sub, offset))


def _session(db: FakeDatabase, *, v3: bool = True, compression: Compression = Compression.NONE,
             confirmed: bool = False, budget: SendBudget | None = None) -> ClientSession:
    caller = Caller(identity=b"\x01" * 32, issuer="localhost", subject="s", audience=(), token="e30.e30.x")
    return ClientSession(None, db, caller, 1, v3=v3, compression=compression, confirmed=confirmed,  # type: ignore[arg-type]
                         transport=FakeTransport(), protocol=FakeProtocol(), budget=budget)


def _run(fn: Any) -> Any:
    async def main() -> Any:
        return fn()

    return asyncio.run(main())


@pytest.mark.parametrize("v3", [True, False])
@pytest.mark.parametrize("compression", list(Compression))
def test_one_update_is_one_frame_object_for_every_subscriber(v3: bool, compression: Compression) -> None:
    update = b"\x04" + bytes(range(256)) * 8  # above the compression threshold
    other = b"\x04" + b"other" * 500

    def scenario() -> list[ClientSession]:
        db = FakeDatabase()
        sessions = [_session(db, v3=v3, compression=compression) for _ in range(5)]
        for s in sessions:
            s.enqueue(update, 7)
            s.flush()
        sessions[0].enqueue(other, 8)
        sessions[0].flush()
        return sessions

    sessions = _run(scenario)
    first = sessions[0].transport.writes[0]
    for s in sessions:
        assert s.transport.writes[0] is first  # the same object, framed once
        assert not s._frames
    # The frame is the message as the client decodes it: header, compression tag, body.
    payload = _payload(first)
    tag, body = payload[0], payload[1:]
    assert tag == {Compression.NONE: 0, Compression.GZIP: 2, Compression.BROTLI: 1}[compression]
    if compression is Compression.GZIP:
        body = zlib.decompress(body, 31)
    elif compression is Compression.BROTLI:
        body = brotli.decompress(body)
    assert body == update
    assert sessions[0].transport.writes[1] is not first


def _payload(frame: bytes) -> bytes:
    """The payload of one whole unmasked binary frame (RFC 6455 5.2)."""
    assert frame[0] == 0x82
    length = frame[1] & 0x7F
    start = 2 if length < 126 else 4 if length == 126 else 10
    return frame[start:]


def test_paused_transport_queues_the_frame_and_keeps_the_order() -> None:
    def scenario() -> ClientSession:
        s = _session(FakeDatabase())
        s.protocol._paused = True
        s.enqueue(b"\x04first")
        s.flush()
        s.protocol._paused = False
        s.enqueue(b"\x04second")
        s.flush()  # something is queued ahead: this one queues behind it
        return s

    s = _run(scenario)
    assert s.transport.writes == []
    assert list(s._frames) == [b"\x00\x04first", b"\x00\x04second"]


def test_confirmed_reads_hold_the_frame_until_durable() -> None:
    def scenario() -> tuple[FakeDatabase, ClientSession]:
        db = FakeDatabase(durable=4)
        s = _session(db, confirmed=True)
        s.enqueue(b"\x04update", 5)
        s.flush()
        assert s.transport.writes == [] and db.held == [(s, 5)]
        db.durable_offset = 5
        s.flush()
        return db, s

    _db, s = _run(scenario)
    assert s.transport.writes == [frame_header(8) + b"\x00\x04update"]


def test_a_v3_frame_of_several_commits_is_shared_too() -> None:
    a, b = b"\x04commit-a", b"\x04commit-b"

    def scenario() -> list[ClientSession]:
        db = FakeDatabase(durable=0)
        sessions = [_session(db, confirmed=True) for _ in range(3)]
        for s in sessions:
            s.enqueue(a, 1)
            s.enqueue(b, 2)
            s.flush()  # held: both wait for durability
        db.durable_offset = 2
        for s in sessions:
            s.flush()  # released together: one frame of both commits, in order
        return sessions

    sessions = _run(scenario)
    frame = sessions[0].transport.writes[0]
    assert frame == frame_header(1 + len(a) + len(b)) + b"\x00" + a + b
    assert all(s.transport.writes == [frame] and s.transport.writes[0] is frame for s in sessions)


def test_bytes_the_transport_keeps_count_for_the_budget() -> None:
    budget = SendBudget(10**9)

    def scenario() -> ClientSession:
        s = _session(FakeDatabase(), budget=budget)
        budget.add(s)
        s.transport.buffered = 1000
        s.enqueue(b"\x04update")
        s.flush()
        return s

    s = _run(scenario)
    assert s.transport.writes and budget.total == 1000 and s.backlog() == 1000


def test_v2_sends_one_frame_per_message_in_one_write() -> None:
    a, b = b"\x04commit-a", b"\x06reply"

    def scenario() -> ClientSession:
        s = _session(FakeDatabase(), v3=False)
        s.enqueue(a)
        s.enqueue(b)
        s.flush()
        return s

    s = _run(scenario)
    assert s.transport.writes == [frame_header(1 + len(a)) + b"\x00" + a + frame_header(1 + len(b)) + b"\x00" + b]


def test_a_transport_that_fails_a_write_does_not_stop_the_others() -> None:
    class Broken(FakeTransport):
        def write(self, data: bytes) -> None:
            raise ConnectionResetError("gone")

    def scenario() -> list[ClientSession]:
        db = FakeDatabase()
        sessions = [_session(db) for _ in range(3)]
        sessions[1].transport = Broken()
        for s in sessions:
            s.enqueue(b"\x04update")
        for s in sessions:
            s.flush()  # as the worker's hand-over flushes every touched client in one loop
        return sessions

    sessions = _run(scenario)
    assert sessions[0].transport.writes == sessions[2].transport.writes == [frame_header(8) + b"\x00\x04update"]
