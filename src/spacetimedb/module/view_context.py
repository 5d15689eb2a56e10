"""What a view gets as its first argument: `ViewContext` (per caller) or `AnonymousViewContext`.

A view only reads. Its `ctx.db` is the module's tables over a read-only `Datastore`: any write
(insert, delete, update) raises `ViewReadOnlyError` naming the view, and the call fails. Upstream
gives a view no timestamp, rng or database identity either (its result must depend only on the
data it read and, for `ViewContext`, the caller), so neither context has them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from spacetimedb.module.datastore import Bound, DatastoreReads, Row
from spacetimedb.sats.errors import SpacetimeError


class ViewReadOnlyError(SpacetimeError):
    """A view tried to write: views are read-only (`ctx.db` has no insert/delete/update)."""


class AnonymousViewContext:
    """The context of a view whose rows are the same for every client.

    - `db`: the tables, read-only (`ctx.db.player.iter()`, `ctx.db.player.id.find(7)`).
    """

    __slots__ = ("db",)

    def __init__(self, db: Any) -> None:
        self.db = db

    def __repr__(self) -> str:
        return "AnonymousViewContext()"


class ViewContext:
    """The context of a view evaluated for one caller.

    - `sender`: the Identity of the client whose rows these are.
    - `db`: the tables, read-only.
    """

    __slots__ = ("db", "sender")

    def __init__(self, sender: Any, db: Any) -> None:
        self.sender = sender
        self.db = db

    def as_anonymous(self) -> AnonymousViewContext:
        """The same database without the sender (upstream's `ViewContext::as_anonymous`)."""
        return AnonymousViewContext(self.db)

    def __repr__(self) -> str:
        return f"ViewContext(sender={self.sender!r})"


class ReadOnlyDatastore:
    """A `Datastore` whose reads go to `inner` and whose writes raise `ViewReadOnlyError`."""

    __slots__ = ("_inner", "_view")

    def __init__(self, inner: DatastoreReads, view_name: str) -> None:
        self._inner = inner
        self._view = view_name

    def _refuse(self, what: str) -> Any:
        raise ViewReadOnlyError(
            f"view {self._view!r} tried to {what}: views are read-only (write from a reducer instead)"
        )

    def insert(self, table_id: int, row: Row) -> Row:
        return self._refuse("insert a row")

    def delete(self, table_id: int, row: Row) -> bool:
        return self._refuse("delete a row")

    def update(self, index_id: int, row: Row) -> Row:
        return self._refuse("update a row")

    def index_delete(self, index_id: int, prefix: tuple[Any, ...]) -> int:
        return self._refuse("delete rows")

    def scan(self, table_id: int) -> Iterator[Row]:
        return self._inner.scan(table_id)

    def count(self, table_id: int) -> int:
        return self._inner.count(table_id)

    def index_find(self, index_id: int, key: Any) -> Row | None:
        return self._inner.index_find(index_id, key)

    def index_filter(self, index_id: int, prefix: tuple[Any, ...]) -> Iterator[Row]:
        return self._inner.index_filter(index_id, prefix)

    def index_range(self, index_id: int, prefix: tuple[Any, ...], lower: Bound, upper: Bound) -> Iterator[Row]:
        return self._inner.index_range(index_id, prefix, lower, upper)
