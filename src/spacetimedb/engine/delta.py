"""What a committed transaction changed, and a whole-database image for snapshots."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spacetimedb.engine.keys import row_form
from spacetimedb.engine.sequence import SequenceKey
from spacetimedb.module.datastore import Row

if TYPE_CHECKING:
    from spacetimedb.engine.table import Table


@dataclass(slots=True)
class TableDelta:
    """Rows a transaction added to and removed from one table (set semantics: never both)."""

    inserts: list[Row] = field(default_factory=list)
    deletes: list[Row] = field(default_factory=list)


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

    A row deleted and then inserted again (or inserted then deleted) cancels: rows in the table
    form a set, so each row's net count is -1, 0 or +1.
    """
    net: dict[Table, tuple[dict[Hashable, Row], dict[Hashable, Row]]] = {}
    for table, old, new in log:
        pair = net.get(table)
        if pair is None:
            pair = net[table] = ({}, {})
        inserted, deleted = pair
        raw = table.raw_rows
        if old is not None:
            key = old if raw else row_form(old)
            if key in inserted:
                del inserted[key]
            else:
                deleted[key] = old
        if new is not None:
            key = new if raw else row_form(new)
            if key in deleted:
                del deleted[key]
            else:
                inserted[key] = new
    tables = {
        table.table_id: TableDelta(list(ins.values()), list(dels.values()))
        for table, (ins, dels) in net.items()
        if ins or dels
    }
    return TxDelta(tables, sequences)
