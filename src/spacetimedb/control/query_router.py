"""Routes each commit to only the subscription plans it can affect, with `spacetimedb.query.QueryRegistry`.

The hosted database's SubscriptionManager keeps who is subscribed to what; this router keeps the compiled
plans in a QueryRegistry, which indexes plans by the tables they read and by their `col = constant`
filters. A commit then evaluates only the plans whose table and constant match a changed row (one
dict lookup per row), instead of every plan reading a changed table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from spacetimedb.control.backend import Changes, Row
from spacetimedb.query import Catalog, QueryRegistry
from spacetimedb.sats.special import Identity


class RoutablePlan(Protocol):
    """What the router needs of a plan: the text it was compiled from, and for whom."""

    @property
    def sql(self) -> str: ...

    @property
    def sender(self) -> Identity: ...

    @property
    def is_owner(self) -> bool: ...


class QueryRegistryRouter:
    def __init__(self, catalog: Catalog, state: Any, table_ids: Mapping[str, int]) -> None:
        self.registry = QueryRegistry(catalog)
        self._state = state
        self._ids = table_ids

    def register(self, plan: RoutablePlan) -> int:
        """Register one plan (once per distinct query); returns its handle for `evaluate`'s answer."""
        plan_id, _ = self.registry.add(plan.sql, sender=plan.sender, is_owner=plan.is_owner)
        return plan_id

    def unregister(self, handle: int) -> None:
        self.registry.remove(handle)

    def evaluate(self, changes: Changes) -> Mapping[int, tuple[Sequence[Row], Sequence[Row]]]:
        """{handle: (inserts, deletes)} of every registered plan whose result this commit changed."""
        by_id = getattr(changes, "by_id", None)
        if by_id is None:
            by_id = {self._ids[name]: c for name, c in changes.items()}
        return self.registry.evaluate(by_id, self._state)
