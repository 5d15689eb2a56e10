"""Subscriptions: `conn.subscription_builder().on_applied(cb).on_error(cb).subscribe(queries)`.

`subscribe` sends the queries at once and returns a `SubscriptionHandle`; on an async connection
the handle is awaitable (it returns itself once the rows are in the cache, or raises
`SubscriptionError`). `unsubscribe()` ends it: the rows no other subscription matches leave the
cache, `on_end` callbacks run, then the rows' `on_delete`s (the TS SDK's order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from spacetimedb.client.errors import ClientError
from spacetimedb.client.pending import PendingCall

if TYPE_CHECKING:
    from spacetimedb.client.db_connection import DbConnection

#: The callbacks' context: the connection's `EventContext[...]` (generated bindings' `EventContext`).
Ctx = TypeVar("Ctx")

AppliedCallback = Callable[[Ctx], Any]  # (ctx)
ErrorCallback = Callable[[Ctx, BaseException], Any]  # (ctx, error)


class SubscriptionHandle(Generic[Ctx]):
    """One query set: pending until applied, then active until unsubscribed (ended) or failed."""

    def __init__(self, conn: DbConnection[Any, Any, Any], query_set_id: int, queries: list[str]) -> None:
        self._conn = conn
        self.query_set_id = query_set_id
        self.queries = queries
        self.state = "pending"  # pending | active | ended | failed
        self.error: BaseException | None = None
        self._on_applied: list[AppliedCallback[Ctx]] = []
        self._on_error: list[ErrorCallback[Ctx]] = []
        self._on_end: list[AppliedCallback[Ctx]] = []
        self._applied = conn._new_future()
        self._ended: Any = None

    @property
    def is_active(self) -> bool:
        return self.state == "active"

    @property
    def is_ended(self) -> bool:
        return self.state in ("ended", "failed")

    def unsubscribe(self) -> PendingCall[None]:
        """Stop this subscription. Returns an awaitable (async) or Future (sync) done when the server confirmed."""
        if self.state in ("ended", "failed"):
            raise ClientError(f"subscription {self.query_set_id} has already ended")
        if self._ended is None:
            self._ended = self._conn._new_future()
            self._conn._unsubscribe(self)
        return self._ended

    def unsubscribe_then(self, on_end: AppliedCallback[Ctx]) -> PendingCall[None]:
        """`unsubscribe()`, calling `on_end(ctx)` once the rows are gone."""
        self._on_end.append(on_end)
        return self.unsubscribe()

    def __await__(self) -> Generator[Any, None, SubscriptionHandle[Ctx]]:
        if not isinstance(self._applied, asyncio.Future):
            raise ClientError("await a subscription on async connections; on sync ones check is_active after frame_tick()")
        yield from self._applied.__await__()
        return self

    def __repr__(self) -> str:
        return f"<SubscriptionHandle {self.query_set_id} {self.state}: {self.queries}>"


class SubscriptionBuilder(Generic[Ctx]):
    def __init__(self, conn: DbConnection[Any, Any, Any]) -> None:
        self._conn = conn
        self._on_applied: list[AppliedCallback[Ctx]] = []
        self._on_error: list[ErrorCallback[Ctx]] = []

    def on_applied(self, callback: AppliedCallback[Ctx]) -> SubscriptionBuilder[Ctx]:
        """`callback(ctx)` once the subscription's rows are in the cache (before their `on_insert`s run)."""
        self._on_applied.append(callback)
        return self

    def on_error(self, callback: ErrorCallback[Ctx]) -> SubscriptionBuilder[Ctx]:
        """`callback(ctx, error)` if the server refuses the queries or the subscription fails later."""
        self._on_error.append(callback)
        return self

    def subscribe(self, queries: str | Sequence[str]) -> SubscriptionHandle[Ctx]:
        qs = [queries] if isinstance(queries, str) else list(queries)
        if not qs:
            raise ValueError("subscribe() needs at least one query")
        return self._conn._subscribe(qs, list(self._on_applied), list(self._on_error))

    def subscribe_to_all_tables(self) -> SubscriptionHandle[Ctx]:
        """`SELECT * FROM <table>` for every table and view of the module, as the official SDKs do."""
        return self.subscribe([f"SELECT * FROM {name}" for name in self._conn._module.tables])
