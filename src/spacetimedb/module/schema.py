"""Table schemas as the engine sees them: columns, constraints, indexes, sequences.

The module layer builds these from `@table` classes; the engine, durability, query and server
layers consume them. Rows everywhere below the module layer are plain tuples in column order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from spacetimedb.sats.algebraic_type import AlgebraicType, ProductType, ProductTypeElement

IndexKind = Literal["btree", "hash"]


@dataclass(frozen=True, slots=True)
class ColumnSchema:
    name: str
    #: The column's type; may be a RefType into the module's typespace.
    algebraic_type: AlgebraicType


@dataclass(frozen=True, slots=True)
class IndexSchema:
    """An index over one or more columns. Unique indexes back primary keys and unique constraints."""

    #: Unique across the whole module (every table's indexes share one id space).
    index_id: int
    #: Canonical name, e.g. `player_score_idx_btree` (SpacetimeDB's generated form).
    name: str
    #: The accessor users write (`ctx.db.player.score`), usually the column name.
    accessor: str
    columns: tuple[int, ...]
    unique: bool
    kind: IndexKind = "btree"


@dataclass(frozen=True, slots=True)
class SequenceSchema:
    """An auto-increment sequence on one integer column: inserting 0 takes the next value."""

    column: int
    start: int = 1
    increment: int = 1
    min_value: int = 1
    max_value: int | None = None


@dataclass(frozen=True, slots=True)
class TableSchema:
    table_id: int
    #: Canonical (wire/SQL) name, snake_case.
    name: str
    columns: tuple[ColumnSchema, ...]
    primary_key: int | None = None
    indexes: tuple[IndexSchema, ...] = ()
    sequences: tuple[SequenceSchema, ...] = ()
    public: bool = False
    #: For schedule tables: the reducer the rows fire and the ScheduleAt column.
    schedule_reducer: str | None = None
    schedule_at_column: int | None = None
    is_event: bool = False
    #: Index of the row type in the module typespace (RawTableDef.product_type_ref), if known.
    product_type_ref: int | None = None
    column_index: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.column_index:
            self.column_index.update({c.name: i for i, c in enumerate(self.columns)})

    @property
    def row_type(self) -> ProductType:
        return ProductType(tuple(ProductTypeElement(c.name, c.algebraic_type) for c in self.columns))

    def index_on(self, columns: tuple[int, ...]) -> IndexSchema | None:
        for ix in self.indexes:
            if ix.columns == columns:
                return ix
        return None

    @property
    def primary_index(self) -> IndexSchema | None:
        if self.primary_key is None:
            return None
        return self.index_on((self.primary_key,))
