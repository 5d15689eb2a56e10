"""Table and index handles: `ctx.db.player.insert(...)`, `ctx.db.player.id.find(7)`.

Handles are built once per loaded module and read the current transaction from a shared
`TxSlot`, so a reducer call costs no handle construction. They speak to the database only
through the `Datastore` protocol, with rows as tuples; every row handed to user code is a
fresh object (mutating it changes nothing until `update`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from spacetimedb.module.datastore import Datastore, Row
from spacetimedb.module.ranges import bounds_of, is_range
from spacetimedb.module.schema import IndexSchema, TableSchema
from spacetimedb.sats.errors import SchemaError, SpacetimeError


class NoTransactionError(SpacetimeError):
    """A table was used outside a reducer call (there is no open transaction)."""


class TxSlot:
    """Holds the Datastore of the transaction now running; the host sets and clears it."""

    __slots__ = ("ds",)

    def __init__(self) -> None:
        self.ds: Datastore = _NO_TX


class _NoTx:
    def __getattr__(self, name: str) -> Any:
        raise NoTransactionError("tables can be used only inside a reducer call (ctx.db.<table>)")


_NO_TX: Any = _NoTx()


class RowConverter:
    """Compiled row <-> tuple conversion for one table (see `row_converters.compile_row_converter`)."""

    __slots__ = ("cls", "exact", "from_row", "key_converters", "to_row")

    def __init__(
        self,
        cls: type,
        to_row: Callable[[Any], Row],
        from_row: Callable[[Row], Any],
        key_converters: dict[int, Callable[[Any], Any]],
        exact: bool = False,
    ) -> None:
        self.cls = cls
        self.to_row = to_row
        self.from_row = from_row
        #: Per column: user value -> stored value (only for columns that need converting).
        self.key_converters = key_converters
        #: True when `to_row` stores every attribute unchanged (no float coercion), so a row
        #: object whose tuple was stored as is may be handed back instead of a rebuilt copy.
        self.exact = exact


_RESERVED = frozenset(
    {
        "insert", "delete", "iter", "scan", "count", "filter", "find_by_primary_key", "update",
        "delete_by_primary_key", "index", "clear", "schema", "row_class",
    }
)  # fmt: skip


class TableHandle:
    """One table inside a reducer: insert, delete, iterate, count, and index accessors by name."""

    def __init__(self, schema: TableSchema, conv: RowConverter, slot: TxSlot) -> None:
        self.schema = schema
        self.row_class = conv.cls
        self._tid = schema.table_id
        self._slot = slot
        self._to_row = conv.to_row
        self._from_row = conv.from_row
        self._exact = conv.exact
        self._indexes: dict[str, IndexHandle] = {}
        for ix in schema.indexes:
            h: IndexHandle = (
                UniqueIndexHandle(self, ix, conv) if ix.unique else IndexHandle(self, ix, conv)
            )
            self._indexes[ix.accessor] = h
            if ix.accessor not in _RESERVED and not ix.accessor.startswith("_"):
                setattr(self, ix.accessor, h)
        pk = schema.primary_index
        self._pk: UniqueIndexHandle | None = self._indexes[pk.accessor] if pk else None  # type: ignore[assignment]

    def index(self, accessor: str) -> IndexHandle:
        """The index named `accessor` (use this when it clashes with a method name, e.g. `count`)."""
        try:
            return self._indexes[accessor]
        except KeyError:
            raise SchemaError(
                f"table {self.schema.name!r} has no index {accessor!r}; indexes are {list(self._indexes)}"
            ) from None

    def insert(self, row: Any) -> Any:
        """Insert `row`; returns the stored row (auto-increment columns given as 0 are filled in)."""
        tup = self._to_row(row)
        stored = self._slot.ds.insert(self._tid, tup)
        # The caller's own object is not stored state, so it may be returned when nothing changed.
        return row if (stored is tup and self._exact) else self._from_row(stored)

    def delete(self, row: Any) -> bool:
        """Delete the row equal to `row`; False if there was none."""
        return self._slot.ds.delete(self._tid, self._to_row(row))

    def clear(self) -> int:
        """Delete every row; returns how many."""
        ds = self._slot.ds
        rows = list(ds.scan(self._tid))
        for r in rows:
            ds.delete(self._tid, r)
        return len(rows)

    def iter(self) -> Iterator[Any]:
        """Every row (a snapshot taken now, so deleting while iterating is safe)."""
        from_row = self._from_row
        for r in list(self._slot.ds.scan(self._tid)):
            yield from_row(r)

    scan = iter

    def __iter__(self) -> Iterator[Any]:
        return self.iter()

    def count(self) -> int:
        return self._slot.ds.count(self._tid)

    def __len__(self) -> int:
        return self._slot.ds.count(self._tid)

    def filter(self, predicate: Callable[[Any], bool]) -> Iterator[Any]:
        """Rows for which `predicate(row)` is true (a full scan; prefer an index filter)."""
        return (r for r in self.iter() if predicate(r))

    def find_by_primary_key(self, key: Any) -> Any | None:
        """The row whose primary key equals `key`, or None."""
        return self._primary_key("find_by_primary_key", "t.<unique>.find(key) or t.<index>.filter(value)").find(key)

    def update(self, row: Any) -> Any:
        """Replace the row that has `row`'s primary key with `row`; returns the stored row.

        As upstream's primary-key `update`: raises `RowNotFound` when no row has that key (insert
        it instead), and `UniqueConstraintViolation` when the new row collides on another unique column.
        """
        return self._primary_key("update", "t.<unique>.update(row), or t.delete(old) then t.insert(row)").update(row)

    def delete_by_primary_key(self, key: Any) -> bool:
        """Delete the row whose primary key equals `key`; True if there was one."""
        pk = self._primary_key("delete_by_primary_key", "t.<unique>.delete(key) or t.delete(row)")
        if is_range(key):
            raise SchemaError(f"delete_by_primary_key takes one key, not a range; use t.{pk.schema.accessor}.delete(range)")
        return pk.delete(key) > 0

    def _primary_key(self, op: str, instead: str) -> UniqueIndexHandle:
        if self._pk is None:
            raise SchemaError(
                f"table {self.schema.name!r} has no primary key, so `{op}` is not available; "
                f"use {instead} (or declare a column `Annotated[..., primary_key]`)"
            )
        return self._pk

    def __repr__(self) -> str:
        return f"<table {self.schema.name}>"


class IndexHandle:
    """A btree index: `filter(value)`, ranges (`range`, `slice`, `Range`), prefixes on multi-column."""

    def __init__(self, table: TableHandle, ix: IndexSchema, conv: RowConverter) -> None:
        self.schema = ix
        self._table = table
        self._slot = table._slot
        self._iid = ix.index_id
        self._from_row = conv.from_row
        self._multi = len(ix.columns) > 1
        kc = conv.key_converters
        self._key_conv: list[Callable[[Any], Any] | None] = [kc.get(c) for c in ix.columns]

    def _conv(self, i: int, v: Any) -> Any:
        f = self._key_conv[i]
        return v if f is None else f(v)

    def _prefix_and_range(self, value: Any) -> tuple[tuple[Any, ...], Any]:
        parts = value if (self._multi and isinstance(value, tuple)) else (value,)
        if len(parts) > len(self._key_conv):
            raise SchemaError(
                f"index {self.schema.accessor!r} has {len(self._key_conv)} columns; got {len(parts)} values"
            )
        last = parts[-1] if parts else None
        if parts and is_range(last):
            return tuple(self._conv(i, v) for i, v in enumerate(parts[:-1])), last
        return tuple(self._conv(i, v) for i, v in enumerate(parts)), None

    def _rows(self, value: Any) -> list[Row]:
        prefix, rng = self._prefix_and_range(value)
        ds = self._slot.ds
        if rng is None:
            return list(ds.index_filter(self._iid, prefix))
        lo, hi = bounds_of(rng)
        col = len(prefix)
        if lo is not None:
            lo = (self._conv(col, lo[0]), lo[1])
        if hi is not None:
            hi = (self._conv(col, hi[0]), hi[1])
        return list(ds.index_range(self._iid, prefix, lo, hi))

    def filter(self, value: Any) -> Iterator[Any]:
        """Rows whose indexed column equals `value`, or lies in a range; for a multi-column index a
        tuple is a prefix, whose last element may be a range: `filter(("red", range(10, 20)))`."""
        from_row = self._from_row
        for r in self._rows(value):
            yield from_row(r)

    def delete(self, value: Any) -> int:
        """Delete the rows `filter(value)` would yield; returns how many."""
        prefix, rng = self._prefix_and_range(value)
        if rng is None:
            return self._slot.ds.index_delete(self._iid, prefix)
        rows = self._rows(value)
        tid = self._table._tid
        ds = self._slot.ds
        for r in rows:
            ds.delete(tid, r)
        return len(rows)

    def __repr__(self) -> str:
        return f"<index {self.schema.name}>"


class UniqueIndexHandle(IndexHandle):
    """A unique index (primary key or unique column): `find`, `update`, `delete` by key."""

    def __init__(self, table: TableHandle, ix: IndexSchema, conv: RowConverter) -> None:
        super().__init__(table, ix, conv)
        self._to_row = conv.to_row
        self._exact = conv.exact
        single = self._key_conv[0] if not self._multi else None
        self._single_conv = single
        #: User key -> stored key (None: used as given), resolved once for `find`.
        self._find_key: Callable[[Any], Any] | None = self._multi_key if self._multi else single

    def _multi_key(self, key: Any) -> tuple[Any, ...]:
        return tuple(self._conv(i, v) for i, v in enumerate(key))

    def find(self, key: Any) -> Any | None:
        """The row whose key equals `key` (a tuple for a multi-column index), or None."""
        if self._find_key is not None:
            key = self._find_key(key)
        ds: Any = self._slot.ds
        # A datastore with the optional fast path (our engine's transaction) is asked for the
        # index's own lookup: one Python frame less per find. Others answer `index_find`.
        try:
            finders = ds.unique_finders
        except AttributeError:
            r = ds.index_find(self._iid, key)
        else:
            r = finders[self._iid](key)
        return None if r is None else self._from_row(r)

    def update(self, row: Any) -> Any:
        """Replace the stored row that has `row`'s key with `row`; returns the stored row."""
        tup = self._to_row(row)
        ds: Any = self._slot.ds
        try:
            updaters = ds.unique_updaters
        except AttributeError:
            stored = ds.update(self._iid, tup)
        else:
            stored = updaters[self._iid](tup)
        return row if (stored is tup and self._exact) else self._from_row(stored)

    def delete(self, key: Any) -> int:
        """Delete the row with this key; returns 1 if there was one, else 0 (truthy as a bool)."""
        if isinstance(key, (range, slice)) or (self._multi and isinstance(key, tuple) and len(key) < len(self._key_conv)):
            return super().delete(key)
        if self._multi:
            prefix = tuple(self._conv(i, v) for i, v in enumerate(key))
        else:
            prefix = (key if self._single_conv is None else self._single_conv(key),)
        return self._slot.ds.index_delete(self._iid, prefix)
