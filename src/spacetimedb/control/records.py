"""The records a database process and the front exchange over their socketpair, and their batching.

A record is `u32 payload length, u8 kind, u32 conn, payload` (little-endian; `conn` names a
client of the database, 0 when none). Records are collected per event-loop iteration and written
with one `write` per batch, so 40 pipelined calls cost one syscall each way, not 40
(docs/architecture.md, "Database processes"). Each side reads the other's bytes as hostile until
checked: a length over `MAX_RECORD_BYTES`, a kind the other side may not send, a payload that
does not decode or a stream cut inside a record raise `RecordError`, which ends that one link
(the front restarts the database process), never the process reading it.
"""

from __future__ import annotations

import asyncio
import enum
import importlib
import io
import os
import pickle
import struct
import threading
from collections.abc import Callable, Iterable
from typing import Any

#: Header of every record: payload length, kind, connection.
HEADER = struct.Struct("<IBI")
#: Largest payload of one record (a client frame, a reply, one message for many clients). A bigger
#: one is refused by the sender (the request or the client fails with a clear error) and treated as
#: corruption by the reader.
MAX_RECORD_BYTES = 256 * 1024 * 1024
#: Largest number of recipients one SEND record may list (a u32 per client).
MAX_RECIPIENTS = (MAX_RECORD_BYTES - 12) // 4


class Kind(enum.IntEnum):
    # front -> database process
    CONFIG = 1  # pickled startup configuration (the first record; the front is the parent)
    FRAME = 2  # a client's raw WebSocket payload, counted by the front, decoded here
    DISCONNECT = 3  # a client is being closed: forget it now, without an answer
    REQUEST = 4  # u32 id, pickled (operation name, plain-data arguments)
    # database process -> front
    SEND = 16  # i64 tx offset (-1: none), u32 count, count x u32 conn, message
    FAIL = 17  # u16 close code, UTF-8 reason
    HANDLED = 18  # u32 count of a client's messages handled
    DURABLE = 19  # i64 offset durable in the database's commit log
    REPLY = 20  # u32 id, pickled outcome (restricted unpickler on the front)
    LOG = 21  # u32 follower id, pickled LogLine
    LOG_FAILED = 22  # UTF-8 reason: the commit log failed, the database is out of service


TO_DATABASE = frozenset({Kind.CONFIG, Kind.FRAME, Kind.DISCONNECT, Kind.REQUEST})
TO_FRONT = frozenset({Kind.SEND, Kind.FAIL, Kind.HANDLED, Kind.DURABLE, Kind.REPLY, Kind.LOG, Kind.LOG_FAILED})


class RecordError(Exception):
    """The peer sent something that is not a valid record: the link is ended."""


Record = tuple[Kind, int, bytes]


class RecordReader:
    """Splits a byte stream into records of the kinds this side accepts."""

    def __init__(self, accepts: frozenset[Kind], max_bytes: int = MAX_RECORD_BYTES) -> None:
        self._accepts = {int(k): k for k in accepts}
        self._max = max_bytes
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Record]:
        """The complete records in the stream so far; RecordError on the first invalid one."""
        buf = self._buf
        # The usual read ends on a record's end: parse it where it is (a slice of `bytes` is the
        # payload's one copy); only a record cut across reads goes through the buffer.
        src: bytes | bytearray = data
        if buf:
            buf += data
            src = buf
        out: list[Record] = []
        pos = 0
        end = len(src)
        size = HEADER.size
        unpack = HEADER.unpack_from
        accepts = self._accepts
        limit = self._max
        while end - pos >= size:
            length, kind, conn = unpack(src, pos)
            if length > limit:
                raise RecordError(f"record of {length} bytes, over the {limit} byte limit")
            k = accepts.get(kind)
            if k is None:
                raise RecordError(f"record kind {kind} is not accepted here")
            if end - pos - size < length:
                break
            start = pos + size
            pos = start + length
            out.append((k, conn, bytes(src[start:pos])))
        if src is buf:
            if pos:
                del buf[:pos]
        elif pos < end:
            buf += memoryview(data)[pos:]
        return out

    def at_eof(self) -> None:
        """The stream ended: RecordError if it was cut inside a record."""
        if self._buf:
            raise RecordError(f"stream ended inside a record ({len(self._buf)} bytes left over)")


def record(kind: Kind, conn: int, payload: bytes) -> bytes:
    if len(payload) > MAX_RECORD_BYTES:
        raise RecordTooLarge(f"a {kind.name} record of {len(payload)} bytes is over the {MAX_RECORD_BYTES} byte limit")
    return HEADER.pack(len(payload), kind, conn) + payload


class RecordTooLarge(ValueError):
    """A record this side was about to send is over `MAX_RECORD_BYTES` (nothing was sent)."""


class BatchWriter:
    """Collects records and writes them with one `transport.write` at the end of the loop iteration
    (callbacks queued during an iteration run in the next one, so everything this iteration produces
    leaves together). Loop thread only (`SharedBatchWriter`: another thread may write too)."""

    def __init__(self, transport: asyncio.WriteTransport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._parts: list[bytes] = []
        self._scheduled = False
        #: A flush found `hold` true: nothing more is scheduled until `flush(force=True)`.
        self._held = False
        #: Bytes another thread could not write at once (the socket was full): they leave first,
        #: with the next flush on the loop, which that thread has scheduled (`SharedBatchWriter`).
        self._tail = b""
        #: Called at the start of each flush (to finish a record still being collected).
        self.before_flush: Callable[[], None] | None = None
        #: True: keep the batch for now (the database process holds it until a commit it carries is
        #: durable, so the DURABLE record that releases its replies leaves with them: one write and one
        #: wake-up of the front per call, not two). Whoever makes it false calls `flush(force=True)`
        #: (or `SharedBatchWriter.write_from_thread`).
        self.hold: Callable[[], bool] | None = None
        #: Records and batches written (for tests and benchmarks).
        self.records = 0
        self.batches = 0

    def add(self, kind: Kind, conn: int, payload: bytes) -> None:
        """Queue one record; RecordTooLarge (nothing queued) if its payload is over the cap."""
        if len(payload) > MAX_RECORD_BYTES:
            raise RecordTooLarge(f"a {kind.name} record of {len(payload)} bytes is over the {MAX_RECORD_BYTES} byte limit")
        parts = self._parts
        parts.append(HEADER.pack(len(payload), kind, conn))
        if payload:
            parts.append(payload)
        self.records += 1
        if not self._scheduled and not self._held:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def schedule(self) -> None:
        """Flush at the end of this loop iteration (a record is being collected elsewhere)."""
        if not self._scheduled and not self._held:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self, force: bool = False) -> None:
        if self.before_flush is not None:
            self.before_flush()
        self._scheduled = False
        if not self._parts and not self._tail:
            return
        if not force and self.hold is not None and self.hold():
            self._held = True
            return
        self._held = False
        data = self._take()
        if self._transport.is_closing():
            return
        self._transport.write(data)

    def _take(self) -> bytes:
        """The batch's bytes (after any tail), now cleared; counted as one batch."""
        parts = self._parts
        self._parts = []
        self.batches += 1
        tail = self._tail
        if tail:
            self._tail = b""
            parts.insert(0, tail)
        return parts[0] if len(parts) == 1 else b"".join(parts)


class SharedBatchWriter(BatchWriter):
    """A `BatchWriter` another thread writes with too (`write_from_thread`), everything under `lock`:
    the database process's commit-log thread sends the replies it makes durable itself."""

    def __init__(self, transport: asyncio.WriteTransport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(transport, loop)
        #: Guards the batch (re-entrant: `hold` and `before_flush` run with it held and may add).
        self.lock = threading.RLock()

    def add(self, kind: Kind, conn: int, payload: bytes) -> None:
        with self.lock:
            super().add(kind, conn, payload)

    def flush(self, force: bool = False) -> None:
        with self.lock:
            super().flush(force)

    def schedule(self) -> None:
        """Flush at the end of this loop iteration, held or not: the record being collected must
        reach the batch, where the commit-log thread's write takes it, before that write."""
        with self.lock:
            if self._scheduled:
                return
            self._scheduled = True
        self._loop.call_soon(self.flush)

    def write_from_thread(self, kind: Kind, conn: int, payload: bytes) -> None:
        """From a thread other than the loop's, holding `lock`: add one small record and write the
        whole batch now, held or not (the database process's commit-log thread writes a DURABLE
        record with the replies it releases, without waking the event loop). Written straight to the
        socket when the transport has nothing queued (every write goes through this lock, so none is
        in progress and the order is kept); what does not fit is left for a flush on the loop."""
        parts = self._parts
        parts.append(HEADER.pack(len(payload), kind, conn))
        parts.append(payload)
        self.records += 1
        self._held = False
        data = self._take()
        transport = self._transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() == 0:
            sock = transport.get_extra_info("socket")
            try:
                sent = os.write(sock.fileno(), data)
            except BlockingIOError:
                sent = 0
            except OSError:  # the link is gone: the loop reads its end and stops
                return
            if sent == len(data):
                return
            data = data[sent:]
        self._tail = data
        self._loop.call_soon_threadsafe(self.flush, True)


# ---- payloads ----------------------------------------------------------------------------------

_SEND_HEAD = struct.Struct("<qI")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_FAIL_HEAD = struct.Struct("<H")


_SEND_ONE = struct.Struct("<qII")  # a SEND to one client (a caller's reply): head and its conn


def send_payload(offset: int | None, conns: list[int], message: bytes) -> bytes:
    if len(conns) == 1:
        return _SEND_ONE.pack(-1 if offset is None else offset, 1, conns[0]) + message
    return b"".join((_SEND_HEAD.pack(-1 if offset is None else offset, len(conns)), struct.pack(f"<{len(conns)}I", *conns), message))


def parse_send(payload: bytes) -> tuple[int | None, tuple[int, ...], bytes]:
    if len(payload) < _SEND_HEAD.size:
        raise RecordError("SEND record shorter than its header")
    offset, count = _SEND_HEAD.unpack_from(payload)
    if offset < -1:
        raise RecordError(f"SEND record with offset {offset}")
    body = _SEND_HEAD.size + 4 * count
    if count > MAX_RECIPIENTS or len(payload) < body:
        raise RecordError(f"SEND record lists {count} clients but is {len(payload)} bytes")
    conns = (_U32.unpack_from(payload, 12)[0],) if count == 1 else struct.unpack_from(f"<{count}I", payload, 12)
    return (None if offset == -1 else offset), conns, payload[body:]


def u32_payload(value: int) -> bytes:
    return _U32.pack(value)


def parse_u32(payload: bytes, what: str) -> int:
    if len(payload) != 4:
        raise RecordError(f"{what} record of {len(payload)} bytes (expected 4)")
    value: int = _U32.unpack(payload)[0]
    return value


def i64_payload(value: int) -> bytes:
    return _I64.pack(value)


def parse_i64(payload: bytes, what: str) -> int:
    if len(payload) != 8:
        raise RecordError(f"{what} record of {len(payload)} bytes (expected 8)")
    value: int = _I64.unpack(payload)[0]
    return value


def fail_payload(code: int, reason: str) -> bytes:
    return _FAIL_HEAD.pack(code) + reason.encode()


def parse_fail(payload: bytes) -> tuple[int, str]:
    if len(payload) < 2:
        raise RecordError("FAIL record shorter than its close code")
    (code,) = _FAIL_HEAD.unpack_from(payload)
    if not (1000 <= code <= 4999):
        raise RecordError(f"FAIL record with close code {code}")
    return code, _text(payload[2:], "FAIL")


def parse_text(payload: bytes, what: str) -> str:
    return _text(payload, what)


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError as e:
        raise RecordError(f"{what} record with a reason that is not UTF-8") from e


def id_payload(request_id: int, body: bytes) -> bytes:
    return _U32.pack(request_id) + body


def parse_id(payload: bytes, what: str) -> tuple[int, bytes]:
    if len(payload) < 4:
        raise RecordError(f"{what} record shorter than its id")
    return _U32.unpack_from(payload)[0], payload[4:]


# ---- pickled values, read back only as the classes listed -------------------------------------

#: (module, name) the front unpickles from a database process: plain data the operations return.
SAFE_CLASSES: frozenset[tuple[str, str]] = frozenset(
    {
        ("spacetimedb.control.backend", "CallResult"),
        ("spacetimedb.control.backend", "CallStatus"),
        ("spacetimedb.control.backend", "ProcedureOutcome"),
        ("spacetimedb.control.backend", "HttpCallOutcome"),
        ("spacetimedb.control.backend", "LogLine"),
        ("spacetimedb.control.backend", "ModuleSwapPlan"),
        ("spacetimedb.module.http_handler", "Response"),
        ("spacetimedb.module.http_handler", "Headers"),
        ("spacetimedb.module.http_handler", "Request"),
        ("spacetimedb.module.auth", "AuthCtx"),
        ("spacetimedb.module.auth", "JwtClaims"),
        ("spacetimedb.sats.ids", "Identity"),
        ("builtins", "frozenset"),
        ("builtins", "set"),
        ("builtins", "bytearray"),
        ("builtins", "complex"),
        ("builtins", "slice"),
        ("builtins", "range"),
    }
)


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, allowed: frozenset[tuple[str, str]], resolve: Callable[[str, str], Any]) -> None:
        super().__init__(io.BytesIO(data))
        self._allowed = allowed
        self._resolve = resolve

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._allowed:
            raise RecordError(f"a record refers to {module}.{name}, which is not plain data")
        return self._resolve(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise RecordError("a record holds a persistent id")


def _default_resolve(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def loads(data: bytes, allowed: frozenset[tuple[str, str]] = SAFE_CLASSES) -> Any:
    """Unpickle `data` allowing only `allowed` classes; RecordError on anything else or garbage."""
    try:
        return _SafeUnpickler(data, allowed, _default_resolve).load()
    except RecordError:
        raise
    except Exception as e:  # truncated or corrupt: pickle raises many kinds
        raise RecordError(f"a record's payload does not decode: {type(e).__name__}: {e}") from e


def batch(records: Iterable[tuple[Kind, int, bytes]]) -> bytes:
    """Records joined into one write (tests and the child's start-up)."""
    return b"".join(record(k, c, p) for k, c, p in records)
