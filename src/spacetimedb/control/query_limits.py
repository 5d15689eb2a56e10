"""What one client's queries may cost the server: queries per Subscribe and per connection, and the
row budget of a non-owner's query (see docs/limits.md)."""

from __future__ import annotations

from dataclasses import dataclass

from spacetimedb.query.limits import DEFAULT_ROW_BUDGET, RowBudget, budget_of

#: Query strings in one Subscribe message (compiling one costs ~0.4-1.3 ms of the database's time).
DEFAULT_MAX_QUERIES_PER_SUBSCRIBE = 256
#: Queries subscribed at once by one connection, over all its query sets.
DEFAULT_MAX_QUERIES_PER_CONNECTION = 4096


@dataclass(frozen=True, slots=True)
class QueryLimits:
    max_queries_per_subscribe: int = DEFAULT_MAX_QUERIES_PER_SUBSCRIBE
    max_queries_per_connection: int = DEFAULT_MAX_QUERIES_PER_CONNECTION
    #: Rows a non-owner's query (a /sql SELECT, a one-off query, one Subscribe message) may read
    #: or produce; 0 for unbounded. The owner is not limited, as upstream.
    row_budget: int = DEFAULT_ROW_BUDGET

    def row_budget_for(self, is_owner: bool) -> int | None:
        return None if is_owner or not self.row_budget else self.row_budget

    def budget(self, is_owner: bool) -> RowBudget | None:
        return budget_of(self.row_budget_for(is_owner))
