"""The WebSocket protocol (`crates/client-api-messages/src/websocket/v2.rs`), shared by the server and the client.

    from spacetimedb import protocol
    msgs = protocol.decode_client_frame(frame)                    # v3: one or more messages
    msgs = protocol.decode_client_frame(frame, many=False)        # v2: exactly one
    body = protocol.encode_server_message(msg)                    # without the compression tag byte
    out = protocol.compress_frame(body, protocol.Compression.NONE)  # the binary WebSocket message
    msgs = protocol.decode_server_frame(protocol.decompress_frame(out))

The message classes are plain dataclasses and sums whose BSATN codecs are compiled (`codec`). Client
frames decode through one hand-written strict decoder (`client_frames`); the server's hot messages
(ReducerResult, TransactionUpdate and the row lists shared by many subscribers) are built straight
as bytes from encoded parts by `protocol.wire`, tested byte for byte against the compiled codec.
v2 and v3 differ only in framing: a v3 frame holds one or more messages back to back.
"""

from __future__ import annotations

from spacetimedb.protocol.client_frames import MalformedMessage, decode_client_frame, decode_client_message
from spacetimedb.protocol.client_messages import (
    CallProcedure,
    CallReducer,
    ClientMessage,
    OneOffQuery,
    Subscribe,
    Unsubscribe,
    UnsubscribeFlags,
)
from spacetimedb.protocol.codec import (
    client_message_codec,
    decode_server_frame,
    decode_server_message,
    encode_client_message,
    encode_server_message,
    server_message_codec,
)
from spacetimedb.protocol.compression import Compression, compress_frame, decompress_frame
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
from spacetimedb.protocol.subprotocols import SUBPROTOCOL_V2, SUBPROTOCOL_V3, SUBPROTOCOLS

__all__ = [
    "EMPTY_ROW_LIST_BYTES",
    "SUBPROTOCOLS",
    "SUBPROTOCOL_V2",
    "SUBPROTOCOL_V3",
    "BsatnRowList",
    "CallProcedure",
    "CallReducer",
    "ClientMessage",
    "Compression",
    "EventTableRows",
    "InitialConnection",
    "MalformedMessage",
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
    "compress_frame",
    "decode_client_frame",
    "decode_client_message",
    "decode_server_frame",
    "decode_server_message",
    "decompress_frame",
    "encode_client_message",
    "encode_server_message",
    "server_message_codec",
]
