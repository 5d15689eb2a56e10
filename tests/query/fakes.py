"""A small in-memory committed state with set semantics and call counting, for query tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from spacetimedb.module.datastore import Row
from spacetimedb.module.schema import ColumnSchema, IndexSchema, TableSchema
from spacetimedb.sats.algebraic_type import AlgebraicType


def make_table(
    table_id: int,
    name: str,
    columns: list[tuple[str, AlgebraicType]],
    *,
    indexed: tuple[str, ...] = (),
    primary_key: str | None = None,
    public: bool = True,
    is_event: bool = False,
) -> TableSchema:
    cols = tuple(ColumnSchema(n, t) for n, t in columns)
    names = [c.name for c in cols]
    idx = []
    for i, col in enumerate(indexed):
        pos = names.index(col)
        idx.append(
            IndexSchema(table_id * 100 + i, f"{name}_{col}_idx_btree", col, (pos,), col == primary_key)
        )
    return TableSchema(
        table_id,
        name,
        cols,
        primary_key=names.index(primary_key) if primary_key else None,
        indexes=tuple(idx),
        public=public,
        is_event=is_event,
    )


class FakeState:
    """Committed rows per table (insertion-ordered set), plus the Datastore read/write methods."""

    def __init__(self, tables: list[TableSchema]) -> None:
        self.tables = {t.table_id: t for t in tables}
        self.rows: dict[int, dict[Row, None]] = {t.table_id: {} for t in tables}
        self.indexes: dict[int, tuple[int, tuple[int, ...]]] = {
            ix.index_id: (t.table_id, ix.columns) for t in tables for ix in t.indexes
        }
        self.calls: Counter[tuple[str, int]] = Counter()

    # ---- reads --------------------------------------------------------------------------------

    def scan(self, table_id: int) -> Iterator[Row]:
        self.calls["scan", table_id] += 1
        return iter(list(self.rows[table_id]))

    def count(self, table_id: int) -> int:
        return len(self.rows[table_id])

    def index_filter(self, index_id: int, prefix: tuple[Any, ...]) -> Iterator[Row]:
        table_id, cols = self.indexes[index_id]
        self.calls["index_filter", table_id] += 1
        n = len(prefix)
        return iter([r for r in self.rows[table_id] if tuple(r[c] for c in cols[:n]) == prefix])

    def index_find(self, index_id: int, key: Any) -> Row | None:
        prefix = key if isinstance(key, tuple) else (key,)
        return next(self.index_filter(index_id, prefix), None)

    # ---- writes (as a Datastore transaction without isolation) -----------------------------------

    def insert(self, table_id: int, row: Row) -> Row:
        self.rows[table_id][row] = None
        return row

    def delete(self, table_id: int, row: Row) -> bool:
        return self.rows[table_id].pop(row, 0) is None

    def update(self, index_id: int, row: Row) -> Row:
        table_id, cols = self.indexes[index_id]
        key = tuple(row[c] for c in cols)
        old = next(r for r in self.rows[table_id] if tuple(r[c] for c in cols) == key)
        del self.rows[table_id][old]
        self.rows[table_id][row] = None
        return row

    # ---- transactions -------------------------------------------------------------------------

    def commit(
        self, inserts: dict[int, list[Row]] | None = None, deletes: dict[int, list[Row]] | None = None
    ) -> dict[int, tuple[list[Row], list[Row]]]:
        """Apply deletes then inserts; returns the netted delta {table_id: (inserted, deleted)}."""
        before = {tid: set(rows) for tid, rows in self.rows.items()}
        for tid, rows in (deletes or {}).items():
            for r in rows:
                self.rows[tid].pop(r, None)
        for tid, rows in (inserts or {}).items():
            for r in rows:
                self.rows[tid][r] = None
        delta = {}
        for tid in set(inserts or {}) | set(deletes or {}):
            after = set(self.rows[tid])
            ins = [r for r in self.rows[tid] if r not in before[tid]]
            dels = [r for r in before[tid] if r not in after]
            if ins or dels:
                delta[tid] = (ins, dels)
        return delta
