"""What caused a callback: `ctx.event` of the `EventContext` every row and subscription callback gets.

As in the official SDKs, only the caller of a reducer learns which reducer made a change
(`ReducerEvent`: the v2 protocol sends other clients the rows alone, a `TransactionEvent`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

if TYPE_CHECKING:
    from spacetimedb.client.db_connection import DbConnection


@dataclass(frozen=True)
class ReducerEvent:
    """This connection's own reducer call committed and changed rows it subscribes to."""

    #: Canonical reducer name.
    reducer: str
    #: The arguments object given to `conn.reducers.<name>(...)` (the encoded bytes for `call_reducer`).
    args: Any
    caller_identity: Identity
    caller_connection_id: ConnectionId
    #: "committed" (callbacks only fire for committed calls; a failed one raises `ReducerError`).
    status: str
    timestamp: Timestamp


@dataclass(frozen=True)
class TransactionEvent:
    """Another client's reducer (or a scheduled one) changed rows this connection subscribes to."""


@dataclass(frozen=True)
class SubscribeAppliedEvent:
    """Rows arrived because a subscription was applied."""


@dataclass(frozen=True)
class UnsubscribeAppliedEvent:
    """Rows left because a subscription ended."""


@dataclass(frozen=True)
class ReconnectedEvent:
    """After a reconnect, the differences between the cache before and the re-applied subscriptions."""


@dataclass(frozen=True)
class ErrorEvent:
    """A subscription failed (`on_error`), or the connection ended with an error."""

    error: BaseException


Event: TypeAlias = (
    ReducerEvent | TransactionEvent | SubscribeAppliedEvent | UnsubscribeAppliedEvent | ReconnectedEvent | ErrorEvent
)

DbT = TypeVar("DbT")
ReducersT = TypeVar("ReducersT")
ProceduresT = TypeVar("ProceduresT")


class EventContext(Generic[DbT, ReducersT, ProceduresT]):
    """Passed to every callback: the connection's `db`, `reducers`, `procedures` and what happened (`event`).

    Generated bindings name the typed one `EventContext` (`EventContext[RemoteTables,
    RemoteReducers, RemoteProcedures]`): annotate callbacks with it. `event` is one of the `Event`
    classes; narrow it (`isinstance(ctx.event, ReducerEvent)`) to read `ctx.event.status`.
    """

    __slots__ = ("connection", "event")

    def __init__(self, connection: DbConnection[DbT, ReducersT, ProceduresT], event: Event) -> None:
        self.connection = connection
        self.event: Event = event

    @property
    def db(self) -> DbT:
        return self.connection.db

    @property
    def reducers(self) -> ReducersT:
        return self.connection.reducers

    @property
    def procedures(self) -> ProceduresT:
        return self.connection.procedures

    @property
    def identity(self) -> Identity:
        return self.connection.identity

    @property
    def connection_id(self) -> ConnectionId:
        return self.connection.connection_id

    def __repr__(self) -> str:
        return f"EventContext(event={self.event!r})"
