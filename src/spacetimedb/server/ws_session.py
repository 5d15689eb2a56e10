"""One WebSocket client: reads frames into database jobs, writes batched replies.

A binary message is decoded and queued for the database as soon as aiohttp's parser has it, inside
the transport's `data_received` (`ws_receive`: no task switch per message); control frames take
aiohttp's own path through `_read_loop`. A client with `PAUSE_QUEUED_INCOMING` messages unhandled is
not read from until half of them are handled.

Outgoing messages collect in an outbox while the database worker runs a batch; `flush` turns
them into frames (v3: as few as possible, each at most 512 KiB uncompressed unless one message
is bigger; v2: one message per frame). A small frame is written straight to the transport from
`flush` when nothing is queued ahead of it and the transport keeps up; the frame of a message many
clients get (a commit's update) is built once and the same bytes go to each (`shared_frames`),
handed to them in one pass once it may leave (`send_shared`, `ConfirmedReads.send_shared`), so
fanning out costs each subscriber about one write. Otherwise frames go to a sender task through a
bounded queue.
A client that stops reading fills the queue and is closed; nobody else waits for it. What a
client holds is bounded twice: its own cap (`MAX_PENDING_SEND_BYTES`) and the server-wide
`SendBudget` shared by all clients. Large frames go to the socket in fragments of `WRITE_CHUNK`
bytes, written only while the transport keeps up, so the bytes queued stay in our queue (where they
are counted and can be dropped) and a close frame with a reason can still follow the little the
transport holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from spacetimedb.control import database_ops
from spacetimedb.control.confirmed_reads import LOG_FAILED_CLOSE_REASON
from spacetimedb.control.errors import DatabaseOutOfService, DatabaseStopped
from spacetimedb.control.identity import identity_wire
from spacetimedb.protocol import wire
from spacetimedb.protocol.client_frames import MalformedMessage, count_client_frame, decode_client_frame
from spacetimedb.protocol.compression import Compression, compress_frame
from spacetimedb.server.send_budget import SendBudget
from spacetimedb.server.shared_frames import (
    SHARED_FRAME_MAX,
    cache_for,
    frame_header,
    one_frame,
    shared_frame,
)
from spacetimedb.server.tokens import Caller
from spacetimedb.server.ws_receive import SessionWebSocket

if TYPE_CHECKING:
    from spacetimedb.control.database_ops import DatabaseHandle
    from spacetimedb.protocol.client_messages import ClientMessage

log = logging.getLogger("spacetimedb.server")

V3_MAX_FRAME_BODY = 512 * 1024
#: Bytes waiting for one slow client (queued frames plus the transport's buffer) before it is closed.
MAX_PENDING_SEND_BYTES = 64 * 1024 * 1024
#: Bytes handed to the transport per write; a bigger frame is sent as fragments of this size.
WRITE_CHUNK = 256 * 1024
#: After a close for a backlog, how long the client has to read up to the close frame before the
#: connection is dropped.
CLOSE_GRACE_SECONDS = 5.0
#: WebSocket close codes (RFC 6455).
CLOSE_POLICY = 1008
CLOSE_ERROR = 1011
CLOSE_AWAY = 1001
CLOSE_TRY_AGAIN = 1013
#: Client messages read but not yet handled before the client is closed (as upstream).
MAX_QUEUED_INCOMING = 16384
#: ... and before the server stops reading from it until half of them are handled (so a client
#: that pipelines a lot is slowed by TCP, not closed).
PAUSE_QUEUED_INCOMING = MAX_QUEUED_INCOMING // 2


#: First byte of a frame: FIN bit and opcode (RFC 6455 5.2).
_FIRST_FRAGMENT = 0x02
_MIDDLE_FRAGMENT = 0x00
_LAST_FRAGMENT = 0x80


def _reason(text: str) -> bytes:
    """A close reason: at most 123 bytes of UTF-8."""
    raw = text.encode()
    if len(raw) <= 123:
        return raw
    return raw[:120].decode(errors="ignore").encode() + b"..."


class ClientSession:
    """One WebSocket client: the control layer's `Subscriber` for its database (spacetimedb.control.subscriber)."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        database: DatabaseHandle,
        caller: Caller,
        connection_id: int,
        *,
        v3: bool,
        compression: Compression,
        confirmed: bool,
        abort: Callable[[], None] | None = None,
        transport: Any = None,
        protocol: Any = None,
        budget: SendBudget | None = None,
    ) -> None:
        self.ws = ws
        #: The raw connection, for writing a batch of frames at once (see `_write_batches`).
        self.transport = transport
        self.protocol = protocol
        #: Drops the TCP connection at once (for a client whose send queue is full).
        self.abort = abort
        self.database = database
        #: Its database's confirmed reads (the same object for the database's life), read per flush.
        self._reads = database.confirmed_reads
        #: Its frames cross to a database process raw (decoded there once): see `_on_binary`.
        self._remote = getattr(database, "remote", False) is True
        self.caller = caller
        self.identity = caller.identity
        self.connection_id = connection_id
        #: `ctx.sender_auth` of every call on this connection (decoded once, shared by reference).
        self.auth = caller.sender_auth()
        self.v3 = v3
        self.compression = compression
        self.confirmed = confirmed
        #: The oldest encoded ServerMessage not yet flushed (None: none) and the tx offset that must
        #: be durable first (-1: none); the ones after it, in send order, in `_outbox`. One message
        #: waiting is the common case (a commit's update, a reply), kept without a list or a tuple.
        self._next: bytes | None = None
        self._next_offset = -1
        self._outbox: list[tuple[int, bytes]] = []
        self._frames: deque[bytes] = deque()
        #: Bytes in `_frames` not yet handed to the transport (the head frame may be part sent).
        self._pending_bytes = 0
        #: How much of `_frames[0]` went out already, as fragments.
        self._head_sent = 0
        #: The server-wide budget, and what this session counts in it now.
        self.budget = budget
        self._charged = 0
        self._evicted = False
        self._released = False
        self._has_frames = asyncio.Event()
        self._closing = False
        self._queued_in = 0
        #: Reading paused by `_pause_reading` (too many messages unhandled).
        self._reading_paused = False
        #: Frames may be written straight to the transport (aiohttp's flow-control hooks exist).
        self._direct = transport is not None and hasattr(protocol, "_paused") and hasattr(protocol, "_drain_helper")
        self._shared = cache_for(compression)

    # ---- Subscriber interface (called on the loop, handed over from the database worker) ------

    def enqueue(self, message: bytes, tx_offset: int | None = None) -> bool:
        if self._closing:
            return True  # nothing to flush
        if self.confirmed:
            waits = False
            if self._reads._held_lists:
                # Shared messages held for their commits that this client is in were sent before
                # this one: they now wait in its own queue, ahead of it (`ConfirmedReads.claim`).
                for entry in self._reads.claim(self):
                    self._queue(*entry)
                    waits = True
            if tx_offset is not None:
                offset, waits = tx_offset, True
            else:
                offset = -1
        else:
            offset, waits = -1, False
        if self._next is None:  # the common case: nothing else waits (no list, no tuple)
            self._next = message
            self._next_offset = offset
        else:
            self._outbox.append((offset, message))
        return waits

    def _queue(self, offset: int, message: bytes) -> None:
        if self._next is None:  # the common case: nothing else waits (no list, no tuple)
            self._next = message
            self._next_offset = offset
        else:
            self._outbox.append((offset, message))

    def send_shared(self, message: bytes, tx_offset: int | None = None, flush: bool = True) -> None:
        """A message shared with other clients, handed over in one pass for all of them
        (`ConfirmedReads.send_shared`) once it may leave: its commit is durable or this client
        does not wait for it. Written at once (the one shared frame) unless something is queued
        ahead of it; without `flush` only queued (the caller flushes)."""
        if self._closing:
            return
        if tx_offset is not None and self.confirmed and tx_offset > self._reads.durable_offset:
            self.enqueue(message, tx_offset)  # (not expected: the caller holds these) never early
            if flush:
                self.flush()
            return
        if self._next is not None or not flush:
            self._queue(-1, message)  # behind what is queued, flushed by whoever queued that
            return
        self._write_one(message)

    @staticmethod
    def shared_pass(clients: list[Any], message: bytes, tx_offset: int | None = None) -> None:
        """`send_shared(message, tx_offset)` to every client in `clients`, the message free to leave
        now (its commit durable, or none of them waits for it): `ConfirmedReads`'s one pass at
        release, looked up on the list's first client. An idle session (nothing queued ahead, open,
        the frame of the same compression, its transport open and keeping up) costs one
        `transport.write` of the one shared frame and one look at what the transport kept (it
        counts for the caps); any other client takes its `send_shared`, the careful path."""
        first = clients[0]
        compression = first.compression
        if len(message) > SHARED_FRAME_MAX:
            for client in clients:
                client.send_shared(message, tx_offset)
            return
        frame = one_frame(message, first._shared, compression)[0]
        for client in clients:
            try:
                idle = not (
                    client._closing
                    or client._next is not None
                    or client._frames
                    or not client._direct
                    or client.compression is not compression
                )
            except AttributeError:  # another kind of subscriber in the list
                idle = False
            if not idle:
                client.send_shared(message, tx_offset)
                continue
            transport = client.transport
            if client.protocol._paused or transport.is_closing():
                client._write_one(message)  # behind its queue, counted
                continue
            try:
                transport.write(frame)
            except (ConnectionError, RuntimeError):  # gone: its read loop ends the session
                continue  # (and never break the pass over the other clients)
            if client._charged or transport.get_write_buffer_size():
                client.recount()  # the transport kept some: it counts for the caps

    def _write_one(self, message: bytes) -> None:
        """Write one message as one frame (v2 and v3 frame one message alike), the frame shared with
        every client that gets the same message: straight to the transport when nothing is queued
        ahead and it keeps up, else behind its queued frames (a slow client), counted."""
        if len(message) > SHARED_FRAME_MAX:
            self._push(compress_frame(message, self.compression))
            return
        hit = one_frame(message, self._shared, self.compression)
        transport = self.transport
        if self._direct and not self._frames and not self.protocol._paused and not transport.is_closing():
            try:
                transport.write(hit[0])
            except (ConnectionError, RuntimeError):  # gone: its read loop ends the session
                return  # (and never break the pass over the other clients)
            if self._charged or transport.get_write_buffer_size():
                self.recount()  # the transport kept some: it counts for the caps
        else:
            self._push(hit[0][hit[1] :])

    def deliver(self, message: bytes, tx_offset: int | None = None) -> None:
        """`enqueue` then `flush`, without the flush that would only hold it: a reply that waits
        for its commit (confirmed reads) is held here, and flushed once, when it is released."""
        if self._next is not None or self._closing:  # something queued ahead of it (or closed)
            self.enqueue(message, tx_offset)
            self.flush()
            return
        if self.confirmed:
            reads = self._reads
            if reads._held_lists:  # a held shared message it may be in goes first (`enqueue` claims it)
                self.enqueue(message, tx_offset)
                self.flush()
                return
            if tx_offset is not None and tx_offset > reads.durable_offset:  # it waits for its commit
                self._next = message
                self._next_offset = tx_offset
                reads.hold(self, tx_offset)
                return
        self._write_one(message)

    def pending(self) -> bool:
        """Messages are waiting to be flushed (for a commit to be durable, or for `flush`)."""
        return self._next is not None

    def flush(self) -> None:
        message = self._next
        if message is None or self._closing:
            return
        if not self._outbox:  # the common case: one commit's update (the fan-out path), or one reply
            offset = self._next_offset
            if offset > self._reads.durable_offset:  # confirmed reads: it waits for its commit
                self._reads.hold(self, offset)
                return
            self._next = None
            self._write_one(message)
            return
        outbox = [(self._next_offset, message), *self._outbox]
        durable = self._reads.durable_offset
        ready = len(outbox)
        for i, (offset, _) in enumerate(outbox):
            if offset > durable:  # confirmed reads: this and everything after it waits
                ready = i
                self._reads.hold(self, max(o for o, _ in outbox[i:]))
                break
        if ready == 0:
            return
        messages = [m for _, m in outbox[:ready]]
        # Emptied in place (a new list per flush would outlive the collector's young generation).
        self._outbox.clear()
        if ready < len(outbox):
            self._next_offset, self._next = outbox[ready]
            self._outbox.extend(outbox[ready + 1 :])
        else:
            self._next = None
        if self.v3:
            if sum(map(len, messages)) <= SHARED_FRAME_MAX:  # one shared frame, built once for all
                self._send_whole([shared_frame(messages, self._shared, self.compression)])
                return
            body: list[bytes] = []
            size = 0
            for m in messages:
                if body and size + len(m) > V3_MAX_FRAME_BODY:
                    self._push(compress_frame(b"".join(body), self.compression))
                    body, size = [], 0
                body.append(m)
                size += len(m)
            self._push(compress_frame(b"".join(body), self.compression))
        elif all(len(m) <= SHARED_FRAME_MAX for m in messages):
            self._send_whole([shared_frame((m,), self._shared, self.compression) for m in messages])
        else:
            for m in messages:
                self._push(compress_frame(m, self.compression))

    def _send_whole(self, frames: list[tuple[bytes, int]]) -> None:
        """Small whole frames (with their header lengths): written straight to the transport when
        nothing is queued ahead of them and it keeps up (no task switch; the shared frame is written
        as it is), else queued for the sender like any other frame."""
        transport = self.transport
        if self._direct and not self._frames and not self.protocol._paused and not transport.is_closing():
            try:
                transport.write(frames[0][0] if len(frames) == 1 else b"".join([f for f, _ in frames]))
            except (ConnectionError, RuntimeError):  # gone: its read loop ends the session
                return
            if self._charged or transport.get_write_buffer_size():
                self.recount()  # the transport kept some: it counts for the caps
            return
        for frame, header in frames:
            self._push(frame[header:])

    def handled(self, count: int) -> None:
        self._queued_in -= count
        if self._reading_paused and self._queued_in <= PAUSE_QUEUED_INCOMING // 2:
            self._resume_reading()

    def _push(self, data: bytes) -> None:
        if self._closing or self._released:
            return
        self._frames.append(data)
        self._pending_bytes += len(data)
        self._has_frames.set()
        self._charged += len(data)
        if self.budget is not None:
            self.budget.charge(len(data))  # may close this client or others
        if not self._closing and self._charged > MAX_PENDING_SEND_BYTES:
            self.recount()
            if self._charged > MAX_PENDING_SEND_BYTES:
                self.evict(
                    CLOSE_POLICY,
                    f"send queue full: {self._charged} bytes unread (limit {MAX_PENDING_SEND_BYTES} per client)",
                )

    # ---- what is queued, for the caps -------------------------------------------------------

    def backlog(self) -> int:
        """Bytes queued for this client: frames not yet written plus what the transport holds."""
        transport = self.transport
        buffered = 0
        if transport is not None and not transport.is_closing():
            buffered = transport.get_write_buffer_size()
        return self._pending_bytes + buffered

    def recount(self) -> None:
        if self._released:
            return
        exact = self.backlog()
        if self.budget is not None:
            self.budget.correct(exact - self._charged)
        self._charged = exact

    def evict(self, code: int, reason: str) -> None:
        """Close a client that is not reading: drop its queued frames and send a close frame with
        the reason behind the little the transport holds; drop the connection if it has not read
        that within `CLOSE_GRACE_SECONDS`. A second call drops it at once."""
        if self._evicted:
            self._drop()
            return
        self._evicted = True
        log.info("closing client %s: %s", self.caller.identity_hex, reason)
        self.fail(code, reason)
        # Stop evaluating its subscriptions now, not when its socket is finally gone.
        db = self.database
        with contextlib.suppress(DatabaseStopped):
            database_ops.leave_soon(db, self)
        if self.abort is not None:
            asyncio.get_running_loop().call_later(CLOSE_GRACE_SECONDS, self._drop)
        else:
            self.recount()

    def _drop(self) -> None:
        transport = self.transport
        if self.abort is not None and (transport is None or not transport.is_closing()):
            self.abort()
        self.recount()

    def _release(self) -> None:
        """The session is over: nothing it held counts any more."""
        self._released = True
        self._closing = True
        self._frames.clear()
        self._pending_bytes = 0
        if self.budget is not None:
            self.budget.correct(-self._charged)
            self.budget.remove(self)
        self._charged = 0

    def fail(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self._frames.clear()
        self._pending_bytes = 0
        self._head_sent = 0
        self._next = None
        self._outbox.clear()
        self._has_frames.set()
        self.recount()
        asyncio.get_running_loop().create_task(self.ws.close(code=code, message=_reason(reason)))

    # ---- the socket -----------------------------------------------------------------------

    def initial_connection(self) -> bytes:
        return wire.initial_connection(identity_wire(self.identity), self.connection_id, self.caller.token)

    async def _sender(self) -> None:
        # Writing every waiting frame with one transport.write (one syscall per batch instead of
        # one per v2 message) saves ~15% of the server's CPU per call on v2. It needs aiohttp's
        # flow-control hooks; without them, fall back to one send_bytes per frame.
        transport, protocol = self.transport, self.protocol
        direct = self._direct
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
                        self.recount()
            except (ConnectionError, RuntimeError):
                return

    async def _write_batches(self, transport: Any, protocol: Any) -> None:
        """Up to `WRITE_CHUNK` bytes per write, whole frames or fragments of a big one, each written
        synchronously so they never interleave with aiohttp's own control frames (pings, close; RFC
        6455 allows those between fragments); waits for the socket to drain when it is full."""
        frames = self._frames
        while frames and not self._closing:
            if transport.is_closing():
                raise ConnectionResetError("connection closed")
            parts: list[bytes] = []
            size = 0
            while frames and size < WRITE_CHUNK:
                data = frames[0]
                sent = self._head_sent
                if sent == 0 and len(data) <= WRITE_CHUNK:
                    frames.popleft()
                    parts.append(frame_header(len(data)))
                    parts.append(data)
                    size += len(data)
                    continue
                piece = data[sent : sent + WRITE_CHUNK]
                last = sent + len(piece) >= len(data)
                opcode = _FIRST_FRAGMENT if sent == 0 else _MIDDLE_FRAGMENT
                parts.append(frame_header(len(piece), opcode | (_LAST_FRAGMENT if last else 0)))
                parts.append(piece)
                size += len(piece)
                if last:
                    frames.popleft()
                    self._head_sent = 0
                else:
                    self._head_sent = sent + len(piece)
            self._pending_bytes -= size
            transport.write(b"".join(parts))
            self.recount()
            if protocol._paused:
                await protocol._drain_helper()
                self.recount()

    async def serve(self) -> None:
        """Admit the client (OnConnect, InitialConnection), then pump frames until it leaves."""
        if self.budget is not None:
            self.budget.add(self)
        try:
            await self._serve()
        finally:
            self._release()

    async def _serve(self) -> None:
        db = self.database
        try:
            rejected = await database_ops.admit(db, self, self.initial_connection())
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
                await database_ops.leave(db, self)
            sender.cancel()

    async def _read_loop(self) -> None:
        """Control frames (and binary messages that arrived before `attach`, or behind a control
        frame) come through aiohttp's queue here; binary messages otherwise go to `_on_binary`
        straight from the parser (`ws_receive`)."""
        ws = self.ws
        direct = ws if isinstance(ws, SessionWebSocket) else None
        if direct is not None:
            direct.attach(self._on_binary)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    self._on_binary(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    self.fail(CLOSE_ERROR, "text frames are not supported: send binary BSATN ClientMessages")
                elif msg.type == WSMsgType.ERROR:
                    log.info("websocket error from %s: %s", self.caller.identity_hex, ws.exception())
                    break
        finally:
            if direct is not None:
                direct.attach(None)
            self._resume_reading()

    def _on_binary(self, data: bytes) -> None:
        """One binary message from the client: decoded and queued for the database, synchronously
        (called by the frame parser inside the transport's `data_received`)."""
        if self._closing:
            return  # closed for a bad message or a backlog: what follows is not served
        try:
            if self._remote:
                # A database process decodes the frame (and closes this client with the decoder's
                # reason if it is malformed): here only its size and shape, for the count.
                messages: list[ClientMessage] = []
                count = count_client_frame(data, many=self.v3)
            else:
                messages = decode_client_frame(data, many=self.v3)
                count = len(messages)
            queued = self._queued_in = self._queued_in + count
            if queued > MAX_QUEUED_INCOMING:
                self.fail(CLOSE_TRY_AGAIN, "too many requests: the client sent messages faster than they were handled")
                return
            self.database.submit_frame(self, messages, data)
        except MalformedMessage as e:
            self.fail(CLOSE_ERROR, f"malformed message: {e}")
            return
        except DatabaseStopped:
            self.fail(CLOSE_AWAY, "database is shutting down or being updated")
            return
        except Exception:  # a bug of ours: logged here (the parser would swallow it), the client closed
            log.exception("handling a message from %s failed", self.caller.identity_hex)
            self.fail(CLOSE_ERROR, "internal error: the server could not handle this message")
            return
        if queued >= PAUSE_QUEUED_INCOMING:
            self._pause_reading()

    def _pause_reading(self) -> None:
        """Stop reading from a client with many messages unhandled (TCP pushes back on it);
        `handled` resumes at half the mark. Idempotent: aiohttp may resume reading for its own
        reasons, so this is called again for every message read above the mark."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self._reading_paused = True
            transport.pause_reading()

    def _resume_reading(self) -> None:
        if not self._reading_paused:
            return
        self._reading_paused = False
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()
