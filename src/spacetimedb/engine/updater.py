"""Updating a row through a unique index, prepared once per index.

`MutTx.update(index_id, row)` and the module's table handles (`ctx.db.t.id.update(row)`, through
`MutTx.unique_updaters`) both run the function `unique_updater` builds: everything that does not
change between calls (the index's dict, its key function, the table's width, whether it has other
indexes or sequences) is looked up once here instead of on every update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spacetimedb.engine.errors import RowNotFound
from spacetimedb.module.datastore import Row
from spacetimedb.sats.errors import ConversionError

if TYPE_CHECKING:
    from spacetimedb.engine.delta import LogEntry
    from spacetimedb.engine.index import UniqueIndex
    from spacetimedb.engine.table import Table

Updater = Callable[[Row], Row]


def unique_updater(ix: UniqueIndex, table: Table, log: list[LogEntry]) -> Updater:
    """`update(row)`: replace the row with `row`'s key in `ix`, append the change to `log` (the
    database's one undo log), and return the stored row. Constraints are checked before anything
    changes, so a failed update leaves the transaction as it was."""
    store = ix.map
    key_of = ix.key_of
    ncols = table.ncols
    raw_rows = table.raw_rows
    same_row = table.same_row
    sequences = table.sequences
    siblings = ix.siblings
    unique_siblings = ix.unique_siblings
    append = log.append

    if sequences or siblings or not raw_rows or len(ix.columns) != 1 or not ix.raw[0]:

        def update(row: Row) -> Row:
            if type(row) is not tuple:
                row = tuple(row)
            if len(row) != ncols:
                raise ConversionError(f"table '{table.name}' has {ncols} columns but the row has {len(row)}: {row!r}")
            if sequences:
                row = table.fill_sequences(row)
            key = key_of(row)
            old = store.get(key)
            if old is None:
                raise _not_found(ix, table, row)
            if old == row if raw_rows else same_row(old, row):
                return old  # identical: the delete and re-insert would cancel
            if unique_siblings:
                table.check_update(old, row, ix)
            # The key in `ix` is unchanged by definition: swap the row in place, then fix the others.
            store[key] = row
            for other in siblings:
                other.replace(old, row)
            append((table, old, row))
            return row

        return update

    # The common table (e.g. `accounts`): one index, on one plain column; no sequence, no floats.
    col = ix.columns[0]

    def update_plain(row: Row) -> Row:
        if type(row) is not tuple:
            row = tuple(row)
        if len(row) != ncols:
            raise ConversionError(f"table '{table.name}' has {ncols} columns but the row has {len(row)}: {row!r}")
        key = row[col]
        old = store.get(key)
        if old is None:
            raise _not_found(ix, table, row)
        if old == row:
            return old  # identical: the delete and re-insert would cancel
        store[key] = row
        append((table, old, row))
        return row

    return update_plain


def _not_found(ix: UniqueIndex, table: Table, row: Row) -> RowNotFound:
    shown: Any = row[ix.columns[0]] if len(ix.columns) == 1 else tuple(row[c] for c in ix.columns)
    return RowNotFound(table.name, ix.name, shown)
