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
from spacetimedb.query.access import Probe, ReadState, const_eq, make_probe, seek
from spacetimedb.query.binder import Binder, Scope
from spacetimedb.query.bound import BExpr, BSelect, and_all, conjuncts, rels_of
from spacetimedb.query.catalog import Catalog
from spacetimedb.query.errors import SqlExecutionError, SqlPermissionError, SqlUnresolvedError
from spacetimedb.query.limits import MAX_SQL_LENGTH, RowBudget, budget_of
from spacetimedb.query.literals import convert_literal
from spacetimedb.query.parser import parse_sql
from spacetimedb.query.predicate_compiler import Predicate, compile_predicate, weight_of
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


def _joined(
    select: BSelect, state: ReadState, budget: RowBudget | None = None, *, lazy: bool = False
) -> Iterable[Combo]:
    """Every combination of rows (one per relation) satisfying the joins and WHERE.

    Nested loops; each filter runs as soon as the relations it reads are bound. `lazy`: depth
    first through generators, so a consumer that stops early (LIMIT) stops the evaluation and no
    intermediate product is built; otherwise level by level into lists (faster per row).
    `budget` is charged for every row read from a table or index and every cross-join pairing,
    so it also bounds the lists built.
    """
    rows0, levels = _prepare(select, state, budget)
    if not lazy:
        combos: list[Combo] = [(r,) for r in rows0]
        for level in levels:
            combos = level.extend_all(combos)
        return combos
    lazy_combos: Iterable[Combo] = ((r,) for r in rows0)
    for level in levels:
        lazy_combos = level.extend_lazily(lazy_combos)
    return lazy_combos


def _count(select: BSelect, state: ReadState, budget: RowBudget | None) -> int:
    """How many combinations `_joined` would give, without building those of the last relation."""
    rows0, levels = _prepare(select, state, budget)
    if not levels:
        return sum(1 for _ in rows0)
    combos: list[Combo] = [(r,) for r in rows0]
    for level in levels[:-1]:
        combos = level.extend_all(combos)
    return levels[-1].count(combos)


def _prepare(select: BSelect, state: ReadState, budget: RowBudget | None) -> tuple[Iterable[Row], list[_Level]]:
    """The filtered rows of the first relation (lazily) and one `_Level` per later relation."""
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
    return rows0, [_level(select, state, i, own_preds[i], cross_preds[i], budget) for i in range(1, n)]


def _compile(terms: list[BExpr], rels: tuple[int, ...]) -> Predicate | None:
    expr = and_all(terms)
    return None if expr is None else compile_predicate(expr, rels)


class _Level:
    """Relation i > 0 of a join: its rows for a partial combination (an index or hash probe on the
    ON column, or, for a cross join, the whole filtered table read once), filtered by its own
    terms (`own`) and the terms over it and earlier relations (`cross`)."""

    def __init__(
        self,
        probe: Probe | None,
        left: tuple[int, int],
        everything: list[Row],
        own: Predicate | None,
        cross: Predicate | None,
        pair_cost: Callable[[], None] | None,
    ) -> None:
        self.probe, self.left, self.everything = probe, left, everything
        self.own, self.cross, self.pair_cost = own, cross, pair_cost

    def rows_for(self, c: Combo) -> Iterable[Row]:
        if self.probe is None:
            if self.pair_cost is not None:
                self.pair_cost()
            return self.everything
        lrel, lcol = self.left
        own = self.own
        found = self.probe(c[lrel][lcol])
        return found if own is None else [r for r in found if own(r)]

    def extend_all(self, combos: list[Combo]) -> list[Combo]:
        out: list[Combo] = []
        append, cross, own = out.append, self.cross, self.own
        if self.probe is None:
            for c in combos:
                for r in self.rows_for(c):
                    combo = (*c, r)
                    if cross is None or cross(*combo):
                        append(combo)
            return out
        probe, (lrel, lcol) = self.probe, self.left
        for c in combos:  # the hot loop, inlined
            for r in probe(c[lrel][lcol]):
                if own is None or own(r):
                    combo = (*c, r)
                    if cross is None or cross(*combo):
                        append(combo)
        return out

    def count(self, combos: list[Combo]) -> int:
        n, cross, own = 0, self.cross, self.own
        if self.probe is None:
            for c in combos:
                for r in self.rows_for(c):
                    if cross is None or cross(*c, r):
                        n += 1
            return n
        probe, (lrel, lcol) = self.probe, self.left
        for c in combos:  # the hot loop, inlined
            for r in probe(c[lrel][lcol]):
                if (own is None or own(r)) and (cross is None or cross(*c, r)):
                    n += 1
        return n

    def extend_lazily(self, combos: Iterable[Combo]) -> Iterator[Combo]:
        cross = self.cross
        for c in combos:
            for r in self.rows_for(c):
                combo = (*c, r)
                if cross is None or cross(*combo):
                    yield combo


def _level(
    select: BSelect,
    state: ReadState,
    i: int,
    own: Predicate | None,
    cross: Predicate | None,
    budget: RowBudget | None,
) -> _Level:
    table = select.tables[i]
    join = select.joins[i - 1]
    if join is None:
        rows: Iterable[Row] = state.scan(table.table_id)
        if budget is not None:
            rows = budget.counted(rows, weight_of(own))
        everything = [r for r in rows if own is None or own(r)]
        pair_cost = None
        if budget is not None:
            cost = len(everything) * weight_of(cross)

            def pair_cost() -> None:  # each pairing of a cross join is work
                budget.charge(cost)

        return _Level(None, (0, 0), everything, None, cross, pair_cost)
    probe = make_probe(state, table, join.right.col, budget)
    if budget is not None:
        weight = weight_of(own) + weight_of(cross) - 1
        unbudgeted = probe

        def probe(value: Any) -> Iterable[Row]:
            found = unbudgeted(value)
            if not isinstance(found, list):
                found = list(found)
            budget.charge(len(found) * weight)
            return found

    return _Level(probe, (join.left.rel, join.left.col), [], own, cross, None)


def run_select(
    select: BSelect, catalog: Catalog, state: ReadState, budget: RowBudget | None = None
) -> SqlStmtResult:
    if select.limit == 0:
        combos: list[Combo] = []
    elif select.count_alias is not None:
        count = _count(select, state, budget)
        return SqlStmtResult(ProductType((ProductTypeElement(select.count_alias, U64),)), [(count,)])
    elif select.order_by:
        combos = _all(select, state, budget)
        for col, descending in reversed(select.order_by):  # stable sorts, last key first
            rel, i = col.rel, col.col
            combos.sort(key=lambda c: _sort_key(c[rel][i]), reverse=descending)
        if select.limit is not None:
            combos = combos[: select.limit]
    elif select.limit is not None:
        # No ORDER BY: LIMIT stops the evaluation once it has its rows.
        combos = list(itertools.islice(_joined(select, state, budget, lazy=True), select.limit))
    else:
        combos = _all(select, state, budget)
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


def _all(select: BSelect, state: ReadState, budget: RowBudget | None) -> list[Combo]:
    combos = _joined(select, state, budget)
    return combos if isinstance(combos, list) else list(combos)


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
