"""Auto-increment sequences: inserting 0 into the column takes the next value.

A value once handed out is never handed out again: advances are not undone when a transaction
rolls back (as upstream), and every commit reports the sequences that moved since the previous
commit, so durability can persist them (`TxDelta.sequences`). Unlike upstream, which wraps around
to min_value, an exhausted sequence raises `SequenceExhausted`: wrapping would hand values out twice.
"""

from __future__ import annotations

from spacetimedb.engine.errors import SequenceExhausted
from spacetimedb.module.schema import SequenceSchema, TableSchema
from spacetimedb.sats.algebraic_type import INT_KINDS, PrimitiveType, int_range
from spacetimedb.sats.errors import SchemaError

#: How a sequence is named in `sequence_state()` and `TxDelta.sequences`: (table_id, column).
SequenceKey = tuple[int, int]


class Sequence:
    __slots__ = ("column", "dirty", "increment", "key", "max_value", "min_value", "next_value", "table_name")

    def __init__(self, table: TableSchema, schema: SequenceSchema, dirty: set[Sequence]) -> None:
        column = table.columns[schema.column]
        ty = column.algebraic_type
        if not (isinstance(ty, PrimitiveType) and ty.kind in INT_KINDS):
            raise SchemaError(
                f"auto_inc column '{table.name}.{column.name}' has type {ty!r}; "
                "auto-increment needs an integer column (u8..u256, i8..i256)"
            )
        type_min, type_max = int_range(ty.kind)
        self.min_value = max(schema.min_value, type_min)
        self.max_value = type_max if schema.max_value is None else min(schema.max_value, type_max)
        if schema.increment == 0:
            raise SchemaError(f"sequence on '{table.name}.{column.name}' has increment 0; use a nonzero step")
        if not self.min_value <= schema.start <= self.max_value:
            raise SchemaError(
                f"sequence on '{table.name}.{column.name}' starts at {schema.start}, outside "
                f"[{self.min_value}, {self.max_value}]"
            )
        self.key: SequenceKey = (table.table_id, schema.column)
        self.table_name = f"{table.name}.{column.name}"
        self.column = schema.column
        self.increment = schema.increment
        self.next_value = schema.start
        #: The database's set of sequences advanced since the last commit (shared).
        self.dirty = dirty

    def take(self) -> int:
        value = self.next_value
        if not self.min_value <= value <= self.max_value:
            raise SequenceExhausted(
                f"auto_inc column '{self.table_name}' has used every value up to {self.max_value if self.increment > 0 else self.min_value}; "
                "widen the column type or stop inserting 0 into it"
            )
        self.next_value = value + self.increment
        self.dirty.add(self)
        return value

    def restore(self, next_value: int, *, monotonic: bool = True) -> None:
        """Move to a persisted position; when monotonic, never backwards (replay cannot reissue values)."""
        if not monotonic:
            self.next_value = next_value
        elif self.increment > 0:
            self.next_value = max(self.next_value, next_value)
        else:
            self.next_value = min(self.next_value, next_value)
