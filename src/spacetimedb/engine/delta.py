"""What a committed transaction changed, and a whole-database image for snapshots."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spacetimedb.engine.sequence import SequenceKey
from spacetimedb.module.datastore import Row

if TYPE_CHECKING:
    from spacetimedb.engine.table import Table


@dataclass(slots=True)
class TableDelta:
    """Rows a transaction added to and removed from one table (set semantics: never both)."""

    inserts: list[Row]
    deletes: list[Row]


@dataclass(slots=True)
class TxDelta:
    """The net effect of one committed transaction.

    `tables` holds only tables that changed. `sequences` maps (table_id, column) to the next value
    of every sequence that advanced since the previous commit (including advances made by
    transactions that rolled back): durability persists these so values are never reissued.
    """

    tables: dict[int, TableDelta] = field(default_factory=dict)
    sequences: dict[SequenceKey, int] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not self.tables and not self.sequences


@dataclass(slots=True)
class DatabaseImage:
    """Every table's rows and every sequence's position, taken between transactions.

    The row lists are fresh lists (the engine never mutates them) holding the stored row tuples
    themselves, so an image costs one list copy per table.
    """

    tables: dict[int, list[Row]]
    sequences: dict[SequenceKey, int]


# The undo log: (table, old row or None, new row or None) per write, in order.
# insert = (t, None, new); delete = (t, old, None); update = (t, old, new).
LogEntry = tuple["Table", Row | None, Row | None]


def net_delta(log: list[LogEntry], sequences: dict[SequenceKey, int]) -> TxDelta:
    """Fold a transaction's write log into per-table inserts and deletes.

    A row deleted and then inserted again (or inserted then deleted) cancels: rows in a table
    form a set, so each row's net count is -1, 0 or +1. Cancelling needs some row to be both
    inserted and deleted; when no row is (the usual case, e.g. a transfer), the per-table lists
    of inserted and deleted rows already are the delta.
    """
    if not log:
        return TxDelta({}, sequences)
    first = log[0][0]
    inserts: list[Row] = []
    deletes: list[Row] = []
    for table, old, new in log:
        if table is not first:
            return _multi_table(log, sequences)
        if new is not None:
            inserts.append(new)
        if old is not None:
            deletes.append(old)
    # `_table_delta` inlined for the common one-table transaction (every reducer call's commit).
    if inserts and deletes:
        if first.raw_rows and len(inserts) + len(deletes) <= _SMALL:
            # A few rows: list membership (C-level ==) is cheaper than hashing every row.
            overlap = False
            for d in deletes:
                if d in inserts:
                    overlap = True
                    break
        else:
            overlap = _overlap(first, inserts, deletes)
        if overlap:
            inserts, deletes = _cancel(first, log)
            if not inserts and not deletes:
                return TxDelta({}, sequences)
    return TxDelta({first.table_id: TableDelta(inserts, deletes)}, sequences)


#: Up to this many rows inserted plus deleted in a table, overlap is found by list membership.
_SMALL = 8


def _overlap(table: Table, inserts: list[Row], deletes: list[Row]) -> bool:
    """True when some row is both inserted and deleted (by value: the rows of a table form a set)."""
    if table.raw_rows:
        return not set(deletes).isdisjoint(inserts)
    # Byte-exact identities: 0.0 does not cancel -0.0, a NaN cancels the same NaN.
    row_key = table.row_key
    return not set(map(row_key, deletes)).isdisjoint(map(row_key, inserts))


def _multi_table(log: list[LogEntry], sequences: dict[SequenceKey, int]) -> TxDelta:
    per_table: dict[Table, tuple[list[Row], list[Row]]] = {}
    for table, old, new in log:
        lists = per_table.get(table)
        if lists is None:
            lists = per_table[table] = ([], [])
        if new is not None:
            lists[0].append(new)
        if old is not None:
            lists[1].append(old)
    tables: dict[int, TableDelta] = {}
    for table, (inserts, deletes) in per_table.items():
        change = _table_delta(table, log, inserts, deletes)
        if change is not None:
            tables[table.table_id] = change
    return TxDelta(tables, sequences)


def _table_delta(
    table: Table, log: list[LogEntry], inserts: list[Row], deletes: list[Row]
) -> TableDelta | None:
    if inserts and deletes and _overlap(table, inserts, deletes):
        inserts, deletes = _cancel(table, log)
        if not inserts and not deletes:
            return None
    return TableDelta(inserts, deletes)


def _cancel(table: Table, log: list[LogEntry]) -> tuple[list[Row], list[Row]]:
    """Replay `table`'s log entries in order, netting each row's +1/-1."""
    inserted: dict[Hashable, Row] = {}
    deleted: dict[Hashable, Row] = {}
    raw = table.raw_rows
    row_key = table.row_key
    for t, old, new in log:
        if t is not table:
            continue
        if old is not None:
            key = old if raw else row_key(old)
            if key in inserted:
                del inserted[key]
            else:
                deleted[key] = old
        if new is not None:
            key = new if raw else row_key(new)
            if key in deleted:
                del deleted[key]
            else:
                inserted[key] = new
    return list(inserted.values()), list(deleted.values())
