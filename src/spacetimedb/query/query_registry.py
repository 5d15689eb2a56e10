"""One plan per distinct subscription query, shared by every client that subscribes to it.

Queries are canonicalised by their bound form (`SubscriptionPlan.key`), so texts that differ only
in spacing, quoting, aliases or operand order share a plan, and each plan is evaluated once per
commit however many clients hold it. Queries using `:sender` bind the caller's identity into the
key, so they are shared only among connections of the same identity.

Plans with a top-level `col = constant` term on every table they read are routed: per
(table, column) a dict maps the constant to the plans, so a commit costs one dict lookup per
changed row, not one evaluation per subscribed query (e.g. thousands of
`SELECT * FROM player WHERE id = <n>`, or of a join filtered by `player.id = <n>`, whose
constant carries through the join column to the other table).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from spacetimedb.module.datastore import Row
from spacetimedb.query import ast
from spacetimedb.query.access import Delta, ReadState, delta_tables, table_changes
from spacetimedb.query.catalog import Catalog
from spacetimedb.query.subscription import (
    SemiJoinPlan,
    SingleTablePlan,
    SubscriptionPlan,
    bind_subscription,
    parse_subscription,
)
from spacetimedb.sats.special import Identity

Update = tuple[list[Row], list[Row]]
_PARSE_CACHE_LIMIT = 4096


@dataclass(slots=True)
class _Entry:
    plan_id: int
    plan: SubscriptionPlan
    refs: int
    #: (table_id, column, value) per relation when routed by equality constants; empty otherwise.
    routes: tuple[tuple[int, int, Any], ...]
    #: A single-table plan: routed rows are filtered here, without calling `eval_delta`.
    single: bool


class QueryRegistry:
    """Ref-counted, deduplicated subscription plans with batched per-commit evaluation."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._parsed: dict[str, ast.SelectStmt] = {}
        self._entries: dict[int, _Entry] = {}
        self._by_key: dict[Hashable, int] = {}
        self._next_id = 1
        #: table_id -> plan ids evaluated through `eval_delta`.
        self._by_table: dict[int, set[int]] = {}
        #: table_id -> column -> constant -> plan ids (routed single-table plans).
        self._routes: dict[int, dict[int, dict[Any, set[int]]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def set_catalog(self, catalog: Catalog) -> None:
        """Use a new schema for queries added from now on (after a module update).

        Existing plans keep their old schema; the server re-subscribes its clients after an update.
        """
        self.catalog = catalog
        self._parsed.clear()

    def compile(
        self, sql: str, *, sender: Identity | None = None, is_owner: bool = False
    ) -> SubscriptionPlan:
        """Parse (cached by text), check and plan a query without registering it."""
        text = sql.strip()
        stmt = self._parsed.get(text)
        if stmt is None:
            stmt = parse_subscription(text)
            if len(self._parsed) >= _PARSE_CACHE_LIMIT:
                self._parsed.clear()
            self._parsed[text] = stmt
        return bind_subscription(stmt, text, self.catalog, sender=sender, is_owner=is_owner)

    def add(
        self, sql: str, *, sender: Identity | None = None, is_owner: bool = False
    ) -> tuple[int, SubscriptionPlan]:
        """Register one more subscriber of `sql`; returns (plan_id, plan), shared with identical queries.

        Raises an `SqlError` subclass when the query does not parse, type-check or plan.
        """
        plan = self.compile(sql, sender=sender, is_owner=is_owner)
        plan_id = self._by_key.get(plan.key)
        if plan_id is not None:
            entry = self._entries[plan_id]
            entry.refs += 1
            return plan_id, entry.plan
        plan_id = self._next_id
        self._next_id += 1
        single = isinstance(plan, SingleTablePlan)
        routes: tuple[tuple[int, int, Any], ...] = ()
        if isinstance(plan, SingleTablePlan) and plan.eq is not None:
            routes = ((plan.table.table_id, *plan.eq),)
        elif isinstance(plan, SemiJoinPlan) and plan.routes is not None:
            routes = plan.routes
        for tid, col, value in routes:
            self._routes.setdefault(tid, {}).setdefault(col, {}).setdefault(value, set()).add(plan_id)
        if not routes:
            for tid in plan.tables_read:
                self._by_table.setdefault(tid, set()).add(plan_id)
        self._entries[plan_id] = _Entry(plan_id=plan_id, plan=plan, refs=1, routes=routes, single=single)
        self._by_key[plan.key] = plan_id
        return plan_id, plan

    def remove(self, plan_id: int) -> bool:
        """Drop one subscriber; True when that was the last one and the plan is gone."""
        entry = self._entries.get(plan_id)
        if entry is None:
            raise KeyError(f"no subscription plan with id {plan_id}")
        entry.refs -= 1
        if entry.refs > 0:
            return False
        del self._entries[plan_id]
        del self._by_key[entry.plan.key]
        for tid, col, value in entry.routes:
            values = self._routes[tid][col]
            ids = values.get(value)
            if ids is None:
                continue  # a self-join routed twice by the same (table, column, value)
            ids.discard(plan_id)
            if not ids:
                del values[value]
                if not values:
                    del self._routes[tid][col]
                    if not self._routes[tid]:
                        del self._routes[tid]
        if not entry.routes:
            for tid in entry.plan.tables_read:
                ids = self._by_table[tid]
                ids.discard(plan_id)
                if not ids:
                    del self._by_table[tid]
        return True

    def get(self, plan_id: int) -> SubscriptionPlan:
        return self._entries[plan_id].plan

    def refs(self, plan_id: int) -> int:
        return self._entries[plan_id].refs

    def evaluate(self, delta: Delta, state: ReadState) -> dict[int, Update]:
        """{plan_id: (inserts, deletes)} for every plan whose result changed in this commit.

        Only plans reading a changed table are evaluated, each once; plans whose result did not
        change are left out. `state` is the committed state after the transaction.
        """
        results: dict[int, Update] = {}
        joined: set[int] = set()
        entries = self._entries
        for tid, change in delta_tables(delta).items():
            ins, dels = table_changes(change)
            if not ins and not dels:
                continue
            for col, by_value in self._routes.get(tid, {}).items():
                pending: dict[int, Update] = {}
                for rows, slot in ((ins, 0), (dels, 1)):
                    for row in rows:
                        ids = by_value.get(row[col])
                        if ids:
                            for pid in ids:
                                if not entries[pid].single:
                                    joined.add(pid)
                                    continue
                                pair = pending.get(pid)
                                if pair is None:
                                    pair = pending[pid] = ([], [])
                                pair[slot].append(row)
                for pid, (pi, pd) in pending.items():
                    plan = entries[pid].plan
                    assert isinstance(plan, SingleTablePlan)
                    fi, fd = plan.filter_rows(pi), plan.filter_rows(pd)
                    if fi or fd:
                        results[pid] = (fi, fd)
            joined.update(self._by_table.get(tid, ()))
        for pid in joined:
            ins_rows, del_rows = entries[pid].plan.eval_delta(state, delta)
            if ins_rows or del_rows:
                results[pid] = (ins_rows, del_rows)
        return results
