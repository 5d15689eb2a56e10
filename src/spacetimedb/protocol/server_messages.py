"""ServerMessage (v2, also framed as v3): what the server sends. Tags are the order of `ServerMessage`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, TypeAlias

from spacetimedb.protocol.rows import QueryRows, QuerySetId, TransactionUpdate
from spacetimedb.sats.special import ConnectionId, Identity, TimeDuration, Timestamp
from spacetimedb.sats.sums import Sum, TypeName, UnitVariant, Variant
from spacetimedb.sats.widths import u32


@dataclass(slots=True)
class InitialConnection:
    identity: Identity
    connection_id: ConnectionId
    token: str


@dataclass(slots=True)
class SubscribeApplied:
    request_id: u32
    query_set_id: QuerySetId
    rows: QueryRows


@dataclass(slots=True)
class UnsubscribeApplied:
    request_id: u32
    query_set_id: QuerySetId
    rows: QueryRows | None


@dataclass(slots=True)
class SubscriptionError:
    request_id: u32 | None  # None: the set failed during a later transaction (the SDK disconnects)
    query_set_id: QuerySetId
    error: str


class QueryRowsResult(Sum):
    """Result<QueryRows, String>: `ok` is tag 0."""

    ok: Variant[QueryRows]
    err: Variant[str]


@dataclass(slots=True)
class OneOffQueryResult:
    request_id: u32
    result: QueryRowsResult


@dataclass(slots=True)
class ReducerOk:
    ret_value: bytes
    transaction_update: TransactionUpdate


class ReducerOutcome(Sum):
    Ok: Variant[ReducerOk]
    OkEmpty: UnitVariant
    Err: Variant[bytes]  # the BSATN of the error value (a String: u32 length + UTF-8)
    InternalError: Variant[str]


@dataclass(slots=True)
class ReducerResult:
    request_id: u32
    timestamp: Timestamp
    result: ReducerOutcome


class ProcedureStatus(Sum):
    Returned: Variant[bytes]
    InternalError: Variant[str]


@dataclass(slots=True)
class ProcedureResult:
    status: ProcedureStatus
    timestamp: Timestamp
    total_host_execution_duration: TimeDuration
    request_id: u32  # last, unlike ReducerResult


#: The union as an annotation (variant = class, tag = position); isinstance() the member classes.
ServerMessage: TypeAlias = Annotated[
    InitialConnection
    | SubscribeApplied
    | UnsubscribeApplied
    | SubscriptionError
    | TransactionUpdate
    | OneOffQueryResult
    | ReducerResult
    | ProcedureResult,
    TypeName("ServerMessage"),
]
