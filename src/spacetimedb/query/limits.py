"""Bounds on what one query may cost: nesting depth and length of its text, and a row budget.

The budget counts rows as evaluation touches them (rows read from tables and indexes, and join
combinations produced), so a query is stopped as soon as it goes over, not after building its
whole result. `None` for a budget means unbounded (the database owner's queries, as upstream lets
the owner exceed its row limit).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from spacetimedb.query.errors import SqlLimitError

T = TypeVar("T")

#: Nested parentheses allowed in one query (sqlglot's recursive parser needs ~20 Python frames a level).
MAX_SQL_DEPTH = 32
#: Characters allowed in one query string (subscriptions, one-off queries, /sql of non-owners):
#: parsing costs ~0.1 ms per comparison, so this bounds it to a few hundred milliseconds.
MAX_SQL_LENGTH = 32 * 1024
#: Tables one query may join (each is a level of nested loops).
MAX_JOIN_TABLES = 64
#: Rows one query (or one Subscribe message) of a non-owner may read or produce.
DEFAULT_ROW_BUDGET = 1_000_000

_CHUNK = 4096


class RowBudget:
    """Rows left for one evaluation; `charge` raises SqlLimitError once they are used up."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def charge(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise SqlLimitError(
                f"Query too expensive: it read or produced more than {self.limit} rows, this server's row "
                "budget per query (--query-row-budget). Filter on an indexed column, join on a more "
                "selective column, or add a LIMIT"
            )

    def counted(self, rows: Iterable[T], weight: int = 1) -> Iterator[T]:
        """`rows`, charging each one (as `weight` rows) as it is read; in chunks, so the check costs little."""
        n = 0
        for row in rows:
            n += 1
            if n == _CHUNK:
                self.charge(n * weight)
                n = 0
            yield row
        self.charge(n * weight)


def budget_of(limit: int | None) -> RowBudget | None:
    """A fresh budget of `limit` rows, or None for unbounded (limit None or 0)."""
    return RowBudget(limit) if limit else None
