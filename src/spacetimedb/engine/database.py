"""The tables of one database in memory, with serial transactions that yield deltas."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from spacetimedb.engine.delta import DatabaseImage, LogEntry, TxDelta
from spacetimedb.engine.errors import (
    IndexScanUnsupported,
    ReplayMismatch,
    TransactionStateError,
    UnknownTableOrIndex,
)
from spacetimedb.engine.index import Index, UniqueIndex
from spacetimedb.engine.reads import TableReads
from spacetimedb.engine.sequence import Sequence, SequenceKey
from spacetimedb.engine.table import Table
from spacetimedb.engine.transaction import MutTx
from spacetimedb.engine.updater import Updater, unique_updater
from spacetimedb.module.datastore import Row
from spacetimedb.module.schema import IndexSchema, TableSchema
from spacetimedb.sats.errors import SchemaError


class Database(TableReads):
    """All tables of one database. One transaction at a time: `begin()` while one is open raises.

    Outside a transaction, the read methods (scan, count, index_find, index_filter, index_range)
    read the committed state; during one they raise, as the tables then hold uncommitted writes.
    """

    def __init__(self, schemas: Iterable[TableSchema] = ()) -> None:
        self._tables: dict[int, Table] = {}
        self._indexes: dict[int, tuple[Index, Table]] = {}
        self._finders: dict[int, Callable[[Any], Row | None]] = _Finders()
        #: The undo log of the open transaction (one at a time): every MutTx appends to this list,
        #: and commit and rollback empty it. One list, so `unique_updater`s can hold its `append`.
        self._log: list[LogEntry] = []
        #: unique index_id -> `update(row)` (see `engine.updater`), for MutTx and table handles.
        self._updaters: dict[int, Updater] = _Updaters(self)
        self._sequences: dict[SequenceKey, Sequence] = {}
        self._advanced: set[Sequence] = set()
        #: Tables whose rows live only for the transaction that inserts them (`is_event`).
        self._event_tables: list[Table] = []
        self._tx: MutTx | None = None
        self._reads_blocked = False
        for schema in schemas:
            self.add_table(schema)

    # ---- schema ---------------------------------------------------------------------------------

    def add_table(self, schema: TableSchema) -> None:
        """Create an empty table (at construction, or later when a module is republished)."""
        self._require_idle("add a table")
        if schema.table_id in self._tables:
            raise SchemaError(
                f"table id {schema.table_id} ('{schema.name}') is already used in this database"
            )
        table = Table(schema, self._advanced)
        own: set[int] = set()
        for ix in table.indexes:
            if ix.index_id < 0:
                continue  # an implicit primary-key index the module did not declare
            if ix.index_id in self._indexes or ix.index_id in own:
                raise SchemaError(
                    f"index id {ix.index_id} ('{ix.name}') is used twice; index ids are module-wide"
                )
            own.add(ix.index_id)
        self._tables[schema.table_id] = table
        self._register(table)

    def _register(self, table: Table) -> None:
        self._event_tables = [t for t in self._tables.values() if t.schema.is_event]
        for ix in table.indexes:
            if ix.index_id >= 0:
                self._indexes[ix.index_id] = (ix, table)
                self._finders[ix.index_id] = ix.finder()
                if isinstance(ix, UniqueIndex):
                    self._updaters[ix.index_id] = unique_updater(ix, table, self._log)
        for seq in table.sequences:
            self._sequences[seq.key] = seq

    def add_index(self, table_id: int, index: IndexSchema) -> TableSchema:
        """Add an index to a table, keeping its rows (for republish); returns the new schema.

        Raises SchemaError if the index id is taken or if a unique index would find rows
        sharing a key. The table is rebuilt from its rows, so this costs O(rows).
        """
        self._require_idle("add an index")
        old = self._table(table_id)
        if index.index_id in self._indexes:
            raise SchemaError(f"index id {index.index_id} ('{index.name}') is already used in this database")
        schema = dataclasses.replace(old.schema, indexes=(*old.schema.indexes, index))
        self._rebuild_table(old, schema)
        return schema

    def _rebuild_table(self, old: Table, schema: TableSchema) -> None:
        """Swap `old` for a table built from `schema` holding the same rows and sequence positions."""
        table = Table(schema, self._advanced)
        rows = list(old.store.values())
        table.load(rows)
        for ix in table.uniques:
            if len(ix.map) != len(rows):
                raise SchemaError(
                    f"cannot build unique index '{ix.name}' on table '{table.name}': "
                    f"{len(rows) - len(ix.map)} row(s) share a key with another row"
                )
        for seq in table.sequences:
            previous = self._sequences.get(seq.key)
            if previous is not None:
                seq.next_value = previous.next_value
                if previous in self._advanced:
                    self._advanced.discard(previous)
                    self._advanced.add(seq)
        for stale in old.indexes:
            self._indexes.pop(stale.index_id, None)
            self._finders.pop(stale.index_id, None)
            self._updaters.pop(stale.index_id, None)
        self._tables[schema.table_id] = table
        self._register(table)

    def table_schema(self, table_id: int) -> TableSchema:
        return self._table(table_id).schema

    def schemas(self) -> list[TableSchema]:
        return [t.schema for t in self._tables.values()]

    def table(self, table_id: int) -> Table:
        """The live table (for layers that need its indexes); do not mutate it."""
        return self._table(table_id)

    # ---- transactions ---------------------------------------------------------------------------

    def begin(self) -> MutTx:
        if self._tx is not None:
            raise TransactionStateError(
                "a transaction is already open on this database; commit or roll it back first "
                "(reducer calls on one database run one at a time)"
            )
        if self._log:
            self._log.clear()  # left by a commit or rollback that raised half-way
        tx = self._tx = MutTx(self)
        self._reads_blocked = True
        return tx

    @property
    def in_transaction(self) -> bool:
        return self._tx is not None

    def _end_transaction(self, tx: MutTx) -> None:
        assert self._tx is tx
        self._tx = None
        self._reads_blocked = False

    def _take_sequence_advances(self) -> dict[SequenceKey, int]:
        if not self._advanced:
            return {}
        advanced = {seq.key: seq.next_value for seq in self._advanced}
        self._advanced.clear()
        return advanced

    def _blocked_error(self) -> TransactionStateError:
        return TransactionStateError(
            "the committed state cannot be read while a transaction is open; read through the "
            "transaction, or read after it commits or rolls back"
        )

    def _require_idle(self, what: str) -> None:
        if self._tx is not None:
            raise TransactionStateError(f"cannot {what} while a transaction is open")

    # ---- sequences, replay, snapshots -----------------------------------------------------------

    def sequence_state(self) -> dict[SequenceKey, int]:
        """(table_id, column) -> the next value each sequence will hand out."""
        return {key: seq.next_value for key, seq in self._sequences.items()}

    def restore_sequences(self, state: dict[SequenceKey, int], *, monotonic: bool = True) -> None:
        """Set sequence positions from persisted state (by default never moving one backwards)."""
        for key, next_value in state.items():
            seq = self._sequences.get(key)
            if seq is None:
                raise ReplayMismatch(
                    f"persisted sequence {key} (table_id, column) has no auto_inc column here"
                )
            seq.restore(next_value, monotonic=monotonic)

    def apply_delta(self, delta: TxDelta) -> None:
        """Replay a committed delta (crash recovery): deletes, then inserts, then sequences."""
        self._require_idle("apply a delta")
        for table_id, change in delta.tables.items():
            table = self._table(table_id)
            if table.schema.is_event:
                continue  # event rows never stay in the state
            table.replay(change.deletes, change.inserts)
        if delta.sequences:
            self.restore_sequences(delta.sequences)
            self._advanced.difference_update(self._sequences[k] for k in delta.sequences)

    def revert_delta(self, delta: TxDelta) -> None:
        """Undo a just-committed delta (its log record could not be written): the inverse of
        `apply_delta`. Sequence values taken stay taken, as after a rollback."""
        self._require_idle("revert a delta")
        for table_id, change in delta.tables.items():
            table = self._table(table_id)
            if table.schema.is_event:
                continue  # event rows never stayed in the state
            table.replay(list(change.inserts), list(change.deletes))

    def snapshot_image(self) -> DatabaseImage:
        """Every table's rows and every sequence position, as of now (between transactions)."""
        self._require_idle("take a snapshot image")
        return DatabaseImage(
            {tid: list(t.store.values()) for tid, t in self._tables.items()},
            self.sequence_state(),
        )

    def load_image(self, image: DatabaseImage) -> None:
        """Replace all rows and sequence positions with those of `image`."""
        self._require_idle("load an image")
        unknown = set(image.tables) - set(self._tables)
        if unknown:
            raise ReplayMismatch(f"image holds tables {sorted(unknown)} that this database does not have")
        for table_id, table in self._tables.items():
            rows = image.tables.get(table_id, [])
            table.load(rows)
            if len(table.store) != len(rows) or any(len(ix.map) != len(rows) for ix in table.uniques):
                raise ReplayMismatch(
                    f"image of table '{table.name}' holds duplicate rows or duplicate unique keys"
                )
        self.restore_sequences(image.sequences, monotonic=False)
        self._advanced.clear()

    def check_invariants(self) -> None:
        """Verify every index and store against the rows; raises AssertionError naming the fault."""
        from spacetimedb.engine.invariants import check_invariants

        check_invariants(self)


class _Finders(dict[int, Callable[[Any], "Row | None"]]):
    """index_id -> `find(key)`; an unknown id raises UnknownTableOrIndex (handles index it directly)."""

    def __missing__(self, index_id: int) -> Callable[[Any], Row | None]:
        raise UnknownTableOrIndex(f"no index with id {index_id} in this database")


class _Updaters(dict[int, Updater]):
    """unique index_id -> `update(row)`; any other id raises what `MutTx.update` reports for it."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def __missing__(self, index_id: int) -> Updater:
        found = self._db._indexes.get(index_id)
        if found is None:
            raise UnknownTableOrIndex(f"no index with id {index_id} in this database")
        ix, table = found
        raise IndexScanUnsupported(
            f"update needs a unique index, but index '{ix.name}' on table '{table.name}' is not unique"
        )
