"""One WebSocket client: reads frames into database jobs, writes batched replies.

Outgoing messages collect in an outbox while the database worker runs a batch; `flush` turns
them into frames (v3: as few as possible, each at most 512 KiB uncompressed unless one message
is bigger; v2: one message per frame) and hands them to a sender task through a bounded queue.
A client that stops reading fills the queue and is disconnected; nobody else waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from spacetimedb.server import wire
from spacetimedb.server.client_messages import MalformedMessage, decode_frame
from spacetimedb.server.compression import Compression, frame
from spacetimedb.server.confirmed_reads import LOG_FAILED_CLOSE_REASON
from spacetimedb.server.database import Database, DatabaseOutOfService, DatabaseStopped
from spacetimedb.server.identity import identity_wire
from spacetimedb.server.tokens import Caller

log = logging.getLogger("spacetimedb.server")

V3_MAX_FRAME_BODY = 512 * 1024
#: Bytes of frames waiting for a slow client before it is disconnected.
MAX_PENDING_SEND_BYTES = 64 * 1024 * 1024
#: WebSocket close codes (RFC 6455).
CLOSE_POLICY = 1008
CLOSE_ERROR = 1011
CLOSE_AWAY = 1001
CLOSE_TRY_AGAIN = 1013
#: Client messages read but not yet handled before the client is closed (as upstream).
MAX_QUEUED_INCOMING = 16384


_LEN1 = struct.Struct("!BB")
_LEN2 = struct.Struct("!BBH")
_LEN3 = struct.Struct("!BBQ")


def _frame_header(length: int) -> bytes:
    """RFC 6455 header of a final, unmasked binary frame (server to client)."""
    if length < 126:
        return _LEN1.pack(0x82, length)
    if length < 65536:
        return _LEN2.pack(0x82, 126, length)
    return _LEN3.pack(0x82, 127, length)


def _reason(text: str) -> bytes:
    """A close reason: at most 123 bytes of UTF-8."""
    raw = text.encode()
    if len(raw) <= 123:
        return raw
    return raw[:120].decode(errors="ignore").encode() + b"..."


class ClientSession:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        database: Database,
        caller: Caller,
        connection_id: int,
        *,
        v3: bool,
        compression: Compression,
        confirmed: bool,
        abort: Callable[[], None] | None = None,
        transport: Any = None,
        protocol: Any = None,
    ) -> None:
        self.ws = ws
        #: The raw connection, for writing a batch of frames at once (see `_write_batches`).
        self.transport = transport
        self.protocol = protocol
        #: Drops the TCP connection at once (for a client whose send queue is full).
        self.abort = abort
        self.database = database
        self.caller = caller
        self.identity = caller.identity
        self.connection_id = connection_id
        self.v3 = v3
        self.compression = compression
        self.confirmed = confirmed
        #: (tx offset that must be durable first, or -1; encoded ServerMessage), in send order.
        self._outbox: list[tuple[int, bytes]] = []
        self._frames: deque[bytes] = deque()
        self._pending_bytes = 0
        self._has_frames = asyncio.Event()
        self._closing = False
        self._queued_in = 0

    def __hash__(self) -> int:
        return id(self)

    # ---- Subscriber interface (called on the database worker) -------------------------------

    def enqueue(self, message: bytes, tx_offset: int | None = None) -> None:
        if not self._closing:
            self._outbox.append((tx_offset if self.confirmed and tx_offset is not None else -1, message))

    def flush(self) -> None:
        if not self._outbox or self._closing:
            return
        durable = self.database.durable_offset
        outbox = self._outbox
        ready = len(outbox)
        for i, (offset, _) in enumerate(outbox):
            if offset > durable:  # confirmed reads: this and everything after it waits
                ready = i
                self.database.hold(self, max(o for o, _ in outbox[i:]))
                break
        if ready == 0:
            return
        messages = [m for _, m in outbox[:ready]]
        self._outbox = outbox[ready:]
        if self.v3:
            body: list[bytes] = []
            size = 0
            for m in messages:
                if body and size + len(m) > V3_MAX_FRAME_BODY:
                    self._push(frame(b"".join(body), self.compression))
                    body, size = [], 0
                body.append(m)
                size += len(m)
            self._push(frame(b"".join(body), self.compression))
        else:
            for m in messages:
                self._push(frame(m, self.compression))

    def handled(self, count: int) -> None:
        self._queued_in -= count

    def _push(self, data: bytes) -> None:
        if self._closing:
            return
        self._frames.append(data)
        self._pending_bytes += len(data)
        self._has_frames.set()
        if self._pending_bytes > MAX_PENDING_SEND_BYTES:
            # A graceful close would queue behind the unread data: drop the connection instead.
            log.info("dropping client %s: it is not reading its messages", self.caller.identity_hex)
            self._closing = True
            self._frames.clear()
            self._has_frames.set()
            if self.abort is not None:
                self.abort()

    def fail(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self._frames.clear()
        self._outbox.clear()
        self._has_frames.set()
        asyncio.get_running_loop().create_task(self.ws.close(code=code, message=_reason(reason)))

    # ---- the socket -----------------------------------------------------------------------

    def initial_connection(self) -> bytes:
        return wire.initial_connection(identity_wire(self.identity), self.connection_id, self.caller.token)

    async def _sender(self) -> None:
        # Writing every waiting frame with one transport.write (one syscall per batch instead of
        # one per v2 message) saves ~15% of the server's CPU per call on v2. It needs aiohttp's
        # flow-control hooks; without them, fall back to one send_bytes per frame.
        transport, protocol = self.transport, self.protocol
        direct = transport is not None and hasattr(protocol, "_paused") and hasattr(protocol, "_drain_helper")
        while True:
            await self._has_frames.wait()
            self._has_frames.clear()
            if self._closing:
                return
            try:
                if direct:
                    await self._write_batches(transport, protocol)
                else:
                    while self._frames:
                        data = self._frames.popleft()
                        self._pending_bytes -= len(data)
                        await self.ws.send_bytes(data)
            except (ConnectionError, RuntimeError):
                return

    async def _write_batches(self, transport: Any, protocol: Any) -> None:
        """Whole frames, written synchronously, so they never interleave with aiohttp's own control
        frames (pings, close); waits for the socket to drain when it is full, as aiohttp does."""
        frames = self._frames
        while frames:
            if transport.is_closing():
                raise ConnectionResetError("connection closed")
            parts: list[bytes] = []
            while frames:
                data = frames.popleft()
                parts.append(_frame_header(len(data)))
                parts.append(data)
            self._pending_bytes = 0
            transport.write(b"".join(parts))
            if protocol._paused:
                await protocol._drain_helper()

    async def serve(self) -> None:
        """Admit the client (OnConnect, InitialConnection), then pump frames until it leaves."""
        db = self.database

        def admit() -> str | None:
            result = db.connect(self)
            if not result.committed:
                return result.error or "rejected by client_connected"
            self._outbox.insert(0, (-1, self.initial_connection()))
            db.touch(self)
            return None

        try:
            rejected = await db.call(admit)
        except DatabaseOutOfService:
            await self.ws.close(code=CLOSE_ERROR, message=_reason(LOG_FAILED_CLOSE_REASON))
            return
        except DatabaseStopped:
            await self.ws.close(code=CLOSE_AWAY, message=b"database is shutting down or being updated")
            return
        if rejected is not None:
            await self.ws.close(code=CLOSE_POLICY, message=_reason(f"connection refused: {rejected}"))
            return
        sender = asyncio.get_running_loop().create_task(self._sender())
        try:
            await self._read_loop()
        finally:
            self._closing = True
            self._has_frames.set()
            with contextlib.suppress(DatabaseStopped):  # then stop() already disconnected us
                await db.call(lambda: db.disconnect(self))
            sender.cancel()

    async def _read_loop(self) -> None:
        db = self.database
        async for msg in self.ws:
            if msg.type == WSMsgType.BINARY:
                try:
                    messages = decode_frame(msg.data, many=self.v3)
                except MalformedMessage as e:
                    self.fail(CLOSE_ERROR, f"malformed message: {e}")
                    continue
                self._queued_in += len(messages)
                if self._queued_in > MAX_QUEUED_INCOMING:
                    self.fail(CLOSE_TRY_AGAIN, "too many requests: the client sent messages faster than they were handled")
                    continue
                try:
                    db.submit(functools.partial(db.handle_all, self, messages))
                except DatabaseStopped:
                    break
            elif msg.type == WSMsgType.TEXT:
                self.fail(CLOSE_ERROR, "text frames are not supported: send binary BSATN ClientMessages")
            elif msg.type == WSMsgType.ERROR:
                log.info("websocket error from %s: %s", self.caller.identity_hex, self.ws.exception())
                break
