"""Server -> client frame compression: one tag byte (0 none, 1 brotli, 2 gzip), then the body.

As upstream (`decide_compression`), bodies of 1024 bytes or less are always sent uncompressed;
brotli at quality 1 and gzip at level 1, the fast settings. The client asks for one with the
`compression` query parameter of the WebSocket upgrade.
"""

from __future__ import annotations

import enum
import zlib

import brotli

from spacetimedb.sats.errors import ConversionError

COMPRESS_THRESHOLD = 1024


class Compression(enum.Enum):
    NONE = "None"
    BROTLI = "Brotli"
    GZIP = "Gzip"

    @classmethod
    def from_query(cls, value: str | None) -> Compression:
        """The `compression` query parameter; absent means Brotli as upstream. Case-sensitive."""
        if value is None:
            return cls.BROTLI
        for c in cls:
            if c.value == value:
                return c
        raise ValueError(f"unknown compression {value!r}: use None, Gzip or Brotli")


def _gzip(body: bytes) -> bytes:
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    return c.compress(body) + c.flush()


#: Recently compressed bodies: a commit fanned out to many clients usually gives each of them the
#: same bytes, which are then compressed once. Small, and cleared when full.
_recent: dict[tuple[Compression, bytes], bytes] = {}
_RECENT_MAX = 32


def compress_frame(body: bytes, compression: Compression) -> bytes:
    """The binary WebSocket message for an encoded body of one or more ServerMessages."""
    if compression is Compression.NONE or len(body) <= COMPRESS_THRESHOLD:
        return b"\x00" + body
    key = (compression, body)
    out = _recent.get(key)
    if out is None:
        if compression is Compression.GZIP:
            out = b"\x02" + _gzip(body)
        else:
            out = b"\x01" + brotli.compress(body, quality=1)
        if len(_recent) >= _RECENT_MAX:
            _recent.clear()
        _recent[key] = out
    return out


def decompress_frame(message: bytes) -> bytes:
    """The body of a server frame: the inverse of `compress_frame`."""
    if not message:
        raise ConversionError("empty server frame: expected a compression tag byte")
    tag, body = message[0], message[1:]
    if tag == 0:
        return body
    try:
        if tag == 1:
            return bytes(brotli.decompress(body))
        if tag == 2:
            return zlib.decompress(body, 31)
    except (brotli.error, zlib.error) as e:
        raise ConversionError(f"corrupt compressed server frame (tag {tag}): {e}") from e
    raise ConversionError(f"unknown compression tag {tag} in a server frame")
