"""Server messages as BSATN bytes built from already-encoded parts: the server's encoder.

A commit's rows are encoded once per table and shared by every subscriber whose query sets they
belong to, so the pieces here (row lists, table updates, query-set updates) are bytes that callers
join, and the hot messages (ReducerResult per call, TransactionUpdate per commit, SubscribeApplied
and OneOffQueryResult of many rows) are hand-written around them. Each is byte for byte what the
compiled codec (`codec.encode_server_message`) makes of the same message classes (tests/protocol);
the rare messages are built as those classes and encoded by the compiled codec itself.
Layouts: crates/client-api-messages/src/websocket/{common,v2}.rs; nothing here interprets rows.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from spacetimedb.protocol.codec import encode_server_message
from spacetimedb.protocol.rows import EMPTY_ROW_LIST_BYTES, QuerySetId, fixed_row_size
from spacetimedb.protocol.server_messages import (
    InitialConnection,
    OneOffQueryResult,
    ProcedureResult,
    ProcedureStatus,
    QueryRowsResult,
    SubscriptionError,
)
from spacetimedb.sats.ids import ConnectionId, Identity
from spacetimedb.sats.timestamps import TimeDuration, Timestamp

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")

pack_u32 = _U32.pack
pack_i64 = _I64.pack


def pack_str(text: str) -> bytes:
    raw = text.encode()
    return _U32.pack(len(raw)) + raw


def pack_bytes(raw: bytes) -> bytes:
    return _U32.pack(len(raw)) + raw


def pack_array(items: Sequence[bytes]) -> bytes:
    return _U32.pack(len(items)) + b"".join(items)


def row_list(rows: Sequence[bytes]) -> bytes:
    """A BsatnRowList of already-encoded rows, with the size hint the real server would pick."""
    if not rows:
        return EMPTY_ROW_LIST_BYTES  # RowOffsets([]), never FixedSize(0)
    data = b"".join(rows)
    size = fixed_row_size(rows, len(data))
    if size:
        return b"\x00" + _U16.pack(size) + _U32.pack(len(data)) + data
    offsets = bytearray()
    pos = 0
    for r in rows:
        offsets += _U64.pack(pos)
        pos += len(r)
    return b"\x01" + _U32.pack(len(rows)) + bytes(offsets) + _U32.pack(len(data)) + data


def persistent_table_rows(inserts: bytes, deletes: bytes) -> bytes:
    """TableUpdateRows::PersistentTable{inserts, deletes} from two encoded row lists."""
    return b"\x00" + inserts + deletes


def event_table_rows(events: bytes) -> bytes:
    return b"\x01" + events


def table_update(table_name: str, rows: Sequence[bytes]) -> bytes:
    """TableUpdate{table_name, rows: [TableUpdateRows]}."""
    return pack_str(table_name) + pack_array(rows)


def query_set_update(query_set_id: int, tables: Sequence[bytes]) -> bytes:
    return _U32.pack(query_set_id) + pack_array(tables)


def single_table_rows(table_name: str, encoded_row_list: bytes) -> bytes:
    return pack_str(table_name) + encoded_row_list


# ---- ServerMessage variants (tag = variant index in v2.rs) -----------------------------------


def initial_connection(identity_wire: bytes, connection_id: int, token: str) -> bytes:
    return encode_server_message(
        InitialConnection(Identity.from_bytes_le(identity_wire), ConnectionId(connection_id), token)
    )


def subscribe_applied(request_id: int, query_set_id: int, tables: Sequence[bytes]) -> bytes:
    return b"\x01" + _U32.pack(request_id) + _U32.pack(query_set_id) + pack_array(tables)


def unsubscribe_applied(request_id: int, query_set_id: int, tables: Sequence[bytes] | None) -> bytes:
    head = b"\x02" + _U32.pack(request_id) + _U32.pack(query_set_id)
    if tables is None:
        return head + b"\x01"
    return head + b"\x00" + pack_array(tables)


def subscription_error(request_id: int | None, query_set_id: int, error: str) -> bytes:
    return encode_server_message(SubscriptionError(request_id, QuerySetId(query_set_id), error))


def transaction_update(query_sets: Sequence[bytes]) -> bytes:
    return b"\x04" + pack_array(query_sets)


def one_off_query_ok(request_id: int, tables: Sequence[bytes]) -> bytes:
    return b"\x05" + _U32.pack(request_id) + b"\x00" + pack_array(tables)


def one_off_query_err(request_id: int, error: str) -> bytes:
    return encode_server_message(OneOffQueryResult(request_id, QueryRowsResult.err(error)))


_RESULT_HEAD = struct.Struct("<BIq")
#: ReducerOutcome::Ok{ret_value: empty, transaction_update: no query sets}.
_OK_NOTHING = b"\x00" + _U32.pack(0) + _U32.pack(0)


def reducer_ok(request_id: int, timestamp_us: int, ret_value: bytes, query_sets: Sequence[bytes]) -> bytes:
    if not query_sets and not ret_value:
        return _RESULT_HEAD.pack(6, request_id, timestamp_us) + _OK_NOTHING
    return (
        b"\x06"
        + _U32.pack(request_id)
        + _I64.pack(timestamp_us)
        + b"\x00"
        + pack_bytes(ret_value)
        + pack_array(query_sets)
    )


def reducer_err(request_id: int, timestamp_us: int, message: str) -> bytes:
    """ReducerOutcome::Err: the bytes field holds a BSATN string (two length prefixes)."""
    return b"\x06" + _U32.pack(request_id) + _I64.pack(timestamp_us) + b"\x02" + pack_bytes(pack_str(message))


def reducer_internal_error(request_id: int, timestamp_us: int, message: str) -> bytes:
    return b"\x06" + _U32.pack(request_id) + _I64.pack(timestamp_us) + b"\x03" + pack_str(message)


def procedure_internal_error(request_id: int, timestamp_us: int, message: str, duration_us: int = 0) -> bytes:
    status = ProcedureStatus.InternalError(message)
    return encode_server_message(ProcedureResult(status, Timestamp(timestamp_us), TimeDuration(duration_us), request_id))


def procedure_returned(request_id: int, timestamp_us: int, ret_bsatn: bytes, duration_us: int = 0) -> bytes:
    """ProcedureStatus::Returned with the BSATN of the procedure's return value."""
    status = ProcedureStatus.Returned(ret_bsatn)
    return encode_server_message(ProcedureResult(status, Timestamp(timestamp_us), TimeDuration(duration_us), request_id))

