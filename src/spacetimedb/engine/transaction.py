"""A mutable transaction: writes go straight into the committed tables, logged for undo.

Reducer calls on one database run one at a time, so there is never a second reader or writer to
isolate from: applying writes in place makes reads see the transaction's own writes for free and
makes commit cheap (fold the log into a delta). Rollback replays the log backwards. Every write
checks its constraints before changing anything, so a failed write (e.g. a unique violation)
leaves the transaction as it was and usable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spacetimedb.engine.delta import LogEntry, TxDelta, net_delta
from spacetimedb.engine.errors import (
    TransactionStateError,
    UnknownTableOrIndex,
)
from spacetimedb.engine.reads import TableReads
from spacetimedb.module.datastore import Row
from spacetimedb.sats.errors import ConversionError

if TYPE_CHECKING:
    from spacetimedb.engine.database import Database


class MutTx(TableReads):
    """Implements `spacetimedb.module.datastore.Datastore`, plus `commit` and `rollback`."""

    __slots__ = ("_db", "_finders", "_indexes", "_log", "_reads_blocked", "_tables", "unique_finders", "unique_updaters")

    def __init__(self, db: Database) -> None:
        self._db = db
        self._tables = db._tables
        self._indexes = db._indexes
        self._finders = db._finders
        self._log: list[LogEntry] = db._log  # the database's one undo log, empty between transactions
        self._reads_blocked = False
        #: The optional fast path of `Datastore` (see `spacetimedb.module.datastore`): index_id ->
        #: `find(key)` and -> `update(row)`, as `index_find` and `update` without their dispatch.
        #: Valid while this transaction is open (table handles reach it only during a call).
        self.unique_finders = db._finders
        self.unique_updaters = db._updaters

    def _blocked_error(self) -> TransactionStateError:
        return TransactionStateError(
            "this transaction has already been committed or rolled back; begin a new one"
        )

    @property
    def is_open(self) -> bool:
        return not self._reads_blocked

    def insert(self, table_id: int, row: Row) -> Row:
        if self._reads_blocked:
            raise self._blocked_error()
        try:
            table = self._tables[table_id]
        except KeyError:
            raise UnknownTableOrIndex(f"no table with id {table_id} in this database") from None
        if type(row) is not tuple:
            row = tuple(row)
        if len(row) != table.ncols:
            raise ConversionError(
                f"table '{table.name}' has {table.ncols} columns but the row has {len(row)}: {row!r}"
            )
        if table.sequences:
            row = table.fill_sequences(row)
        existing = table.find_same(row)
        if existing is not None:
            return existing  # set semantics: inserting a present row is a no-op
        table.check_insert(row)
        table.add(row)
        self._log.append((table, None, row))
        return row

    def delete(self, table_id: int, row: Row) -> bool:
        if self._reads_blocked:
            raise self._blocked_error()
        table = self._table(table_id)
        stored = table.find_same(tuple(row))
        if stored is None:
            return False
        table.remove(stored)
        self._log.append((table, stored, None))
        return True

    def update(self, index_id: int, row: Row) -> Row:
        """Replace the row with the same key in unique index `index_id`; returns the stored row."""
        if self._reads_blocked:
            raise self._blocked_error()
        return self.unique_updaters[index_id](row)

    def index_delete(self, index_id: int, prefix: tuple[Any, ...]) -> int:
        """Delete the rows `index_filter` would yield; returns how many."""
        if self._reads_blocked:
            raise self._blocked_error()
        ix, table = self._index(index_id)
        rows = ix.filter(prefix)
        log = self._log
        for row in rows:
            table.remove(row)
            log.append((table, row, None))
        return len(rows)

    # ---- ending -----------------------------------------------------------------------------------

    def commit(self) -> TxDelta:
        """Make the writes permanent and return their net effect."""
        if self._reads_blocked:
            raise self._blocked_error()
        self._reads_blocked = True
        db = self._db
        db._tx = None  # inlined Database._end_transaction: this is on every reducer call's path
        db._reads_blocked = False
        log = self._log
        delta = net_delta(log, db._take_sequence_advances() if db._advanced else {})
        log.clear()  # the delta keeps what it needs (fresh lists); the log is the next transaction's
        if db._event_tables:
            for table in db._event_tables:
                if table.store:
                    table.clear()  # event rows reach the delta (subscribers, log), never the state
        return delta

    def rollback(self) -> None:
        """Undo every write of this transaction (sequence values taken stay taken)."""
        if self._reads_blocked:
            raise self._blocked_error()
        self._reads_blocked = True
        for table, old, new in reversed(self._log):
            if new is None:
                table.add(old)  # type: ignore[arg-type]
            elif old is None:
                table.remove(new)
            else:
                table.replace(new, old)
        self._log.clear()
        self._db._end_transaction(self)
