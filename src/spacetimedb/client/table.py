"""`conn.db.<table>`: a read-only view of one table of the client cache, with row callbacks.

Generated bindings subclass `TableHandle[Row, Ctx]` (or `PrimaryKeyTableHandle[Row, Ctx]`, the only
one with `on_update`, or `EventTableHandle[Row, Ctx]`, with `on_insert` only) to declare a typed
`UniqueIndex` per unique column (`identity: UniqueIndex[User, Identity]`), and `Tables` to declare
one attribute per table; the runtime creates the instances, so the subclasses only carry annotations. `Ctx` is the type of the `ctx` the
callbacks get (the bindings' `EventContext`).

A unique column's accessor is never shadowed: the handle keeps no public data attribute (its
state is name-mangled, it has no properties), and each accessor is an instance attribute, which
wins over a method of the same name, as a Rust SDK handle's inherent accessor wins over the
`Table` trait's method. A table with a unique column `count` answers `handle.count.find(3)`; its
method is then `TableHandle.count(handle)` (or `len(handle)`).
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from spacetimedb.client.cache import TableCache, hashable

Row = TypeVar("Row")
Key = TypeVar("Key")
Ctx = TypeVar("Ctx")

InsertCallback = Callable[[Ctx, Row], Any]  # (ctx, row)
UpdateCallback = Callable[[Ctx, Row, Row], Any]  # (ctx, old, new)


def accessor_names(name: str) -> list[str]:
    """The attribute names a unique column (or a table, on `conn.db`) gets: its canonical name and,
    for a Python keyword, that name plus `_` (`from` -> `from_`, as in the generated bindings).
    Dunder names and the handles' own mangled state (`_TableBase__...`, `_Tables__...`) get none:
    `handle.index(name)` / `db[name]` reach those."""
    if (name.startswith("__") and name.endswith("__")) or name.startswith(("_TableBase__", "_Tables__")):
        return []
    return [name, name + "_"] if keyword.iskeyword(name) else [name]


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


class _TableBase(Generic[Row, Ctx]):
    """What every table handle has: the cached rows, `find` per unique column, `on_insert`."""

    def __init__(self, cache: TableCache) -> None:
        self.__cache = cache
        self.__indexes = {c: UniqueIndex[Row, Any](cache, c) for c in cache.info.unique_columns}
        for column, index in self.__indexes.items():
            for attr in accessor_names(column):
                self.__dict__[attr] = index  # an instance attribute: wins over a method of that name

    def index(self, column: str) -> UniqueIndex[Row, Any]:
        """The `UniqueIndex` of a unique column, by its canonical name (also an attribute of that name)."""
        try:
            return self.__indexes[column]
        except KeyError:
            raise KeyError(f"table {self.__cache.info.name} has no unique column {column!r}") from None

    def iter(self) -> Iterator[Row]:
        return self.__cache.iter_rows()

    def __iter__(self) -> Iterator[Row]:
        return self.__cache.iter_rows()

    def count(self) -> int:
        return len(self.__cache.rows)

    def __len__(self) -> int:
        return len(self.__cache.rows)

    def on_insert(self, callback: InsertCallback[Ctx, Row]) -> InsertCallback[Ctx, Row]:
        self.__cache.on_insert.append(callback)
        return callback

    def remove_on_insert(self, callback: InsertCallback[Ctx, Row]) -> None:
        self.__cache.on_insert.remove(callback)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.__cache.info.name}: {len(self)} rows>"

    if not TYPE_CHECKING:  # a clear error at runtime; mypy keeps flagging unknown attributes

        def __getattr__(self, name: str) -> Any:
            if name.startswith("_"):
                raise AttributeError(name)
            info = self.__cache.info
            if name in ("on_delete", "remove_on_delete", "on_update", "remove_on_update") and isinstance(
                self, EventTableHandle
            ):
                raise TypeError(f"table {info.name} is an event table: its rows are never stored, so never deleted")
            if name in ("on_update", "remove_on_update"):
                raise TypeError(f"table {info.name} has no primary key: it has no {name} (use on_insert/on_delete)")
            uniques = ", ".join(info.unique_columns) or "none"
            raise AttributeError(f"table {info.name} has no attribute {name!r} (its unique columns: {uniques})")


def _cache_of(handle: _TableBase[Any, Any]) -> TableCache:
    """The handle's cache (its name-mangled state, which no column accessor can take)."""
    cache: TableCache = handle.__dict__["_TableBase__cache"]
    return cache


class EventTableHandle(_TableBase[Row, Ctx]):
    """The handle of an event table: its rows are delivered (`on_insert`) and never stored, so it
    has no `on_delete` or `on_update` (as the Rust SDK's `EventTable`), and `iter()` is empty."""


class TableHandle(_TableBase[Row, Ctx]):
    """The rows of one table the connection's subscriptions match, and callbacks on their changes.

    Callbacks get the connection's `EventContext` first; each `on_*` returns the callback (usable
    as a decorator) and `remove_on_*` unregisters it. Tables with a primary key have a
    `PrimaryKeyTableHandle`, which adds `on_update`; event tables an `EventTableHandle`.
    """

    def on_delete(self, callback: InsertCallback[Ctx, Row]) -> InsertCallback[Ctx, Row]:
        _cache_of(self).on_delete.append(callback)
        return callback

    def remove_on_delete(self, callback: InsertCallback[Ctx, Row]) -> None:
        _cache_of(self).on_delete.remove(callback)


class PrimaryKeyTableHandle(TableHandle[Row, Ctx]):
    """The handle of a table with a primary key: also `on_update(cb(ctx, old, new))`, an update
    being a delete and an insert of the same key in one transaction."""

    def on_update(self, callback: UpdateCallback[Ctx, Row]) -> UpdateCallback[Ctx, Row]:
        cache = _cache_of(self)
        if cache.pk is None:  # bindings that type a table without a primary key as having one
            raise TypeError(f"table {cache.info.name} has no primary key: it has no on_update (use on_insert/on_delete)")
        cache.on_update.append(callback)
        return callback

    def remove_on_update(self, callback: UpdateCallback[Ctx, Row]) -> None:
        _cache_of(self).on_update.remove(callback)


def handle_class(primary_key: str | None, is_event: bool = False) -> type[_TableBase[Any, Any]]:
    """The runtime's handle class for a table without generated bindings."""
    if is_event:
        return EventTableHandle
    return PrimaryKeyTableHandle if primary_key is not None else TableHandle


class Tables:
    """`conn.db`: one handle attribute per table (and view), named as the table; `db["name"]` too.

    No other public attribute, so no table name is shadowed. Generated bindings subclass it with
    one annotation per table; without bindings `conn.db` is a `GenericTables`.
    """

    def __init__(self, handles: Mapping[str, _TableBase[Any, Any]]) -> None:
        self.__handles = dict(handles)
        for name, handle in handles.items():
            for attr in accessor_names(name):
                self.__dict__[attr] = handle

    def __getitem__(self, name: str) -> _TableBase[Any, Any]:
        return self.__handles[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.__handles)

    def __len__(self) -> int:
        return len(self.__handles)

    def __contains__(self, name: object) -> bool:
        return name in self.__handles

    if not TYPE_CHECKING:  # only for names no table has; typed bindings get a mypy error instead

        def __getattr__(self, name: str) -> Any:
            if name.startswith("_"):
                raise AttributeError(name)
            raise AttributeError(
                f"no table {name!r}; the tables are: {', '.join(sorted(self.__handles)) or '(none)'}"
            )


class GenericTables(Tables):
    """`conn.db` of a connection without bindings (`spacetimedb.client.connect`): tables by name,
    untyped (`Any`) for mypy."""

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...
