"""The tables a query can name, and who may see them.

Private tables resolve only for the database owner; for everyone else they do not exist ("no such
table"), as upstream. Column types are resolved through the module typespace once, here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from spacetimedb.module.schema import IndexSchema, TableSchema
from spacetimedb.query.errors import SqlPosition, SqlUnresolvedError
from spacetimedb.sats.algebraic_type import AlgebraicType, Typespace


class Catalog:
    """Name -> TableSchema lookup with visibility, plus resolved column types and index lookups."""

    def __init__(
        self,
        tables: Iterable[TableSchema],
        typespace: Typespace | None = None,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.tables: dict[str, TableSchema] = {}
        self.by_id: dict[int, TableSchema] = {}
        self._types: dict[int, tuple[AlgebraicType, ...]] = {}
        for t in tables:
            self.tables[t.name] = t
            self.by_id[t.table_id] = t
            cols = tuple(c.algebraic_type for c in t.columns)
            if typespace is not None:
                cols = tuple(typespace.resolve(ty) for ty in cols)
            self._types[t.table_id] = cols
        #: Other accepted names (e.g. accessor names) -> canonical name.
        self.aliases: dict[str, str] = dict(aliases or {})

    def lookup(self, name: str, *, is_owner: bool, pos: SqlPosition | None = None) -> TableSchema:
        table = self.tables.get(name) or self.tables.get(self.aliases.get(name, ""))
        if table is None or not (table.public or is_owner):
            raise SqlUnresolvedError(
                f"no such table: `{name}`. If the table exists, it may be marked private.", pos
            )
        return table

    def visible_tables(self, *, is_owner: bool) -> list[TableSchema]:
        """Every table the caller can read (for `SELECT * FROM *`)."""
        return [t for t in self.tables.values() if t.public or is_owner]

    def column_types(self, table: TableSchema) -> tuple[AlgebraicType, ...]:
        return self._types[table.table_id]

    @staticmethod
    def index_on_column(table: TableSchema, col: int) -> IndexSchema | None:
        """An index whose first column is `col` (so a one-value prefix lookup works), preferring
        single-column and unique ones; btree or hash both answer prefix equality on the full key."""
        best: IndexSchema | None = None
        for ix in table.indexes:
            if not ix.columns or ix.columns[0] != col:
                continue
            if ix.kind == "hash" and len(ix.columns) != 1:
                continue  # a hash index cannot answer a prefix of its key
            rank = (len(ix.columns) == 1, ix.unique)
            if best is None or rank > (len(best.columns) == 1, best.unique):
                best = ix
        return best
