"""`conn.db.<table>`: a read-only view of one table of the client cache, with row callbacks.

Generated bindings subclass `TableHandle[Row]` to declare a typed `UniqueIndex` per unique column
(`identity: UniqueIndex[User, Identity]`) and `Tables` to declare one attribute per table; the
runtime creates the instances, so the subclasses only carry annotations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from spacetimedb.client.cache import TableCache, hashable

Row = TypeVar("Row")
Key = TypeVar("Key")

InsertCallback = Callable[[Any, Row], Any]  # (ctx, row)
UpdateCallback = Callable[[Any, Row, Row], Any]  # (ctx, old, new)


class UniqueIndex(Generic[Row, Key]):
    """A unique column (or the primary key): `find(value)` is the row with that value, or None."""

    __slots__ = ("_cache", "_get", "_is_pk")

    def __init__(self, cache: TableCache, column: str) -> None:
        self._cache = cache
        self._get = cache.column(column)
        self._is_pk = cache.pk == column

    def find(self, value: Key) -> Row | None:
        if self._is_pk:
            entry = self._cache.rows.get(hashable(value))
            return None if entry is None else entry[0]
        want = hashable(value)
        get = self._get
        for row in self._cache.iter_rows():
            if hashable(get(row)) == want:
                return row
        return None


class TableHandle(Generic[Row]):
    """The rows of one table the connection's subscriptions match, and callbacks on their changes.

    Callbacks get an `EventContext` first; each `on_*` returns the callback (usable as a decorator)
    and `remove_on_*` unregisters it. `on_update` needs a primary key (an update is a delete and an
    insert of the same key in one transaction).
    """

    def __init__(self, cache: TableCache) -> None:
        self._cache = cache
        self._indexes = {c: UniqueIndex[Row, Any](cache, c) for c in cache.info.unique_columns}
        for column, index in self._indexes.items():
            if not hasattr(type(self), column):  # a column named like a method stays reachable via index()
                setattr(self, column, index)

    def index(self, column: str) -> UniqueIndex[Row, Any]:
        """The `UniqueIndex` of a unique column (also the attribute of that name)."""
        try:
            return self._indexes[column]
        except KeyError:
            raise KeyError(f"table {self.name} has no unique column {column!r}") from None

    @property
    def name(self) -> str:
        """The canonical table name."""
        return self._cache.info.name

    def iter(self) -> Iterator[Row]:
        return self._cache.iter_rows()

    def __iter__(self) -> Iterator[Row]:
        return self._cache.iter_rows()

    def count(self) -> int:
        return len(self._cache.rows)

    def __len__(self) -> int:
        return len(self._cache.rows)

    def on_insert(self, callback: InsertCallback[Row]) -> InsertCallback[Row]:
        self._cache.on_insert.append(callback)
        return callback

    def on_delete(self, callback: InsertCallback[Row]) -> InsertCallback[Row]:
        self._cache.on_delete.append(callback)
        return callback

    def on_update(self, callback: UpdateCallback[Row]) -> UpdateCallback[Row]:
        if self._cache.pk is None:
            raise TypeError(f"table {self.name} has no primary key: it has no on_update (use on_insert/on_delete)")
        self._cache.on_update.append(callback)
        return callback

    def remove_on_insert(self, callback: InsertCallback[Row]) -> None:
        self._cache.on_insert.remove(callback)

    def remove_on_delete(self, callback: InsertCallback[Row]) -> None:
        self._cache.on_delete.remove(callback)

    def remove_on_update(self, callback: UpdateCallback[Row]) -> None:
        self._cache.on_update.remove(callback)

    def __repr__(self) -> str:
        return f"<TableHandle {self.name}: {len(self)} rows>"


class Tables:
    """`conn.db`: one `TableHandle` attribute per table (and view), named as the table; `db["name"]` too."""

    def __init__(self, handles: Mapping[str, TableHandle[Any]]) -> None:
        self._handles = dict(handles)
        for name, handle in handles.items():
            setattr(self, name, handle)

    def __getitem__(self, name: str) -> TableHandle[Any]:
        return self._handles[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._handles)

    def __getattr__(self, name: str) -> Any:  # only for names no table has
        raise AttributeError(f"no table {name!r}; the tables are: {', '.join(sorted(self._handles)) or '(none)'}")
