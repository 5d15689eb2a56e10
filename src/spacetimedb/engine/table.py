"""One table: its rows, its indexes and its sequences.

Rows live in one dict, the *store*. When the table has a unique index (the primary key if there
is one, else its first unique index), that index's key -> row dict is the store, so a primary-key
table keeps each row exactly once plus one dict entry. A table without any unique index keys its
store by the row's identity (set semantics need that lookup anyway).

Row identity is byte-for-byte, as upstream's (floats by bit pattern: -0.0 and 0.0 are two rows,
two NaNs with the same bits one). Which form it takes is decided here once from the column types
(`keys.row_identity_fn`), so tables without float columns keep Python equality and pay nothing.

The mutators here are blind: `add`, `remove` and `replace` trust the caller (`MutTx`) to have
checked constraints with `find_same`, `check_insert` and `check_update` first, so that a failing
write changes nothing.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from spacetimedb.engine.errors import ReplayMismatch, UniqueConstraintViolation
from spacetimedb.engine.index import Index, MultiIndex, UniqueIndex
from spacetimedb.engine.keys import KeyFn, is_float_column, is_key_raw_column, is_raw_column, row_identity_fn
from spacetimedb.engine.sequence import Sequence
from spacetimedb.module.datastore import Row
from spacetimedb.module.schema import IndexSchema, TableSchema
from spacetimedb.sats.errors import SchemaError


def _same_object(row: Row) -> Hashable:
    return row


class Table:
    def __init__(self, schema: TableSchema, dirty_sequences: set[Sequence]) -> None:
        self.schema = schema
        self.table_id = schema.table_id
        self.name = schema.name
        self.ncols = len(schema.columns)
        self.raw = tuple(is_raw_column(c.algebraic_type) for c in schema.columns)
        exact = row_identity_fn(self.raw, tuple(is_float_column(c.algebraic_type) for c in schema.columns))
        #: Rows are hashable and compare equal exactly when byte-identical (all columns primitive
        #: or special, none a float): the row is its own identity and `==` decides sameness.
        self.raw_rows = exact is None
        #: Row -> its byte-exact identity (hashable): for set semantics and delta netting.
        self.row_key: KeyFn = _same_object if exact is None else exact
        self.indexes: list[Index] = []
        self.primary: UniqueIndex | None = None
        self.store: dict[Hashable, Row] = {}
        #: Row -> its store key: `row_key`, or the primary index's key when there is one.
        self.identity: KeyFn = self.row_key

        index_schemas = list(schema.indexes)
        pk = schema.primary_key
        if pk is not None and not any(ix.unique and ix.columns == (pk,) for ix in index_schemas):
            # Primary keys are always unique; index them even if the module listed no index.
            implicit = IndexSchema(
                index_id=-1, name=f"{schema.name}_pk_implicit", accessor="", columns=(pk,), unique=True, kind="hash"
            )
            index_schemas.insert(0, implicit)
        uniques = [ix for ix in index_schemas if ix.unique]
        primary_schema = next((ix for ix in uniques if ix.columns == (pk,)), uniques[0] if uniques else None)
        if primary_schema is not None:
            primary = self._make_index(primary_schema)
            assert isinstance(primary, UniqueIndex)
            self.primary = primary
            self.indexes.append(primary)
            self.store = primary.map
            self.identity = primary.key_of
        for ix_schema in index_schemas:
            if ix_schema is not primary_schema:
                self.indexes.append(self._make_index(ix_schema))
        self.uniques: list[UniqueIndex] = [ix for ix in self.indexes if isinstance(ix, UniqueIndex)]
        for ix in self.indexes:
            ix.siblings = [other for other in self.indexes if other is not ix]
            ix.unique_siblings = [other for other in self.uniques if other is not ix]
        self.sequences = [Sequence(schema, s, dirty_sequences) for s in schema.sequences]

    def _make_index(self, ix: IndexSchema) -> Index:
        for c in ix.columns:
            if not 0 <= c < self.ncols:
                raise SchemaError(
                    f"index '{ix.name}' on table '{self.name}' names column {c}, which does not exist"
                )
        if not ix.columns:
            raise SchemaError(f"index '{ix.name}' on table '{self.name}' has no columns")
        names = tuple(self.schema.columns[c].name for c in ix.columns)
        raw = tuple(is_key_raw_column(self.schema.columns[c].algebraic_type) for c in ix.columns)
        if ix.unique:
            return UniqueIndex(ix, self.name, names, raw)
        return MultiIndex(ix, self.name, names, raw, self.identity)

    # ---- reads ----------------------------------------------------------------------------------

    def rows(self) -> Iterable[Row]:
        return self.store.values()

    def same_row(self, a: Row, b: Row) -> bool:
        """Byte-identical rows (Python's `==` would merge -0.0 and 0.0 and split NaNs)."""
        if self.raw_rows:
            return a == b
        return a is b or self.row_key(a) == self.row_key(b)

    def find_same(self, row: Row) -> Row | None:
        """The stored row identical to `row`, if any."""
        if self.primary is None:
            return self.store.get(self.identity(row))
        stored = self.store.get(self.primary.key_of(row))
        if stored is not None and (stored == row if self.raw_rows else self.same_row(stored, row)):
            return stored
        return None

    # ---- constraint checks (raise before anything changes) -------------------------------------

    def check_insert(self, row: Row) -> None:
        for ix in self.uniques:
            if ix.key_of(row) in ix.map:
                raise self.violation(ix, row)

    def check_update(self, old: Row, new: Row, through: Index) -> None:
        """Would replacing `old` by `new` (same key in `through`) collide in another unique index?"""
        for ix in through.unique_siblings:
            hit = ix.map.get(ix.key_of(new))
            if hit is not None and hit is not old:
                raise self.violation(ix, new)

    def violation(self, ix: Index, row: Row) -> UniqueConstraintViolation:
        value: Any = row[ix.columns[0]] if len(ix.columns) == 1 else tuple(row[c] for c in ix.columns)
        return UniqueConstraintViolation(self.name, ix.name, ix.column_names, value)

    # ---- blind mutators -------------------------------------------------------------------------

    def add(self, row: Row) -> None:
        if self.primary is None:
            self.store[self.identity(row)] = row
        done = 0
        try:
            for ix in self.indexes:
                ix.add(row)
                done += 1
        except BaseException:
            # A key that cannot be formed (an unhashable value in an indexed column): undo, so
            # the failed write leaves nothing behind.
            for ix in self.indexes[:done]:
                ix.remove(row)
            if self.primary is None:
                del self.store[self.identity(row)]
            raise

    def remove(self, row: Row) -> None:
        if self.primary is None:
            del self.store[self.identity(row)]
        for ix in self.indexes:
            ix.remove(row)

    def replace(self, old: Row, new: Row) -> None:
        """Swap `old` (stored) for `new`; only tables with a unique index get here (via update)."""
        for ix in self.indexes:
            ix.replace(old, new)

    def replay(self, deletes: list[Row], inserts: list[Row]) -> None:
        """Apply a committed delta's rows (recovery). Raises ReplayMismatch if they do not fit."""
        primary = self.primary
        if primary is None or len(self.indexes) > 1 or primary.sorted_keys is not None:
            for row in deletes:
                stored = self.find_same(row)
                if stored is None:
                    raise ReplayMismatch(f"replayed delete of a row not in table '{self.name}': {row!r}")
                self.remove(stored)
            for row in inserts:
                try:
                    self.check_insert(row)
                except UniqueConstraintViolation as e:
                    raise ReplayMismatch(f"replayed insert clashes with a present row: {e}") from e
                self.add(row)
            return
        # The primary key is the only index and has no sorted keys: swap rows in place, as update does.
        store = self.store
        key_of = primary.key_of
        vacated = set()
        for row in deletes:
            key = key_of(row)
            stored = store.get(key)
            if stored is None or not (stored == row if self.raw_rows else self.same_row(stored, row)):
                raise ReplayMismatch(f"replayed delete of a row not in table '{self.name}': {row!r}")
            vacated.add(key)
        for row in inserts:
            key = key_of(row)
            if key in vacated:
                vacated.discard(key)
            elif key in store:
                raise ReplayMismatch(
                    f"replayed insert into table '{self.name}' clashes with a present row: {row!r}"
                )
            store[key] = row
        for key in vacated:
            del store[key]

    def fill_sequences(self, row: Row) -> Row:
        """Replace 0 in every auto_inc column with the column's next value."""
        for seq in self.sequences:
            col = seq.column
            if row[col] == 0:
                row = (*row[:col], seq.take(), *row[col + 1 :])
        return row

    def clear(self) -> None:
        """Remove every row (no log: for event tables at commit)."""
        for ix in self.indexes:
            ix.build(())
        if self.primary is None:
            self.store.clear()

    def load(self, rows: Iterable[Row]) -> None:
        """Replace every row, rebuilding all indexes (no constraint checks)."""
        rows = list(rows)
        for ix in self.indexes:
            ix.build(rows)
        if self.primary is None:
            identity = self.identity
            self.store.clear()
            self.store.update((identity(r), r) for r in rows)
