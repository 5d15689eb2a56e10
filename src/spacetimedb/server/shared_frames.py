"""WebSocket frames built once and written to every client that gets the same messages.

A commit fanned out to N subscribers gives most of them the very same message bytes (identical
queries share their encodings: `control.subscriptions`, `control.fanout`). The whole frame of such a
message, RFC 6455 header, compression tag and (compressed) body, is built once here, and the same
bytes object is handed to every transport, so the per-subscriber step is one dict lookup and one
write. Keyed by the message (or the tuple of messages of one v3 frame): a bytes object caches its
hash, and the key handed in is usually the very object cached, so a hit compares identities.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from spacetimedb.protocol.compression import COMPRESS_THRESHOLD, Compression, compress_frame

#: Bodies up to this size are framed through the cache (bigger ones are rare, per client, and may
#: have to be sent in fragments).
SHARED_FRAME_MAX = 64 * 1024
#: Frames kept per compression; the cache is cleared when full (a commit's frame is wanted by every
#: subscriber within one hand-over from the worker, then never again).
MAX_ENTRIES = 64

_LEN1 = struct.Struct("!BB")
_LEN2 = struct.Struct("!BBH")
_LEN3 = struct.Struct("!BBQ")
#: First byte of a whole unfragmented binary message: FIN bit and opcode 2 (RFC 6455 5.2).
BINARY = 0x82


def frame_header(length: int, first: int = BINARY) -> bytes:
    """RFC 6455 header of an unmasked frame (server to client); by default a whole binary message."""
    if length < 126:
        return _LEN1.pack(first, length)
    if length < 65536:
        return _LEN2.pack(first, 126, length)
    return _LEN3.pack(first, 127, length)


#: (whole frame, header length) per compression, by message or tuple of messages.
_cache: dict[Compression, dict[bytes | tuple[bytes, ...], tuple[bytes, int]]] = {c: {} for c in Compression}


def cache_for(compression: Compression) -> dict[bytes | tuple[bytes, ...], tuple[bytes, int]]:
    """The frame cache of one compression (a session looks it up once)."""
    return _cache[compression]


def one_frame(
    message: bytes, cache: dict[bytes | tuple[bytes, ...], tuple[bytes, int]], compression: Compression
) -> tuple[bytes, int]:
    """`shared_frame((message,), ...)` for a message of at most `SHARED_FRAME_MAX` bytes, in one
    call: the frame of every reply (a small body is never compressed, so it is built right here)."""
    hit = cache.get(message)
    if hit is None:
        if len(message) <= COMPRESS_THRESHOLD or compression is Compression.NONE:  # as compress_frame
            n = len(message) + 1  # the compression tag
            header = _LEN1.pack(BINARY, n) if n < 126 else frame_header(n)
            frame = header + b"\x00" + message
        else:
            payload = compress_frame(message, compression)
            header = frame_header(len(payload))
            frame = header + payload
        if len(cache) >= MAX_ENTRIES:
            cache.clear()
        hit = cache[message] = (frame, len(header))
    return hit


def shared_frame(
    messages: Sequence[bytes], cache: dict[bytes | tuple[bytes, ...], tuple[bytes, int]], compression: Compression
) -> tuple[bytes, int]:
    """The whole WebSocket frame whose body is `messages` joined (one v2 message, or the messages of
    one v3 frame), and its header's length; the same bytes object for every caller with equal messages."""
    key: bytes | tuple[bytes, ...] = messages[0] if len(messages) == 1 else tuple(messages)
    hit = cache.get(key)
    if hit is None:
        payload = compress_frame(b"".join(messages), compression)
        header = frame_header(len(payload))
        if len(cache) >= MAX_ENTRIES:
            cache.clear()
        hit = cache[key] = (header + payload, len(header))
    return hit
