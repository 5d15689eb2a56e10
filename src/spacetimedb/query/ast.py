"""The small typed syntax tree the parser produces: names are still unresolved text.

Only what SpacetimeDB's SQL accepts has a node here; everything else is rejected while parsing,
so later stages never see an unsupported construct.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral

from spacetimedb.query.errors import SqlPosition

CompareOp = TypingLiteral["=", "!=", "<", "<=", ">", ">="]
LiteralKind = TypingLiteral["num", "str", "hex", "bool"]


@dataclass(frozen=True, slots=True)
class ColumnRef:
    """`col` or `table.col`; `table` is the alias or table name as written."""

    table: str | None
    column: str
    pos: SqlPosition | None = None


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal, kept as source text until its column's type is known (`-5`, `1e3`, `'x'`, `ABCD`)."""

    kind: LiteralKind
    text: str
    pos: SqlPosition | None = None

    def __str__(self) -> str:
        if self.kind == "str":
            return "'" + self.text.replace("'", "''") + "'"
        if self.kind == "hex":
            return "0x" + self.text
        return self.text


@dataclass(frozen=True, slots=True)
class SenderParam:
    """The `:sender` parameter: the caller's Identity."""

    pos: SqlPosition | None = None


Operand = ColumnRef | Lit | SenderParam


@dataclass(frozen=True, slots=True)
class Compare:
    op: CompareOp
    left: Operand
    right: Operand
    pos: SqlPosition | None = None


@dataclass(frozen=True, slots=True)
class Logic:
    """`t1 AND t2 AND ...` or `t1 OR t2 OR ...`: chains are kept flat (n-ary), however long."""

    op: TypingLiteral["and", "or"]
    terms: tuple[Expr, ...]


Expr = Compare | Logic | ColumnRef | Lit | SenderParam


@dataclass(frozen=True, slots=True)
class TableRef:
    name: str
    alias: str
    pos: SqlPosition | None = None


@dataclass(frozen=True, slots=True)
class JoinClause:
    table: TableRef
    #: The ON equality, or None for `CROSS JOIN` / `JOIN` without ON.
    on: tuple[ColumnRef, ColumnRef] | None
    pos: SqlPosition | None = None


@dataclass(frozen=True, slots=True)
class Star:
    """`*` (table is None) or `t.*`."""

    table: str | None
    pos: SqlPosition | None = None


@dataclass(frozen=True, slots=True)
class ProjColumn:
    column: ColumnRef
    alias: str


@dataclass(frozen=True, slots=True)
class ProjCount:
    """`COUNT(*) AS alias`."""

    alias: str


Projection = Star | tuple[ProjColumn, ...] | ProjCount


@dataclass(frozen=True, slots=True)
class OrderItem:
    column: ColumnRef
    descending: bool


@dataclass(frozen=True, slots=True)
class SelectStmt:
    projection: Projection
    from_table: TableRef
    joins: tuple[JoinClause, ...] = ()
    where: Expr | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None

    @property
    def tables(self) -> tuple[TableRef, ...]:
        return (self.from_table, *(j.table for j in self.joins))


@dataclass(frozen=True, slots=True)
class InsertStmt:
    table: TableRef
    #: Column names as written, or None for "all columns in order".
    columns: tuple[ColumnRef, ...] | None
    rows: tuple[tuple[Lit, ...], ...]


@dataclass(frozen=True, slots=True)
class UpdateStmt:
    table: TableRef
    assignments: tuple[tuple[ColumnRef, Lit], ...]
    where: Expr | None


@dataclass(frozen=True, slots=True)
class DeleteStmt:
    table: TableRef
    where: Expr | None


Statement = SelectStmt | InsertStmt | UpdateStmt | DeleteStmt


def uses_sender(expr: Expr | None) -> bool:
    """Does this predicate mention `:sender` (making the query's result depend on the caller)?"""
    if expr is None:
        return False
    if isinstance(expr, SenderParam):
        return True
    if isinstance(expr, Compare):
        return isinstance(expr.left, SenderParam) or isinstance(expr.right, SenderParam)
    if isinstance(expr, Logic):
        return any(uses_sender(t) for t in expr.terms)
    return False
