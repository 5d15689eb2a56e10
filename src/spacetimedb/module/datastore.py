"""The one narrow interface through which module code reaches the database.

Table handles (`ctx.db.player`) call only these methods, with table and index ids from the
module's `TableSchema`s and rows as tuples in column order. Our engine implements it in process;
the same module code is later to run inside SpacetimeDB's own host, where a thin adapter maps
these calls onto its syscalls (`datastore_insert_bsatn`, `datastore_index_scan_range_bsatn`, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

Row = tuple[Any, ...]
#: A bound of a range scan: (value, inclusive), or None for unbounded.
Bound = tuple[Any, bool] | None


class DatastoreReads(Protocol):
    """The read half of `Datastore`: what a view needs (a transaction, or committed state)."""

    def scan(self, table_id: int) -> Iterator[Row]: ...

    def count(self, table_id: int) -> int: ...

    def index_find(self, index_id: int, key: Any) -> Row | None: ...

    def index_filter(self, index_id: int, prefix: tuple[Any, ...]) -> Iterator[Row]: ...

    def index_range(self, index_id: int, prefix: tuple[Any, ...], lower: Bound, upper: Bound) -> Iterator[Row]: ...


class Datastore(Protocol):
    """The operations of one open mutable transaction; reads see the transaction's own writes.

    Optional fast path (table handles look for it, and use `index_find`/`update` when absent):
    attributes `unique_finders` and `unique_updaters`, mappings from an index id to `find(key)`
    and to `update(row)`, doing exactly what `index_find(index_id, key)` and `update(index_id, row)`
    do (the same results and errors) while the transaction is open.
    """

    def insert(self, table_id: int, row: Row) -> Row:
        """Insert; returns the stored row with auto-increment columns filled in.

        Raises `UniqueConstraintViolation` when a unique column collides. Inserting a row equal
        to one already present is a no-op that returns the existing row (set semantics).
        """
        ...

    def delete(self, table_id: int, row: Row) -> bool:
        """Delete the row equal to `row`; False if there was none."""
        ...

    def scan(self, table_id: int) -> Iterator[Row]: ...

    def count(self, table_id: int) -> int: ...

    def index_find(self, index_id: int, key: Any) -> Row | None:
        """The row whose unique index key equals `key` (a value, or a tuple for multi-column)."""
        ...

    def index_filter(self, index_id: int, prefix: tuple[Any, ...]) -> Iterator[Row]:
        """Rows whose first len(prefix) index columns equal `prefix`."""
        ...

    def index_range(self, index_id: int, prefix: tuple[Any, ...], lower: Bound, upper: Bound) -> Iterator[Row]:
        """Rows matching `prefix` whose next index column lies between the bounds, in index order."""
        ...

    def index_delete(self, index_id: int, prefix: tuple[Any, ...]) -> int:
        """Delete the rows `index_filter` would yield; returns how many."""
        ...

    def update(self, index_id: int, row: Row) -> Row:
        """Replace the row with the same key in unique index `index_id`; returns the stored row.

        Raises `KeyError`-derived `RowNotFound` when no row has that key.
        """
        ...
