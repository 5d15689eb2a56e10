"""Reading committed state and transaction deltas.

The state is anything with the read half of `Datastore` (scan, index_filter, ...). A delta is
the engine's per-table record of a commit: a mapping (or an object with a `.tables` mapping) from
table id to either an `(inserts, deletes)` pair or an object with `inserts`/`deletes` attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, cast

from spacetimedb.module.datastore import Row
from spacetimedb.module.schema import TableSchema
from spacetimedb.query.bound import BCol, BCompare, BConst, BExpr
from spacetimedb.query.catalog import Catalog
from spacetimedb.query.limits import RowBudget

_EMPTY: tuple[Row, ...] = ()


class ReadState(Protocol):
    """The read half of `Datastore` that query evaluation uses."""

    def scan(self, table_id: int) -> Iterable[Row]: ...

    def index_filter(self, index_id: int, prefix: tuple[Any, ...]) -> Iterable[Row]: ...


class TableChange(Protocol):
    """One table's rows a commit inserted and deleted (the engine's `TableDelta` is one)."""

    @property
    def inserts(self) -> Sequence[Row]: ...

    @property
    def deletes(self) -> Sequence[Row]: ...


#: One table's entry in a delta: a `TableChange`, or an `(inserts, deletes)` pair.
TableEntry = TableChange | tuple[Sequence[Row], Sequence[Row]]


class CommitDelta(Protocol):
    """A commit's delta with its per-table entries under `.tables` (the engine's `TxDelta` is one)."""

    @property
    def tables(self) -> Mapping[int, TableEntry]: ...


#: A commit's delta as query evaluation takes it: a `CommitDelta`, or its table id -> entry mapping.
Delta = CommitDelta | Mapping[int, TableEntry]


def delta_tables(delta: Delta) -> Mapping[int, TableEntry]:
    """The per-table-id mapping inside a delta."""
    tables = getattr(delta, "tables", None)
    if tables is not None and not callable(tables):
        return cast("Mapping[int, TableEntry]", tables)
    return cast("Mapping[int, TableEntry]", delta)


def table_changes(entry: TableEntry | None) -> tuple[Sequence[Row], Sequence[Row]]:
    """(inserts, deletes) of one table's entry in a delta."""
    if entry is None:
        return _EMPTY, _EMPTY
    if isinstance(entry, tuple | list):
        return entry[0], entry[1]
    ins: Sequence[Row] | None = getattr(entry, "inserts", None)
    if ins is None:
        ins = getattr(entry, "inserted", _EMPTY)
    dels: Sequence[Row] | None = getattr(entry, "deletes", None)
    if dels is None:
        dels = getattr(entry, "deleted", _EMPTY)
    return ins or _EMPTY, dels or _EMPTY


Probe = Callable[[Any], Iterable[Row]]


def make_probe(state: ReadState, table: TableSchema, col: int, budget: RowBudget | None = None) -> Probe:
    """value -> the rows of `table` whose column `col` equals value, through an index if there is one.

    Without an index the table is scanned once, on first use, into a hash table (charged to
    `budget`, if given; the rows a probe returns are the caller's to charge).
    """
    ix = Catalog.index_on_column(table, col)
    if ix is not None:
        index_id, index_filter = ix.index_id, state.index_filter
        return lambda value: index_filter(index_id, (value,))
    built: dict[Any, list[Row]] | None = None

    def probe(value: Any) -> Iterable[Row]:
        nonlocal built
        if built is None:
            built = {}
            rows = state.scan(table.table_id)
            for row in rows if budget is None else budget.counted(rows):
                built.setdefault(row[col], []).append(row)
        return built.get(value, _EMPTY)

    return probe


def const_eqs(terms: list[BExpr], rel: int) -> list[tuple[int, Any]]:
    """(column, value) of each top-level `col = constant` conjunct on relation `rel` (hashable values)."""
    out = []
    for t in terms:
        if isinstance(t, BCompare) and t.op == "=" and isinstance(t.right, BConst):
            left = t.left
            if isinstance(left, BCol) and left.rel == rel:
                try:
                    hash(t.right.value)
                except TypeError:
                    continue
                out.append((left.col, t.right.value))
    return out


def const_eq(terms: list[BExpr], rel: int, table: TableSchema | None = None) -> tuple[int, Any] | None:
    """One `col = constant` conjunct on relation `rel`, preferring an indexed column of `table`."""
    eqs = const_eqs(terms, rel)
    if table is not None:
        for col, value in eqs:
            if Catalog.index_on_column(table, col) is not None:
                return col, value
    return eqs[0] if eqs else None


def seek(state: ReadState, table: TableSchema, eq: tuple[int, Any] | None) -> Iterable[Row]:
    """The rows of `table` (all, or through an index when `eq` names an indexed column)."""
    if eq is not None:
        ix = Catalog.index_on_column(table, eq[0])
        if ix is not None:
            return state.index_filter(ix.index_id, (eq[1],))
    return state.scan(table.table_id)
