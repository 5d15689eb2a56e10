"""Compiled subscription queries and their incremental evaluation (wire spec 8.5, 8.6).

A plan returns the rows of one table. After a commit, `eval_delta` computes the change of the
query's result from the transaction's delta and the post-commit state, without re-running the
query: a single-table plan filters the delta; a two-table semijoin applies the delta rules

    inserts = R'.ds(+) + dr(+).S' + dr(+).ds(-) + dr(-).ds(+)
    deletes = R'.ds(-) + dr(-).S' + dr(+).ds(+) + dr(-).ds(-)

probing the post-commit tables through the index on their join column, then nets inserts against
deletes per returned row. Results are bags: a row returned through k join partners appears k times.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from functools import lru_cache
from typing import Any

from spacetimedb.module.datastore import Row
from spacetimedb.module.schema import TableSchema
from spacetimedb.query import ast
from spacetimedb.query.access import (
    Delta,
    Probe,
    ReadState,
    const_eq,
    const_eqs,
    delta_tables,
    make_probe,
    seek,
    table_changes,
)
from spacetimedb.query.binder import Binder
from spacetimedb.query.bound import BCol, BCompare, BConst, BExpr, BSelect, and_all, conjuncts, rels_of
from spacetimedb.query.catalog import Catalog
from spacetimedb.query.errors import SqlPlanError
from spacetimedb.query.limits import MAX_SQL_LENGTH, RowBudget
from spacetimedb.query.netting import net
from spacetimedb.query.parser import parse_sql
from spacetimedb.query.predicate_compiler import compile_predicate, weight_of
from spacetimedb.sats.special import Identity

RowPred = Callable[[Row], bool]
_SUBSCRIBE_ALL = re.compile(r"^\s*select\s+\*\s+from\s+\*\s*;?\s*$", re.IGNORECASE)


def is_subscribe_all(sql: str) -> bool:
    """Is this `SELECT * FROM *` (every table the caller can read)? The caller expands it."""
    return _SUBSCRIBE_ALL.match(sql) is not None


def _row_pred(terms: list[BExpr], rel: int) -> RowPred | None:
    expr = and_all(terms)
    return None if expr is None else compile_predicate(expr, (rel,))


class SubscriptionPlan:
    """A compiled subscription query. Equal `key`s mean identical results for every caller."""

    def __init__(self, select: BSelect, sql: str, uses_sender: bool) -> None:
        assert select.star_rel is not None
        self.select = select
        self.sql = sql
        self.uses_sender = uses_sender
        self.key: Hashable = ("subscription", select.key)
        self.return_table: TableSchema = select.tables[select.star_rel]
        self.tables_read: frozenset[int] = frozenset(t.table_id for t in select.tables)

    @property
    def return_table_id(self) -> int:
        return self.return_table.table_id

    @property
    def return_table_name(self) -> str:
        return self.return_table.name

    @property
    def table_names_read(self) -> frozenset[str]:
        return frozenset(t.name for t in self.select.tables)

    def initial_rows(self, state: ReadState, budget: RowBudget | None = None) -> list[Row]:
        """The current result; `budget` is charged for every row read (SqlLimitError past it)."""
        raise NotImplementedError

    def eval_delta(self, state_after: ReadState, delta: Delta) -> tuple[list[Row], list[Row]]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.sql!r})"


class SingleTablePlan(SubscriptionPlan):
    """`SELECT * FROM t [WHERE ...]`: the delta filtered by the WHERE clause."""

    def __init__(self, select: BSelect, sql: str, uses_sender: bool) -> None:
        super().__init__(select, sql, uses_sender)
        self.table = select.tables[0]
        terms = conjuncts(select.where)
        self.pred: RowPred | None = _row_pred(terms, 0)
        #: A `col = value` conjunct: used for index seeks and by the registry to route delta rows.
        self.eq: tuple[int, Any] | None = const_eq(terms, 0, self.table)

    def filter_rows(self, rows: Iterable[Row]) -> list[Row]:
        pred = self.pred
        return list(rows) if pred is None else [r for r in rows if pred(r)]

    def initial_rows(self, state: ReadState, budget: RowBudget | None = None) -> list[Row]:
        rows = seek(state, self.table, self.eq)
        return self.filter_rows(rows if budget is None else budget.counted(rows, weight_of(self.pred)))

    def eval_delta(self, state_after: ReadState, delta: Delta) -> tuple[list[Row], list[Row]]:
        ins, dels = table_changes(delta_tables(delta).get(self.table.table_id))
        return self.filter_rows(ins), self.filter_rows(dels)


class SemiJoinPlan(SubscriptionPlan):
    """`SELECT r.* FROM r JOIN s ON r.a = s.b [WHERE ...]` (either side returned)."""

    def __init__(self, select: BSelect, sql: str, uses_sender: bool) -> None:
        super().__init__(select, sql, uses_sender)
        join = select.joins[0]
        assert join is not None
        self.lhs, self.rhs = select.tables
        self.lcol, self.rcol = join.left.col, join.right.col
        self.proj = select.star_rel
        terms = conjuncts(select.where)
        t0 = [t for t in terms if rels_of(t) <= {0}]
        t1 = [t for t in terms if rels_of(t) == {1}]
        t01 = [t for t in terms if rels_of(t) == {0, 1}]
        # `l.a = c` with ON l.a = r.b implies `r.b = c` (and back): filter both deltas early and
        # let the registry route the plan by both constants.
        self._propagate(t0, t1, join.left, join.right)
        self._propagate(t1, t0, join.right, join.left)
        self.pred0 = _row_pred(t0, 0)
        self.pred1 = _row_pred(t1, 1)
        both = and_all(t01)
        self.pred01: Callable[[Row, Row], bool] | None = (
            None if both is None else compile_predicate(both, (0, 1))
        )
        self.eq0, self.eq1 = const_eq(t0, 0, self.lhs), const_eq(t1, 1, self.rhs)
        #: (table_id, column, value) per relation when both have a `col = constant` term, else None.
        self.routes: tuple[tuple[int, int, Any], ...] | None = None
        e0, e1 = const_eq(t0, 0), const_eq(t1, 1)
        if e0 is not None and e1 is not None:
            self.routes = ((self.lhs.table_id, *e0), (self.rhs.table_id, *e1))
        self.lhs_indexed = Catalog.index_on_column(self.lhs, self.lcol) is not None
        self.rhs_indexed = Catalog.index_on_column(self.rhs, self.rcol) is not None

    @staticmethod
    def _propagate(src: list[BExpr], dst: list[BExpr], src_col: BCol, dst_col: BCol) -> None:
        for col, value in const_eqs(src, src_col.rel):
            if col == src_col.col:
                if all(c != dst_col.col for c, _ in const_eqs(dst, dst_col.rel)):
                    dst.append(BCompare("=", dst_col, BConst(value, dst_col.ty)))
                return

    # ---- helpers -------------------------------------------------------------------------------

    def _filter(self, rows: Iterable[Row], pred: RowPred | None) -> list[Row]:
        return list(rows) if pred is None else [r for r in rows if pred(r)]

    def _charged(
        self, probe: Probe, budget: RowBudget, pred: RowPred | None
    ) -> Probe:
        weight = weight_of(pred) + weight_of(self.pred01) - 1

        def charged(value: Any) -> Iterable[Row]:
            found = probe(value)
            if not isinstance(found, list):
                found = list(found)
            budget.charge(len(found) * weight)
            return found

        return charged

    def _pairs_probe_lhs(
        self, probe: Probe, rhs_rows: list[Row], out: list[Row]
    ) -> None:
        """Pairs (a in L', b in rhs_rows) through L's join index; appends the projected rows."""
        rcol, pred0, pred01, take_lhs = self.rcol, self.pred0, self.pred01, self.proj == 0
        for b in rhs_rows:
            for a in probe(b[rcol]):
                if (pred0 is None or pred0(a)) and (pred01 is None or pred01(a, b)):
                    out.append(a if take_lhs else b)

    def _pairs_probe_rhs(
        self, probe: Probe, lhs_rows: list[Row], out: list[Row]
    ) -> None:
        """Pairs (a in lhs_rows, b in S') through S's join index."""
        lcol, pred1, pred01, take_lhs = self.lcol, self.pred1, self.pred01, self.proj == 0
        for a in lhs_rows:
            for b in probe(a[lcol]):
                if (pred1 is None or pred1(b)) and (pred01 is None or pred01(a, b)):
                    out.append(a if take_lhs else b)

    def _pairs_small(self, lhs_rows: list[Row], rhs_rows: list[Row], out: list[Row]) -> None:
        """Pairs of two (already filtered) delta lists, by a hash join."""
        if not lhs_rows or not rhs_rows:
            return
        by_key: dict[Any, list[Row]] = {}
        rcol = self.rcol
        for b in rhs_rows:
            by_key.setdefault(b[rcol], []).append(b)
        lcol, pred01, take_lhs = self.lcol, self.pred01, self.proj == 0
        for a in lhs_rows:
            for b in by_key.get(a[lcol], ()):
                if pred01 is None or pred01(a, b):
                    out.append(a if take_lhs else b)

    # ---- evaluation ------------------------------------------------------------------------------

    def initial_rows(self, state: ReadState, budget: RowBudget | None = None) -> list[Row]:
        out: list[Row] = []
        probe_lhs = self.rhs_indexed or not self.lhs_indexed
        outer_table, eq, pred = (self.lhs, self.eq0, self.pred0) if probe_lhs else (self.rhs, self.eq1, self.pred1)
        rows = seek(state, outer_table, eq)
        outer = self._filter(rows if budget is None else budget.counted(rows, weight_of(pred)), pred)
        if probe_lhs:
            probe = make_probe(state, self.rhs, self.rcol, budget)
            self._pairs_probe_rhs(probe if budget is None else self._charged(probe, budget, self.pred1), outer, out)
        else:
            probe = make_probe(state, self.lhs, self.lcol, budget)
            self._pairs_probe_lhs(probe if budget is None else self._charged(probe, budget, self.pred0), outer, out)
        return out

    def eval_delta(self, state_after: ReadState, delta: Delta) -> tuple[list[Row], list[Row]]:
        tables = delta_tables(delta)
        li, ld = table_changes(tables.get(self.lhs.table_id))
        ri, rd = table_changes(tables.get(self.rhs.table_id))
        if not (li or ld or ri or rd):
            return [], []
        li, ld = self._filter(li, self.pred0), self._filter(ld, self.pred0)
        ri, rd = self._filter(ri, self.pred1), self._filter(rd, self.pred1)
        plus: list[Row] = []
        minus: list[Row] = []
        if ri or rd:
            probe_l = make_probe(state_after, self.lhs, self.lcol)
            self._pairs_probe_lhs(probe_l, ri, plus)  # R'.ds(+)
            self._pairs_probe_lhs(probe_l, rd, minus)  # R'.ds(-)
        if li or ld:
            probe_r = make_probe(state_after, self.rhs, self.rcol)
            self._pairs_probe_rhs(probe_r, li, plus)  # dr(+).S'
            self._pairs_probe_rhs(probe_r, ld, minus)  # dr(-).S'
        self._pairs_small(li, rd, plus)  # dr(+).ds(-)
        self._pairs_small(ld, ri, plus)  # dr(-).ds(+)
        self._pairs_small(li, ri, minus)  # dr(+).ds(+)
        self._pairs_small(ld, rd, minus)  # dr(-).ds(-)
        return net(plus, minus)


def plan_subscription(select: BSelect, sql: str, uses_sender: bool) -> SubscriptionPlan:
    """Check a bound SELECT against the subscription rules and build its plan."""
    n = len(select.tables)
    if n == 1:
        return SingleTablePlan(select, sql, uses_sender)
    if n != 2:
        raise SqlPlanError(
            f"Invalid number of tables in subscription: {n}. A subscription reads one table or joins two"
        )
    join = select.joins[0]
    lhs, rhs = select.tables
    if join is None:
        raise SqlPlanError(
            "Subscriptions require indexes on join columns: a join needs `ON a.col = b.col` over indexed columns"
        )
    if rhs.is_event:
        raise SqlPlanError(
            f"Event tables cannot be used as the lookup table in subscription joins (`{rhs.name}`)"
        )
    lix = Catalog.index_on_column(lhs, join.left.col)
    rix = Catalog.index_on_column(rhs, join.right.col)
    if lix is None and rix is None:
        lname, rname = lhs.columns[join.left.col].name, rhs.columns[join.right.col].name
        raise SqlPlanError(
            "Subscriptions require indexes on join columns: neither "
            f"`{lhs.name}.{lname}` nor `{rhs.name}.{rname}` has an index; "
            f"add an index on `{rhs.name}.{rname}` (the looked-up side)"
        )
    return SemiJoinPlan(select, sql, uses_sender)


@lru_cache(maxsize=4096)
def parse_subscription(sql: str) -> ast.SelectStmt:
    """Parse subscription SQL; cached by text (the tree is immutable), as many clients send the same queries."""
    stmt = parse_sql(sql, "subscription", max_length=MAX_SQL_LENGTH)
    assert isinstance(stmt, ast.SelectStmt)
    return stmt


def compile_subscription(
    sql: str, catalog: Catalog, *, sender: Identity | None = None, is_owner: bool = False
) -> SubscriptionPlan:
    """Parse, type-check and plan one subscription query. Raises an `SqlError` subclass."""
    stmt = parse_subscription(sql)
    return bind_subscription(stmt, sql, catalog, sender=sender, is_owner=is_owner)


def bind_subscription(
    stmt: ast.SelectStmt, sql: str, catalog: Catalog, *, sender: Identity | None, is_owner: bool
) -> SubscriptionPlan:
    select = Binder(catalog, is_owner=is_owner, sender=sender).select(stmt)
    return plan_subscription(select, sql, ast.uses_sender(stmt.where))


def compile_all_tables(
    catalog: Catalog, *, sender: Identity | None = None, is_owner: bool = False
) -> list[SubscriptionPlan]:
    """`SELECT * FROM *`: one plan per table the caller can read, in table id order."""
    tables = sorted(catalog.visible_tables(is_owner=is_owner), key=lambda t: t.table_id)
    return [
        compile_subscription(f'SELECT * FROM "{t.name}"', catalog, sender=sender, is_owner=is_owner)
        for t in tables
    ]


def result_rows_sorted(rows: Sequence[Row]) -> list[Row]:
    """Rows in a deterministic order (for tests and stable output)."""
    return sorted(rows, key=repr)
