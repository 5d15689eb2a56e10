"""Ad-hoc SQL (`POST /sql`, OneOffQuery): SELECT with projections, COUNT(*), joins, ORDER BY, LIMIT,
and, for the database owner, INSERT / UPDATE / DELETE run through a mutable transaction.

The result of each statement has the shape of upstream's `SqlStmtResult`: a schema (ProductType
of the result columns), rows (tuples), the duration and the DML row counts. The caller owns the
transaction: it commits DML like a reducer's writes (and broadcasts the delta) or rolls it back.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from spacetimedb.module.datastore import Datastore, Row
from spacetimedb.module.schema import TableSchema
from spacetimedb.query import ast
from spacetimedb.query.access import ReadState, const_eq, make_probe, seek
from spacetimedb.query.binder import Binder, Scope
from spacetimedb.query.bound import BExpr, BSelect, and_all, conjuncts, rels_of
from spacetimedb.query.catalog import Catalog
from spacetimedb.query.codegen import Predicate, compile_predicate, weight_of
from spacetimedb.query.errors import SqlExecutionError, SqlPermissionError, SqlUnresolvedError
from spacetimedb.query.limits import MAX_SQL_LENGTH, RowBudget, budget_of
from spacetimedb.query.literals import convert_literal
from spacetimedb.query.parser import parse_sql
from spacetimedb.sats.algebraic_type import U64, ProductType, ProductTypeElement
from spacetimedb.sats.errors import SpacetimeError
from spacetimedb.sats.special import Identity


@dataclass(slots=True)
class SqlStats:
    rows_inserted: int = 0
    rows_deleted: int = 0
    rows_updated: int = 0


@dataclass(slots=True)
class SqlStmtResult:
    """One statement's answer, as the `/sql` JSON (`SqlStmtResult` upstream) before encoding."""

    schema: ProductType
    rows: list[Row]
    total_duration_micros: int = 0
    stats: SqlStats = field(default_factory=SqlStats)

    @property
    def is_dml(self) -> bool:
        return not self.schema.elements and not self.rows


def execute_sql(
    sql: str,
    catalog: Catalog,
    store: Datastore | ReadState,
    *,
    sender: Identity | None = None,
    is_owner: bool = False,
    row_budget: int | None = None,
    max_length: int | None = MAX_SQL_LENGTH,
) -> list[SqlStmtResult]:
    """Run one SQL statement; returns one result per statement (always one: multi-statement text is rejected).

    `store` may be committed state for a SELECT; DML needs a mutable transaction (`Datastore`).
    `row_budget` bounds the rows a SELECT may read or produce (None: unbounded); `max_length` the
    length of `sql` (None: any). Raises an `SqlError` subclass on any problem (`SqlLimitError`
    past a limit); DML writes already made stay in `store`, so the caller rolls the transaction
    back on error.
    """
    started = time.perf_counter()
    stmt = parse_sql(sql, "sql", max_length=max_length)
    binder = Binder(catalog, is_owner=is_owner, sender=sender)
    if isinstance(stmt, ast.SelectStmt):
        result = run_select(binder.select(stmt), catalog, store, budget_of(row_budget))
    else:
        if not is_owner:
            raise SqlPermissionError(
                "Only the database owner may run INSERT, UPDATE or DELETE; call a reducer to change data"
            )
        ds: Any = store
        if isinstance(stmt, ast.InsertStmt):
            result = _insert(binder, stmt, catalog, ds)
        elif isinstance(stmt, ast.UpdateStmt):
            result = _update(binder, stmt, catalog, ds)
        else:
            result = _delete(binder, stmt, catalog, ds)
    result.total_duration_micros = int((time.perf_counter() - started) * 1_000_000)
    return [result]


# ---- SELECT --------------------------------------------------------------------------------------

Combo = tuple[Row, ...]


def _joined(select: BSelect, state: ReadState, budget: RowBudget | None = None) -> Iterator[Combo]:
    """Every combination of rows (one per relation) satisfying the joins and WHERE, lazily.

    Nested loops, depth first: a consumer that stops early (LIMIT) stops the evaluation, and no
    intermediate product is built. Each filter runs as soon as the relations it reads are bound.
    `budget` is charged for every row read from a table or index and every cross-join pairing.
    """
    n = len(select.tables)
    own: list[list[BExpr]] = [[] for _ in range(n)]  # terms reading relation i only
    cross: list[list[BExpr]] = [[] for _ in range(n)]  # terms reading relation i and earlier ones
    for t in conjuncts(select.where):
        rels = rels_of(t)
        (own if len(rels) <= 1 else cross)[max(rels, default=0)].append(t)
    own_preds = [_compile(own[i], (i,)) for i in range(n)]
    cross_preds = [_compile(cross[i], tuple(range(i + 1))) for i in range(n)]

    first = select.tables[0]
    pred0 = own_preds[0]
    rows0: Iterable[Row] = seek(state, first, const_eq(own[0], 0, first))
    if budget is not None:
        rows0 = budget.counted(rows0, weight_of(pred0))
    if pred0 is not None:
        rows0 = (r for r in rows0 if pred0(r))
    if n == 1:
        return ((r,) for r in rows0)

    # Per later relation: rows for a partial combination (an index/hash probe, or the whole
    # filtered table for a cross join, read once).
    sources: list[Callable[[Combo], list[Row]]] = []
    for i in range(1, n):
        sources.append(_source(select, state, i, own_preds[i], cross_preds[i], budget))

    def extend(i: int, combos: Iterable[Combo]) -> Iterator[Combo]:
        source, pred = sources[i - 1], cross_preds[i]
        for c in combos:
            for r in source(c):
                combo = (*c, r)
                if pred is None or pred(*combo):
                    yield combo

    combos: Iterable[Combo] = ((r,) for r in rows0)
    for i in range(1, n):
        combos = extend(i, combos)
    return iter(combos)


def _compile(terms: list[BExpr], rels: tuple[int, ...]) -> Predicate | None:
    expr = and_all(terms)
    return None if expr is None else compile_predicate(expr, rels)


def _source(
    select: BSelect,
    state: ReadState,
    i: int,
    pred: Predicate | None,
    cross_pred: Predicate | None,
    budget: RowBudget | None,
) -> Callable[[Combo], list[Row]]:
    """Rows of relation `i` for one combination of the earlier ones, filtered by `pred` (its own
    terms); `cross_pred` (terms over it and earlier relations) is the caller's, weighed here."""
    table = select.tables[i]
    join = select.joins[i - 1]
    if join is None:
        rows: Iterable[Row] = state.scan(table.table_id)
        if budget is not None:
            rows = budget.counted(rows, weight_of(pred))
        everything = [r for r in rows if pred is None or pred(r)]
        if budget is None:
            return lambda c: everything
        cost = len(everything) * weight_of(cross_pred)

        def pairs(c: Combo) -> list[Row]:
            budget.charge(cost)  # each pairing of a cross join is work
            return everything

        return pairs
    probe = make_probe(state, table, join.right.col, budget)
    lrel, lcol = join.left.rel, join.left.col

    weight = weight_of(pred) + weight_of(cross_pred) - 1

    def matches(c: Combo) -> list[Row]:
        found = probe(c[lrel][lcol])
        if not isinstance(found, list):
            found = list(found)
        if budget is not None:
            budget.charge(len(found) * weight)
        return found if pred is None else [r for r in found if pred(r)]

    return matches


def run_select(
    select: BSelect, catalog: Catalog, state: ReadState, budget: RowBudget | None = None
) -> SqlStmtResult:
    if select.limit == 0:
        combos: list[Combo] = []
    elif select.count_alias is not None:
        count = sum(1 for _ in _joined(select, state, budget))
        return SqlStmtResult(ProductType((ProductTypeElement(select.count_alias, U64),)), [(count,)])
    elif select.order_by:
        combos = list(_joined(select, state, budget))
        for col, descending in reversed(select.order_by):  # stable sorts, last key first
            rel, i = col.rel, col.col
            combos.sort(key=lambda c: _sort_key(c[rel][i]), reverse=descending)
        if select.limit is not None:
            combos = combos[: select.limit]
    else:
        # No ORDER BY: LIMIT stops the evaluation once it has its rows.
        combos = list(itertools.islice(_joined(select, state, budget), select.limit))
    if select.star_rel is not None:
        table = select.tables[select.star_rel]
        types = catalog.column_types(table)
        schema = ProductType(
            tuple(ProductTypeElement(c.name, t) for c, t in zip(table.columns, types, strict=True))
        )
        rel = select.star_rel
        return SqlStmtResult(schema, [c[rel] for c in combos])
    schema = ProductType(tuple(ProductTypeElement(p.alias, p.column.ty) for p in select.columns))
    picks = [(p.column.rel, p.column.col) for p in select.columns]
    return SqlStmtResult(schema, [tuple(c[r][i] for r, i in picks) for c in combos])


def _sort_key(value: Any) -> Any:
    # Option columns hold None or a value: order none first, then by value.
    return (0,) if value is None else (1, value)


# ---- DML -----------------------------------------------------------------------------------------


def _dml_scope(binder: Binder, table_ref: ast.TableRef) -> tuple[TableSchema, Scope]:
    table = binder.catalog.lookup(table_ref.name, is_owner=True, pos=table_ref.pos)
    scope = Scope(binder.catalog)
    scope.add(table, table_ref.alias, table_ref.pos)
    return table, scope


def _matching(binder: Binder, scope: Scope, where: ast.Expr | None, ds: Datastore) -> list[Row]:
    table = scope.tables[0]
    bound = binder.predicate(scope, where) if where is not None else None
    select = BSelect(tables=(table,), joins=(), where=bound, star_rel=0)
    return [c[0] for c in _joined(select, ds)]


def _wrap(e: Exception) -> SqlExecutionError:
    return SqlExecutionError(str(e))


def _insert(binder: Binder, stmt: ast.InsertStmt, catalog: Catalog, ds: Datastore) -> SqlStmtResult:
    table, scope = _dml_scope(binder, stmt.table)
    types = catalog.column_types(table)
    ncols = len(table.columns)
    if stmt.columns is None:
        order = list(range(ncols))
    else:
        order = [scope.column(c).col for c in stmt.columns]
        if len(order) != ncols or len(set(order)) != ncols:
            raise SqlUnresolvedError(
                f"The number of fields ({len(order)}) in the INSERT does not match the number of columns "
                f"({ncols}) of the table `{table.name}`: list every column once"
            )
    stats = SqlStats()
    for values in stmt.rows:
        if len(values) != ncols:
            raise SqlUnresolvedError(
                f"Inserting a row with {len(values)} values into `{table.name}` which has {ncols} fields"
            )
        row: list[Any] = [None] * ncols
        for col, lit in zip(order, values, strict=True):
            row[col] = convert_literal(lit, types[col])
        try:
            ds.insert(table.table_id, tuple(row))
        except SpacetimeError as e:
            raise _wrap(e) from e
        stats.rows_inserted += 1
    return SqlStmtResult(ProductType(()), [], stats=stats)


def _update(binder: Binder, stmt: ast.UpdateStmt, catalog: Catalog, ds: Datastore) -> SqlStmtResult:
    table, scope = _dml_scope(binder, stmt.table)
    types = catalog.column_types(table)
    sets = [(scope.column(c).col, lit) for c, lit in stmt.assignments]
    changes = {col: convert_literal(lit, types[col]) for col, lit in sets}
    pk = table.primary_key
    pk_index = table.primary_index
    stats = SqlStats()
    for old in _matching(binder, scope, stmt.where, ds):
        new = tuple(changes.get(i, v) for i, v in enumerate(old))
        try:
            if pk is not None and pk_index is not None and new[pk] == old[pk]:
                ds.update(pk_index.index_id, new)
            else:
                ds.delete(table.table_id, old)
                ds.insert(table.table_id, new)
        except SpacetimeError as e:
            raise _wrap(e) from e
        stats.rows_updated += 1
    return SqlStmtResult(ProductType(()), [], stats=stats)


def _delete(binder: Binder, stmt: ast.DeleteStmt, catalog: Catalog, ds: Datastore) -> SqlStmtResult:
    table, scope = _dml_scope(binder, stmt.table)
    stats = SqlStats()
    for row in _matching(binder, scope, stmt.where, ds):
        if ds.delete(table.table_id, row):
            stats.rows_deleted += 1
    return SqlStmtResult(ProductType(()), [], stats=stats)
