"""Name resolution and type checking: `ast` statements to `bound` structures.

Error messages follow upstream's (`crates/expr/src/errors.rs`): "`x` is not in scope",
"`t` does not have a field `c`", "Duplicate name `t`", "Unexpected type: (expected) A != B (inferred)".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spacetimedb.module.schema import TableSchema
from spacetimedb.query import ast
from spacetimedb.query.bound import (
    FLIPPED,
    BCol,
    BCompare,
    BConst,
    BExpr,
    BJoin,
    BOperand,
    BProjColumn,
    BSelect,
    logic,
)
from spacetimedb.query.catalog import Catalog
from spacetimedb.query.errors import (
    SqlLimitError,
    SqlPosition,
    SqlTypeError,
    SqlUnresolvedError,
    SqlUnsupportedError,
)
from spacetimedb.query.limits import MAX_JOIN_TABLES
from spacetimedb.query.literals import convert_literal, is_comparable, sender_value, type_name
from spacetimedb.sats.algebraic_type import BOOL, BYTES, IDENTITY, AlgebraicType
from spacetimedb.sats.special import Identity


@dataclass(slots=True)
class Scope:
    """The relations of one FROM clause, by alias, in order."""

    catalog: Catalog
    tables: list[TableSchema] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)

    def add(self, table: TableSchema, alias: str, pos: SqlPosition | None) -> int:
        if alias in self.aliases:
            raise SqlUnresolvedError(
                f"Duplicate name `{alias}`: give each table in the FROM clause its own alias "
                f"(e.g. `{table.name} AS a JOIN {table.name} AS b`)",
                pos,
            )
        self.tables.append(table)
        self.aliases.append(alias)
        return len(self.tables) - 1

    def column(self, ref: ast.ColumnRef) -> BCol:
        if ref.table is None:
            if len(self.tables) > 1:
                raise SqlUnsupportedError(
                    f"Names must be qualified when using joins: write `<table>.{ref.column}`", ref.pos
                )
            rel = 0
        else:
            if ref.table not in self.aliases:
                raise SqlUnresolvedError(f"`{ref.table}` is not in scope", ref.pos)
            rel = self.aliases.index(ref.table)
        table = self.tables[rel]
        col = table.column_index.get(ref.column)
        if col is None:
            raise SqlUnresolvedError(f"`{table.name}` does not have a field `{ref.column}`", ref.pos)
        return BCol(rel, col, self.catalog.column_types(table)[col])


class Binder:
    def __init__(self, catalog: Catalog, *, is_owner: bool, sender: Identity | None) -> None:
        self.catalog = catalog
        self.is_owner = is_owner
        self.sender = sender

    # ---- FROM and SELECT -------------------------------------------------------------------

    def scope_of(self, stmt: ast.SelectStmt) -> tuple[Scope, tuple[BJoin | None, ...]]:
        if len(stmt.tables) > MAX_JOIN_TABLES:
            raise SqlLimitError(
                f"Too many tables in one query: {len(stmt.tables)}, at most {MAX_JOIN_TABLES} can be joined",
                stmt.joins[MAX_JOIN_TABLES - 1].pos,
            )
        scope = Scope(self.catalog)
        first = stmt.from_table
        scope.add(
            self.catalog.lookup(first.name, is_owner=self.is_owner, pos=first.pos), first.alias, first.pos
        )
        joins: list[BJoin | None] = []
        for j in stmt.joins:
            table = self.catalog.lookup(j.table.name, is_owner=self.is_owner, pos=j.table.pos)
            rel = scope.add(table, j.table.alias, j.table.pos)
            joins.append(None if j.on is None else self.join_on(scope, rel, j.on, j.pos))
        return scope, tuple(joins)

    def join_on(
        self, scope: Scope, rel: int, on: tuple[ast.ColumnRef, ast.ColumnRef], pos: SqlPosition | None
    ) -> BJoin:
        a, b = scope.column(on[0]), scope.column(on[1])
        if a.rel == rel and b.rel != rel:
            a, b = b, a
        if b.rel != rel or a.rel == rel:
            raise SqlUnsupportedError(
                "A join's ON clause must compare a column of the joined table with a column of an earlier table",
                pos,
            )
        # ON is typed as WHERE is (upstream `type_expr`): Options, sums, arrays ... cannot be compared.
        if not is_comparable(a.ty):
            raise SqlTypeError(f"Invalid binary operator `=` for type `{type_name(a.ty)}`", on[0].pos)
        self.check_same_type(a.ty, b.ty, on[1].pos)
        return BJoin(a, b)

    def select(self, stmt: ast.SelectStmt) -> BSelect:
        scope, joins = self.scope_of(stmt)
        where = self.predicate(scope, stmt.where) if stmt.where is not None else None
        order = tuple((scope.column(o.column), o.descending) for o in stmt.order_by)
        proj = stmt.projection
        common = dict(tables=tuple(scope.tables), joins=joins, where=where, order_by=order, limit=stmt.limit)
        if isinstance(proj, ast.Star):
            if proj.table is None:
                if len(scope.tables) > 1:
                    raise SqlUnsupportedError(
                        "SELECT * is not supported for joins: select one table's rows with "
                        f"`SELECT {scope.aliases[0]}.* ...`",
                        proj.pos,
                    )
                return BSelect(star_rel=0, **common)  # type: ignore[arg-type]
            if proj.table not in scope.aliases:
                raise SqlUnresolvedError(f"`{proj.table}` is not in scope", proj.pos)
            return BSelect(star_rel=scope.aliases.index(proj.table), **common)  # type: ignore[arg-type]
        if isinstance(proj, ast.ProjCount):
            return BSelect(count_alias=proj.alias, **common)  # type: ignore[arg-type]
        names: set[str] = set()
        cols = []
        for item in proj:
            if item.alias in names:
                raise SqlUnresolvedError(f"Duplicate name `{item.alias}` in the SELECT list", item.column.pos)
            names.add(item.alias)
            cols.append(BProjColumn(scope.column(item.column), item.alias))
        return BSelect(columns=tuple(cols), **common)  # type: ignore[arg-type]

    # ---- predicates ----------------------------------------------------------------------------

    def check_same_type(self, expected: AlgebraicType, got: AlgebraicType, pos: SqlPosition | None) -> None:
        if expected != got:
            raise SqlTypeError(
                f"Unexpected type: (expected) {type_name(expected)} != {type_name(got)} (inferred)", pos
            )

    def predicate(self, scope: Scope, expr: ast.Expr) -> BExpr:
        if isinstance(expr, ast.Logic):
            bound = logic(expr.op, [self.predicate(scope, t) for t in expr.terms])
            assert bound is not None  # a Logic has at least two terms
            return bound
        if isinstance(expr, ast.Compare):
            return self.compare(scope, expr)
        if isinstance(expr, ast.ColumnRef):
            col = scope.column(expr)
            self.check_same_type(BOOL, col.ty, expr.pos)
            return col
        if isinstance(expr, ast.Lit):
            return BConst(convert_literal(expr, BOOL), BOOL)
        raise SqlTypeError("Unexpected type: (expected) Bool != Identity (inferred) for `:sender`", expr.pos)

    def compare(self, scope: Scope, cmp: ast.Compare) -> BCompare:
        op, left, right = cmp.op, cmp.left, cmp.right
        # Put a column (or failing that, :sender) on the left so the literal is typed by it.
        if not isinstance(left, ast.ColumnRef) and isinstance(right, ast.ColumnRef | ast.SenderParam):
            op, left, right = FLIPPED[op], right, left
        lhs: BOperand
        if isinstance(left, ast.ColumnRef):
            lhs = scope.column(left)
        elif isinstance(left, ast.SenderParam):
            lhs = BConst(self.sender_for(IDENTITY, left.pos), IDENTITY)
        else:
            raise SqlTypeError(
                f"Cannot resolve type for literal expression `{left}`: compare a literal with a column",
                left.pos,
            )
        ty = lhs.ty
        if not is_comparable(ty):
            raise SqlTypeError(f"Invalid binary operator `{op}` for type `{type_name(ty)}`", cmp.pos)
        rhs: BOperand
        if isinstance(right, ast.ColumnRef):
            rhs = scope.column(right)
            self.check_same_type(ty, rhs.ty, right.pos)
        elif isinstance(right, ast.SenderParam):
            if ty != IDENTITY and ty != BYTES:
                raise SqlTypeError(
                    f"Unexpected type: (expected) {type_name(ty)} != Identity (inferred) for `:sender`",
                    right.pos,
                )
            rhs = BConst(self.sender_for(ty, right.pos), ty)
        else:
            rhs = BConst(convert_literal(right, ty), ty)
        return BCompare(op, lhs, rhs)

    def sender_for(self, ty: AlgebraicType, pos: SqlPosition | None) -> object:
        if self.sender is None:
            raise SqlUnresolvedError("`:sender` is only available when the query has a caller identity", pos)
        return sender_value(self.sender, ty)
