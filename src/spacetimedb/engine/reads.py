"""The read half of `Datastore`, shared by an open transaction and the committed state.

Every read returns rows collected into a list before the caller sees the first one, so a caller
may insert or delete while iterating (`for row in scan(t): delete(t, row)` is a common reducer
pattern) and an iterator held across transactions never sees later writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from spacetimedb.engine.errors import TransactionStateError, UnknownTableOrIndex
from spacetimedb.engine.index import Index
from spacetimedb.engine.table import Table
from spacetimedb.module.datastore import Bound, Row


class TableReads:
    """scan, count, index_find, index_filter, index_range over `_tables` / `_indexes`."""

    __slots__ = ()

    _tables: dict[int, Table]
    #: index_id -> (index, its table)
    _indexes: dict[int, tuple[Index, Table]]
    #: index_id -> key -> row or None (the unique index's lookup, prepared once)
    _finders: dict[int, Callable[[Any], Row | None]]
    #: True while reads are not allowed (a closed transaction; committed state during a transaction).
    _reads_blocked: bool

    def _blocked_error(self) -> TransactionStateError:
        raise NotImplementedError

    def _table(self, table_id: int) -> Table:
        try:
            return self._tables[table_id]
        except KeyError:
            raise UnknownTableOrIndex(f"no table with id {table_id} in this database") from None

    def _index(self, index_id: int) -> tuple[Index, Table]:
        try:
            return self._indexes[index_id]
        except KeyError:
            raise UnknownTableOrIndex(f"no index with id {index_id} in this database") from None

    def scan(self, table_id: int) -> Iterator[Row]:
        if self._reads_blocked:
            raise self._blocked_error()
        return iter(list(self._table(table_id).store.values()))

    def count(self, table_id: int) -> int:
        if self._reads_blocked:
            raise self._blocked_error()
        return len(self._table(table_id).store)

    def index_find(self, index_id: int, key: Any) -> Row | None:
        """The row whose unique index key equals `key` (a value, or a tuple for multi-column)."""
        if self._reads_blocked:
            raise self._blocked_error()
        try:
            find = self._finders[index_id]
        except KeyError:
            raise UnknownTableOrIndex(f"no index with id {index_id} in this database") from None
        return find(key)

    def index_filter(self, index_id: int, prefix: tuple[Any, ...]) -> Iterator[Row]:
        """Rows whose first len(prefix) index columns equal `prefix`."""
        if self._reads_blocked:
            raise self._blocked_error()
        return iter(self._index(index_id)[0].filter(prefix))

    def index_range(
        self, index_id: int, prefix: tuple[Any, ...], lower: Bound, upper: Bound
    ) -> Iterator[Row]:
        """Rows matching `prefix` whose next index column lies between the bounds, in index order."""
        if self._reads_blocked:
            raise self._blocked_error()
        return iter(self._index(index_id)[0].range(prefix, lower, upper))
