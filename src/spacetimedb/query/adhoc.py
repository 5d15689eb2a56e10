"""Ad-hoc SQL (`POST /sql`, OneOffQuery): SELECT with projections, COUNT(*), joins, ORDER BY, LIMIT,
and, for the database owner, INSERT / UPDATE / DELETE run through a mutable transaction.

The result of each statement has the shape of upstream's `SqlStmtResult`: a schema (ProductType
of the result columns), rows (tuples), the duration and the DML row counts. The caller owns the
transaction: it commits DML like a reducer's writes (and broadcasts the delta) or rolls it back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from spacetimedb.module.datastore import Datastore, Row
from spacetimedb.module.schema import TableSchema
from spacetimedb.query import ast
from spacetimedb.query.access import ReadState, const_eq, make_probe, seek
from spacetimedb.query.binder import Binder, Scope
from spacetimedb.query.bound import BSelect, and_all, conjuncts, rels_of
from spacetimedb.query.catalog import Catalog
from spacetimedb.query.codegen import compile_predicate
from spacetimedb.query.errors import SqlExecutionError, SqlPermissionError, SqlUnresolvedError
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
) -> list[SqlStmtResult]:
    """Run one SQL statement; returns one result per statement (always one: multi-statement text is rejected).

    `store` may be committed state for a SELECT; DML needs a mutable transaction (`Datastore`).
    Raises an `SqlError` subclass on any problem; DML writes already made stay in `store`,
    so the caller rolls the transaction back on error.
    """
    started = time.perf_counter()
    stmt = parse_sql(sql, "sql")
    binder = Binder(catalog, is_owner=is_owner, sender=sender)
    if isinstance(stmt, ast.SelectStmt):
        result = run_select(binder.select(stmt), catalog, store)
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


def _joined(select: BSelect, state: ReadState) -> Iterable[tuple[Row, ...]]:
    """Every combination of rows (one per relation) satisfying the joins and WHERE."""
    terms = conjuncts(select.where)
    n = len(select.tables)
    # Filters that read only relation i are applied as soon as relation i is joined in.
    by_rel: list[list[Any]] = [[] for _ in range(n)]
    rest = []
    for t in terms:
        rels = rels_of(t)
        if len(rels) > 1:
            rest.append(t)
        else:
            by_rel[max(rels, default=0)].append(t)
    first_terms = by_rel[0]
    first_pred = and_all(first_terms)
    pred0 = compile_predicate(first_pred, (0,)) if first_pred is not None else None
    combos: list[tuple[Row, ...]] = [
        (r,)
        for r in seek(state, select.tables[0], const_eq(first_terms, 0, select.tables[0]))
        if pred0 is None or pred0(r)
    ]
    for i in range(1, n):
        table = select.tables[i]
        own = and_all(by_rel[i])
        pred_i = compile_predicate(own, (i,)) if own is not None else None
        join = select.joins[i - 1]
        nxt: list[tuple[Row, ...]] = []
        if join is None:
            rows = [r for r in state.scan(table.table_id) if pred_i is None or pred_i(r)]
            nxt = [(*c, r) for c in combos for r in rows]
        else:
            probe = make_probe(state, table, join.right.col)
            lrel, lcol = join.left.rel, join.left.col
            for c in combos:
                for r in probe(c[lrel][lcol]):
                    if pred_i is None or pred_i(r):
                        nxt.append((*c, r))
        combos = nxt
    cross = and_all(rest)
    if cross is None:
        return combos
    pred = compile_predicate(cross, tuple(range(n)))
    return [c for c in combos if pred(*c)]


def run_select(select: BSelect, catalog: Catalog, state: ReadState) -> SqlStmtResult:
    combos = list(_joined(select, state))
    if select.count_alias is not None:
        return SqlStmtResult(ProductType((ProductTypeElement(select.count_alias, U64),)), [(len(combos),)])
    for col, descending in reversed(select.order_by):  # stable sorts, last key first
        rel, i = col.rel, col.col
        combos.sort(key=lambda c: _sort_key(c[rel][i]), reverse=descending)
    if select.limit is not None:
        combos = combos[: select.limit]
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
