"""Decoding ClientMessage frames (v2: one message per frame; v3: one or more back to back).

This is the one decoder of client messages (the server's, and `protocol.decode_client_frame`): it
builds the classes of `client_messages`, equal to what the compiled codec decodes (tests/protocol),
but is hand-written for the hot path (pipelined CallReducers: one `unpack` for the fixed fields) and
stricter than the type: unknown tags, nonzero call flags, bad UTF-8, truncated or trailing bytes
are all `MalformedMessage`, whose text the server sends as the close reason.
"""

from __future__ import annotations

import struct

from spacetimedb.protocol.client_messages import (
    CallProcedure,
    CallReducer,
    ClientMessage,
    OneOffQuery,
    Subscribe,
    Unsubscribe,
    UnsubscribeFlags,
)
from spacetimedb.protocol.rows import QuerySetId
from spacetimedb.sats.errors import ConversionError

_U32 = struct.Struct("<I")
_UNSUBSCRIBE_FLAGS = tuple(UnsubscribeFlags)


class MalformedMessage(ConversionError):
    """A client frame that is not a valid BSATN ClientMessage; the socket is closed with this text."""


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            raise MalformedMessage(f"message truncated: needed {n} bytes at offset {self.pos}")
        out = self.buf[self.pos : end]
        self.pos = end
        return out

    def u8(self) -> int:
        if self.pos >= len(self.buf):
            raise MalformedMessage(f"message truncated at offset {self.pos}")
        v = self.buf[self.pos]
        self.pos += 1
        return v

    def u32(self) -> int:
        end = self.pos + 4
        if end > len(self.buf):
            raise MalformedMessage(f"message truncated: needed a u32 at offset {self.pos}")
        (v,) = _U32.unpack_from(self.buf, self.pos)
        self.pos = end
        return v

    def string(self) -> str:
        raw = self.take(self.u32())
        try:
            return raw.decode()
        except UnicodeDecodeError as e:
            raise MalformedMessage(f"invalid UTF-8 in string at offset {self.pos - len(raw)}") from e

    def bytes_(self) -> bytes:
        return self.take(self.u32())


def _flags(r: _Reader, what: str) -> int:
    flags = r.u8()
    if flags != 0:
        raise MalformedMessage(f"invalid {what} flags {flags}: only 0 is defined")
    return flags


def _decode_one(r: _Reader) -> ClientMessage:
    tag = r.u8()
    if tag == 3:
        rid = r.u32()
        flags = _flags(r, "CallReducer")
        return CallReducer(rid, flags, r.string(), r.bytes_())
    if tag == 0:
        rid, qs = r.u32(), r.u32()
        count = r.u32()
        if count > len(r.buf):
            raise MalformedMessage(f"query count {count} exceeds the message size")
        return Subscribe(rid, QuerySetId(qs), [r.string() for _ in range(count)])
    if tag == 1:
        rid, qs = r.u32(), r.u32()
        flag = r.u8()
        if flag >= len(_UNSUBSCRIBE_FLAGS):
            raise MalformedMessage(f"invalid UnsubscribeFlags tag {flag}")
        return Unsubscribe(rid, QuerySetId(qs), _UNSUBSCRIBE_FLAGS[flag])
    if tag == 2:
        return OneOffQuery(r.u32(), r.string())
    if tag == 4:
        rid = r.u32()
        flags = _flags(r, "CallProcedure")
        return CallProcedure(rid, flags, r.string(), r.bytes_())
    raise MalformedMessage(f"unknown ClientMessage tag {tag}")


#: CallReducer after its tag: request_id u32, flags u8, reducer name length u32.
_CALL_HEAD = struct.Struct("<IBI")


def decode_client_frame(frame: bytes | bytearray | memoryview, *, many: bool = True) -> list[ClientMessage]:
    """All messages in one binary frame. `many` (v3) loops until the frame is used up; v2 holds one."""
    if not isinstance(frame, bytes):
        frame = bytes(frame)  # once, not per message
    n = len(frame)
    if not n:
        raise MalformedMessage("empty frame: expected at least one ClientMessage")
    out: list[ClientMessage] = []
    pos = 0
    r: _Reader | None = None
    while True:
        if frame[pos] == 3 and pos + 14 <= n:
            # The hot path (pipelined reducer calls): one unpack for the fixed fields.
            rid, flags, name_len = _CALL_HEAD.unpack_from(frame, pos + 1)
            if flags:
                raise MalformedMessage(f"invalid CallReducer flags {flags}: only 0 is defined")
            start = pos + 10
            end = start + name_len
            if end + 4 > n:
                raise MalformedMessage(f"message truncated: reducer name at offset {start}")
            try:
                name = frame[start:end].decode()
            except UnicodeDecodeError as e:
                raise MalformedMessage(f"invalid UTF-8 in string at offset {start}") from e
            (args_len,) = _U32.unpack_from(frame, end)
            pos = end + 4 + args_len
            if pos > n:
                raise MalformedMessage(f"message truncated: reducer arguments at offset {end + 4}")
            out.append(CallReducer(rid, 0, name, frame[end + 4 : pos]))
        else:
            if r is None:
                r = _Reader(frame)
            r.pos = pos
            out.append(_decode_one(r))
            pos = r.pos
        if pos >= n:
            return out
        if not many:
            raise MalformedMessage(f"{n - pos} trailing bytes after the ClientMessage (v2 allows one per frame)")


def decode_client_message(data: bytes | bytearray | memoryview) -> ClientMessage:
    """Exactly one message (a v2 frame)."""
    return decode_client_frame(data, many=False)[0]


def count_client_frame(frame: bytes | bytearray | memoryview, *, many: bool = True) -> int:
    """How many messages one binary frame holds, checked for size and shape only: what the front of
    a database process needs (the per-client incoming count and its limits) while the full decode
    happens once, in the database process. A v2 frame is one message if it is not empty; a v3 frame
    of reducer calls is walked by its lengths (no names decoded, nothing built); anything else is
    decoded. A frame that cannot be counted raises the decoder's own `MalformedMessage`, so the
    client is closed with the same reason either way."""
    n = len(frame)
    if not many:
        if n:
            return 1
        return len(decode_client_frame(frame, many=False))  # raises: the empty frame's reason
    pos = 0
    count = 0
    unpack = _U32.unpack_from
    while pos < n:
        if frame[pos] != 3 or pos + 14 > n:
            return len(decode_client_frame(frame, many=True))  # another message, or truncated
        (name_len,) = unpack(frame, pos + 6)
        end = pos + 10 + name_len
        if end + 4 > n:
            return len(decode_client_frame(frame, many=True))  # raises the decoder's reason
        (args_len,) = unpack(frame, end)
        pos = end + 4 + args_len
        count += 1
    if pos > n or not count:
        return len(decode_client_frame(frame, many=True))  # raises the decoder's reason
    return count
