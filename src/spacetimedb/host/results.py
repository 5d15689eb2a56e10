"""What a reducer call produced. The errors for calls that cannot start are the module layer's
(`spacetimedb.module.call_errors`), named here too for the host's callers."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from spacetimedb.engine.delta import TxDelta
from spacetimedb.module.args import ReducerArgs
from spacetimedb.module.call_errors import (
    LifecycleReducerCallError,
    ReducerArgumentsError,
    ReducerCallError,
    UnknownReducerError,
)
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp


class ReducerStatus(enum.Enum):
    COMMITTED = "committed"
    #: The reducer raised SenderError: the caller's fault; `error` is its message.
    USER_ERROR = "user_error"
    #: Any other exception: the module's fault; `error` is the exception text.
    INTERNAL_ERROR = "internal_error"


@dataclass(slots=True)
class ReducerCallResult:
    reducer: str
    status: ReducerStatus
    #: The error message (None when committed).
    error: str | None
    #: The committed changes (None unless committed).
    delta: TxDelta | None
    #: The reducer's `ctx.timestamp`.
    timestamp: Timestamp
    #: Position of this commit in the database's history (None unless committed).
    tx_offset: int | None
    caller: Identity
    connection_id: ConnectionId | None
    #: The arguments as received (bytes for bsatn, the JSON value, or the Python tuple or list).
    args: ReducerArgs
    duration_micros: int
    #: True for transactions the host runs itself (deleting a fired one-time schedule row).
    internal: bool = False

    @property
    def committed(self) -> bool:
        return self.status is ReducerStatus.COMMITTED

    @property
    def ok(self) -> bool:
        return self.status is ReducerStatus.COMMITTED


@dataclass(slots=True)
class ProcedureCallResult:
    """A procedure's outcome: `status` COMMITTED means it returned (its `with_tx` transactions are
    results of their own); `value` is what it returned and `bsatn` its encoding."""

    procedure: str
    status: ReducerStatus
    error: str | None
    value: Any
    bsatn: bytes
    #: The procedure's `ctx.timestamp`.
    timestamp: Timestamp
    duration_micros: int

    @property
    def ok(self) -> bool:
        return self.status is ReducerStatus.COMMITTED


__all__ = [
    "LifecycleReducerCallError",
    "ProcedureCallResult",
    "ReducerArgumentsError",
    "ReducerCallError",
    "ReducerCallResult",
    "ReducerStatus",
    "UnknownReducerError",
]
