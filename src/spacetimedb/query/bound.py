"""Resolved (bound) query structures: names replaced by table schemas and column positions,
literals converted to column values. These are frozen and hashable, so a bound query is its own
canonical key: two texts that differ only in spacing, quoting or aliases bind to equal values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from spacetimedb.module.schema import TableSchema
from spacetimedb.query.ast import CompareOp
from spacetimedb.sats.algebraic_type import AlgebraicType

#: `a op b` is the same as `b FLIPPED[op] a`.
FLIPPED: dict[CompareOp, CompareOp] = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True, slots=True)
class BCol:
    """Column `col` of the `rel`-th relation in FROM order."""

    rel: int
    col: int
    ty: AlgebraicType


@dataclass(frozen=True, slots=True)
class BConst:
    value: Any
    ty: AlgebraicType


BOperand = BCol | BConst


@dataclass(frozen=True, slots=True)
class BCompare:
    op: CompareOp
    left: BOperand
    right: BOperand


@dataclass(frozen=True, slots=True)
class BLogic:
    """An n-ary AND / OR (at least two terms; nested terms of the same operator are flattened)."""

    op: Literal["and", "or"]
    terms: tuple[BExpr, ...]


BExpr = BCompare | BLogic | BCol | BConst


def conjuncts(expr: BExpr | None) -> list[BExpr]:
    """The top-level AND terms of a predicate."""
    if expr is None:
        return []
    if isinstance(expr, BLogic) and expr.op == "and":
        return [t for term in expr.terms for t in conjuncts(term)]
    return [expr]


def and_all(terms: list[BExpr]) -> BExpr | None:
    return logic("and", terms)


def logic(op: Literal["and", "or"], terms: list[BExpr]) -> BExpr | None:
    """`terms` joined by `op`, flattening nested terms of the same operator (None for no terms)."""
    flat: list[BExpr] = []
    for t in terms:
        if isinstance(t, BLogic) and t.op == op:
            flat.extend(t.terms)
        else:
            flat.append(t)
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else BLogic(op, tuple(flat))


def rels_of(expr: BExpr) -> frozenset[int]:
    """Which relations a predicate reads."""
    if isinstance(expr, BCol):
        return frozenset((expr.rel,))
    if isinstance(expr, BConst):
        return frozenset()
    if isinstance(expr, BLogic):
        return frozenset().union(*(rels_of(t) for t in expr.terms))
    return rels_of(expr.left) | rels_of(expr.right)


@dataclass(frozen=True, slots=True)
class BJoin:
    """`ON left = right`, where `right.rel` is the relation this join adds and `left.rel` an earlier one."""

    left: BCol
    right: BCol


@dataclass(frozen=True, slots=True)
class BProjColumn:
    column: BCol
    alias: str


@dataclass(frozen=True, slots=True)
class BSelect:
    tables: tuple[TableSchema, ...]
    #: One entry per table after the first: its ON equality, or None for a cross join.
    joins: tuple[BJoin | None, ...]
    where: BExpr | None
    #: ("star", rel) returns whole rows of one relation; ("columns", ...) a projection; ("count", alias).
    star_rel: int | None = None
    columns: tuple[BProjColumn, ...] = ()
    count_alias: str | None = None
    order_by: tuple[tuple[BCol, bool], ...] = ()
    limit: int | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        """Hashable identity of the query (schemas by table id)."""
        return (
            tuple(t.table_id for t in self.tables),
            self.joins,
            self.where,
            self.star_rel,
            self.columns,
            self.count_alias,
            self.order_by,
            self.limit,
        )
