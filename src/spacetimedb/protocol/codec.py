"""The compiled BSATN codecs of the v2 message unions (also framed as v3), compiled once.

`ClientMessage` is encoded here (what a client sends) and decoded by `client_frames` (stricter, and
fast for pipelined calls); `ServerMessage` is decoded here (what a client reads) and encoded here
or, for the server's hot messages, by `wire` from already-encoded parts, byte for byte the same.
"""

from __future__ import annotations

from typing import Any

from spacetimedb.bsatn.codec import Codec, compile
from spacetimedb.protocol.client_messages import ClientMessage
from spacetimedb.protocol.server_messages import ServerMessage

_client_codec: Codec | None = None
_server_codec: Codec | None = None


def client_message_codec() -> Codec:
    """The codec of ClientMessage (compiled once; hashing the annotation per call would cost more)."""
    global _client_codec
    if _client_codec is None:
        _client_codec = compile(ClientMessage)
    return _client_codec


def server_message_codec() -> Codec:
    global _server_codec
    if _server_codec is None:
        _server_codec = compile(ServerMessage)
    return _server_codec


def encode_client_message(msg: ClientMessage) -> bytes:
    return (_client_codec or client_message_codec()).encode(msg)


def encode_server_message(msg: ServerMessage) -> bytes:
    """The BSATN body of one server message (the frame adds a compression tag byte in front)."""
    return (_server_codec or server_message_codec()).encode(msg)


def decode_server_message(data: bytes | bytearray | memoryview) -> Any:
    """Exactly one server message (a v2 frame's body)."""
    return (_server_codec or server_message_codec()).decode(data)


def decode_server_frame(body: bytes | bytearray | memoryview) -> list[Any]:
    """One or more server messages back to back (a v3 frame's body; v2 bodies hold exactly one)."""
    if isinstance(body, memoryview):
        body = body.tobytes()
    decode_from = (_server_codec or server_message_codec()).decode_from
    out = []
    off = 0
    while off < len(body):
        msg, off = decode_from(body, off)
        out.append(msg)
    return out
