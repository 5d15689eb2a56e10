"""The WebSocket v2 message types (`crates/client-api-messages/src/websocket/v2.rs`) as plain classes.

    from spacetimedb import protocol
    msgs = protocol.decode_client_frame(frame)          # v3: one or more messages; v2: exactly one
    body = protocol.encode_server_message(msg)          # without the compression tag byte

These are the reference shapes: a server may hand-write faster encoders for hot messages and
test them byte-for-byte against `encode_server_message`.
"""

from __future__ import annotations

from typing import Any

from spacetimedb.bsatn.codec import Codec, compile
from spacetimedb.protocol.client_messages import (
    CallProcedure,
    CallReducer,
    ClientMessage,
    OneOffQuery,
    Subscribe,
    Unsubscribe,
    UnsubscribeFlags,
)
from spacetimedb.protocol.rows import (
    EMPTY_ROW_LIST_BYTES,
    BsatnRowList,
    EventTableRows,
    PersistentTableRows,
    QueryRows,
    QuerySetId,
    QuerySetUpdate,
    RowSizeHint,
    SingleTableRows,
    TableUpdate,
    TableUpdateRows,
    TransactionUpdate,
)
from spacetimedb.protocol.server_messages import (
    InitialConnection,
    OneOffQueryResult,
    ProcedureResult,
    ProcedureStatus,
    QueryRowsResult,
    ReducerOk,
    ReducerOutcome,
    ReducerResult,
    ServerMessage,
    SubscribeApplied,
    SubscriptionError,
    UnsubscribeApplied,
)
from spacetimedb.sats.errors import ConversionError

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


def decode_client_message(data: bytes | bytearray | memoryview) -> ClientMessage:
    """Exactly one message (v2 framing)."""
    msg: ClientMessage = (_client_codec or client_message_codec()).decode(data)
    return msg


def decode_client_frame(data: bytes | bytearray | memoryview) -> list[ClientMessage]:
    """One or more messages back to back (v3 framing); an empty frame is an error."""
    if not data:
        raise ConversionError("empty client frame: a v3 frame holds at least one message")
    if isinstance(data, memoryview):
        data = data.tobytes()  # once, not per message
    decode_from = (_client_codec or client_message_codec()).decode_from
    out: list[ClientMessage] = []
    off = 0
    end = len(data)
    while off < end:
        msg, off = decode_from(data, off)
        out.append(msg)
    return out


def encode_server_message(msg: ServerMessage) -> bytes:
    """The BSATN body of one server message (the frame adds a compression tag byte in front)."""
    return (_server_codec or server_message_codec()).encode(msg)


def decode_server_message(data: bytes | bytearray | memoryview) -> Any:
    return (_server_codec or server_message_codec()).decode(data)


__all__ = [
    "EMPTY_ROW_LIST_BYTES",
    "BsatnRowList",
    "CallProcedure",
    "CallReducer",
    "ClientMessage",
    "EventTableRows",
    "InitialConnection",
    "OneOffQuery",
    "OneOffQueryResult",
    "PersistentTableRows",
    "ProcedureResult",
    "ProcedureStatus",
    "QueryRows",
    "QueryRowsResult",
    "QuerySetId",
    "QuerySetUpdate",
    "ReducerOk",
    "ReducerOutcome",
    "ReducerResult",
    "RowSizeHint",
    "ServerMessage",
    "SingleTableRows",
    "Subscribe",
    "SubscribeApplied",
    "SubscriptionError",
    "TableUpdate",
    "TableUpdateRows",
    "TransactionUpdate",
    "Unsubscribe",
    "UnsubscribeApplied",
    "UnsubscribeFlags",
    "client_message_codec",
    "decode_client_frame",
    "decode_client_message",
    "decode_server_message",
    "encode_client_message",
    "encode_server_message",
    "server_message_codec",
]
