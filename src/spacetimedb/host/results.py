"""What a reducer call produced, and the errors for calls that cannot start."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from spacetimedb.engine.delta import TxDelta
from spacetimedb.sats.errors import SpacetimeError
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
    #: The arguments as received (bytes for bsatn, the JSON value, or the Python tuple).
    args: Any
    duration_micros: int
    #: True for transactions the host runs itself (deleting a fired one-time schedule row).
    internal: bool = False

    @property
    def committed(self) -> bool:
        return self.status is ReducerStatus.COMMITTED

    @property
    def ok(self) -> bool:
        return self.status is ReducerStatus.COMMITTED


class ReducerCallError(SpacetimeError):
    """The call was refused before the reducer ran; the database is unchanged."""


class UnknownReducerError(ReducerCallError, LookupError):
    """No reducer has that name."""


class ReducerArgumentsError(ReducerCallError, ValueError):
    """The arguments do not match the reducer's parameters (count, types or encoding)."""


class LifecycleReducerCallError(ReducerCallError):
    """Lifecycle reducers (init, client_connected, client_disconnected) run only on their event."""
