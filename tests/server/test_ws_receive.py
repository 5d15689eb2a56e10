"""The receive path (server/ws_receive.py): binary messages go from aiohttp's parser straight to the
session; control frames, fragments, bad frames and the heartbeat behave as aiohttp's; a client with
too many messages unhandled is paused, not dropped."""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path

import aiohttp
import pytest

from spacetimedb.protocol.wire import pack_str
from spacetimedb.server import ws_routes, ws_session
from spacetimedb.server.app import Server
from spacetimedb.server.ws_receive import SessionWebSocket, _DirectQueue
from spacetimedb.server.ws_routes import SESSIONS_KEY

from .harness import RawClient, call, raw_ws_upgrade, run_scenario
from .server_messages import decode_frame

CONTINUATION, BINARY, TEXT, CLOSE, PING, PONG = 0x0, 0x2, 0x1, 0x8, 0x9, 0xA


class Raw:
    """A WebSocket client over a bare TCP stream: any frame, fragmented or broken, can be sent."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Raw:
        return cls(*await raw_ws_upgrade(port))

    @staticmethod
    def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
        mask = os.urandom(4)
        first = (0x80 if fin else 0) | rsv | opcode
        n = len(payload)
        if n < 126:
            head = bytes([first, 0x80 | n])
        elif n < 65536:
            head = bytes([first, 0x80 | 126]) + struct.pack("!H", n)
        else:
            head = bytes([first, 0x80 | 127]) + struct.pack("!Q", n)
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    async def send(self, *frames: bytes) -> None:
        self.writer.write(b"".join(frames))
        await self.writer.drain()

    async def read(self, timeout: float = 10) -> tuple[int, bytes]:
        """The next whole frame from the server: (opcode, payload); (-1, b"") at EOF."""
        try:
            head = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        except asyncio.IncompleteReadError:
            return -1, b""
        n = head[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        assert head[0] & 0x80, "the server sends whole frames here"
        return head[0] & 0x0F, await self.reader.readexactly(n)

    async def message(self) -> dict[str, object]:
        opcode, payload = await self.read()
        assert opcode == BINARY, (opcode, payload)
        [msg] = decode_frame(payload)
        return msg

    async def expect_close(self, code: int, needle: str = "") -> None:
        while True:
            opcode, payload = await self.read()
            if opcode == CLOSE:
                assert struct.unpack("!H", payload[:2])[0] == code, payload
                assert needle in payload[2:].decode()
                return
            assert opcode in (BINARY, PING), (opcode, payload)

    def close(self) -> None:
        self.writer.close()


def test_binary_messages_are_handled_inside_data_received_with_the_pinned_aiohttp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the lean path: with another aiohttp, `_post_start` might no longer install our queue,
    and every message would go through `receive()` again (still correct, but slower)."""
    tasks: list[asyncio.Task[object] | None] = []
    real = ws_session.ClientSession._on_binary

    def spy(self: ws_session.ClientSession, data: bytes) -> None:
        tasks.append(asyncio.current_task())
        real(self, data)

    monkeypatch.setattr(ws_session.ClientSession, "_on_binary", spy)

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base)
            await c.next()
            [session] = server.app[SESSIONS_KEY]
            assert isinstance(session.ws, SessionWebSocket)
            assert isinstance(session.ws._reader, _DirectQueue)
            assert type(session.ws._parser).__module__.endswith("reader_c")  # aiohttp's compiled parser
            for i in range(5):
                await c.send(call(i, "add", pack_str(f"p{i}")))
                assert (await c.next())["request_id"] == i
            assert len(tasks) == 5 and tasks == [None] * 5  # called by the transport, not by a task

    run_scenario(tmp_path, scenario)


def test_fragments_pings_and_close_frames(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        c = await Raw.connect(server.port or 0)
        assert (await c.message())["type"] == "InitialConnection"
        whole = call(7, "add", pack_str("fragmented"))
        # A message in three fragments with a ping between them (RFC 6455 5.4 allows that).
        await c.send(
            Raw.frame(BINARY, whole[:5], fin=False),
            Raw.frame(PING, b"are you there"),
            Raw.frame(CONTINUATION, whole[5:9], fin=False),
            Raw.frame(CONTINUATION, whole[9:]),
        )
        assert await c.read() == (PONG, b"are you there")
        reply = await c.message()
        assert reply["type"] == "ReducerResult" and reply["request_id"] == 7
        # Messages sent back to back, before and after a pong nobody asked for, stay in order.
        await c.send(
            Raw.frame(BINARY, call(8, "add", pack_str("a"))),
            Raw.frame(PONG, b"unsolicited"),
            Raw.frame(BINARY, call(9, "add", pack_str("b"))),
            Raw.frame(BINARY, call(10, "add", pack_str("c"))),
        )
        assert [(await c.message())["request_id"] for _ in range(3)] == [8, 9, 10]
        # The client closes: the server answers with a close frame and the connection ends.
        await c.send(Raw.frame(CLOSE, struct.pack("!H", 1000) + b"bye"))
        opcode, payload = await c.read()
        assert opcode == CLOSE and struct.unpack("!H", payload[:2])[0] == 1000
        assert await c.read() == (-1, b"")
        c.close()

    run_scenario(tmp_path, scenario)


@pytest.mark.parametrize(
    "frames,code,needle",
    [
        ([Raw.frame(CONTINUATION, b"orphan")], 1002, ""),
        ([Raw.frame(BINARY, b"\x03", rsv=0x40)], 1002, ""),  # compression bit without the extension
        ([Raw.frame(0x3, b"reserved opcode")], 1002, ""),
        ([Raw.frame(PING, b"x", fin=False)], 1002, ""),
        ([Raw.frame(BINARY, b"\x03", fin=False), Raw.frame(BINARY, b"\x03")], 1002, ""),
        ([Raw.frame(TEXT, b"hello")], 1011, "text frames"),
        ([Raw.frame(TEXT, b"a", fin=False), Raw.frame(CONTINUATION, b"b")], 1011, "text frames"),
        ([Raw.frame(BINARY, b"\x09")], 1011, "malformed message"),
        ([Raw.frame(BINARY, b"x" * 3000)], 1009, ""),
        ([Raw.frame(BINARY, b"x" * 600, fin=False), Raw.frame(CONTINUATION, b"x" * 600)], 1009, ""),
    ],
)
def test_bad_frames_close_that_client_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, frames: list[bytes], code: int, needle: str
) -> None:
    monkeypatch.setattr(ws_routes, "MAX_INCOMING_MESSAGE", 1024)

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            bystander = await RawClient.connect(s, base)
            await bystander.next()
            bad = await Raw.connect(server.port or 0)
            await bad.message()
            await bad.send(*frames)
            await bad.expect_close(code, needle)
            bad.close()
            await bystander.send(call(1, "add", pack_str("still served")))
            assert (await bystander.next())["request_id"] == 1

    run_scenario(tmp_path, scenario)


def test_heartbeat_pings_an_idle_client_and_drops_one_that_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_routes, "HEARTBEAT_SECONDS", 0.3)

    async def scenario(server: Server, base: str) -> None:
        silent = await Raw.connect(server.port or 0)
        await silent.message()
        assert (await silent.read())[0] == PING  # idle: pinged
        assert await silent.read() == (-1, b"")  # never answered: dropped
        silent.close()
        answering = await Raw.connect(server.port or 0)
        await answering.message()
        for _ in range(6):  # ~1.2 s, several heartbeats: the pongs keep it open
            opcode, payload = await answering.read(5)
            assert opcode == PING
            await answering.send(Raw.frame(PONG, payload))
        await answering.send(Raw.frame(BINARY, call(3, "add", pack_str("alive"))))
        while (frame := await answering.read())[0] == PING:
            pass
        assert decode_frame(frame[1])[0]["request_id"] == 3
        answering.close()
        # A client that keeps sending is alive too, pongs or not (any read counts, as in aiohttp).
        busy = await Raw.connect(server.port or 0)
        await busy.message()
        for i in range(12):  # ~1.2 s
            await busy.send(Raw.frame(BINARY, call(i, "add", pack_str("busy"))))
            while (frame := await busy.read())[0] == PING:
                pass
            assert decode_frame(frame[1])[0]["request_id"] == i
            await asyncio.sleep(0.1)
        busy.close()

    run_scenario(tmp_path, scenario)


def test_reading_pauses_while_many_messages_are_unhandled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws_session, "PAUSE_QUEUED_INCOMING", 4)
    pauses: list[int] = []
    real = ws_session.ClientSession._pause_reading

    def spy(self: ws_session.ClientSession) -> None:
        pauses.append(self._queued_in)
        real(self)

    monkeypatch.setattr(ws_session.ClientSession, "_pause_reading", spy)

    async def scenario(server: Server, base: str) -> None:
        c = await Raw.connect(server.port or 0)
        await c.message()
        await c.send(*[Raw.frame(BINARY, call(i, "add", pack_str(f"n{i}"))) for i in range(40)])
        assert [(await c.message())["request_id"] for _ in range(40)] == list(range(40))
        assert pauses and min(pauses) >= 4
        [session] = server.app[SESSIONS_KEY]
        assert not session._reading_paused  # resumed once they were handled
        await c.send(Raw.frame(BINARY, call(40, "add", pack_str("after"))))
        assert (await c.message())["request_id"] == 40
        c.close()

    run_scenario(tmp_path, scenario)


def test_random_frames_close_only_their_client_and_log_no_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Hostile byte streams after the handshake (fixed seed, bounded): random frame headers with any
    opcode, reserved bits, fragmentation and length, and plain garbage. Each connection ends or
    keeps going; none raises out of the server, and a bystander is served throughout."""
    import logging
    import random

    rng = random.Random(1414)

    def hostile() -> bytes:
        out = []
        for _ in range(rng.randint(1, 6)):
            kind = rng.random()
            if kind < 0.2:
                out.append(rng.randbytes(rng.randint(1, 64)))
                continue
            opcode = rng.choice([0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xB, 0xF])
            payload = rng.choice([b"", b"\x03", rng.randbytes(rng.randint(0, 300)), call(1, "add", pack_str("f"))])
            if opcode == 0x8 and rng.random() < 0.5:
                payload = struct.pack("!H", rng.choice([1000, 1005, 999, 4000, 2999])) + rng.randbytes(3)
            out.append(Raw.frame(opcode, payload, fin=rng.random() < 0.7, rsv=rng.choice([0, 0, 0, 0x40, 0x10])))
        return b"".join(out)

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            bystander = await RawClient.connect(s, base)
            await bystander.next()
            for round_ in range(40):  # bounded: 40 connections, a few frames each
                c = await Raw.connect(server.port or 0)
                await c.message()
                await c.send(hostile())
                try:
                    while (await c.read(0.2))[0] != -1:
                        pass
                except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
                    pass
                c.close()
                if round_ % 10 == 9:
                    await bystander.send(call(round_, "add", pack_str("bystander")))
                    assert (await bystander.next())["request_id"] == round_

    with caplog.at_level(logging.ERROR):
        run_scenario(tmp_path, scenario)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]


def test_a_bug_while_handling_a_message_is_logged_and_closes_that_client_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The parser would swallow an exception raised inside `data_received`: the session logs it
    with its traceback and closes the client 1011 with a reason."""
    import logging

    real = ws_session.decode_client_frame

    def buggy(data: bytes, many: bool) -> list[object]:
        if b"boom" in data:
            raise RuntimeError("a bug")
        return real(data, many=many)  # type: ignore[return-value]

    monkeypatch.setattr(ws_session, "decode_client_frame", buggy)

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            bystander = await RawClient.connect(s, base)
            await bystander.next()
            bad = await Raw.connect(server.port or 0)
            await bad.message()
            await bad.send(Raw.frame(BINARY, call(1, "add", pack_str("boom"))))
            await bad.expect_close(1011, "internal error")
            bad.close()
            await bystander.send(call(2, "add", pack_str("fine")))
            assert (await bystander.next())["request_id"] == 2

    with caplog.at_level(logging.ERROR):
        run_scenario(tmp_path, scenario)
    assert any("a bug" in str(r.exc_info) for r in caplog.records if r.exc_info), caplog.records
