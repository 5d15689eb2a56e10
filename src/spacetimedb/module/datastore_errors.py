"""Errors a `Datastore` raises that module code may catch: part of the narrow interface.

They live in the module layer so that module code sees the same classes whichever engine is behind
the interface (ours in process, or SpacetimeDB's own host through an adapter).
"""

from __future__ import annotations

from typing import Any

from spacetimedb.sats.errors import SpacetimeError


class UniqueConstraintViolation(SpacetimeError):
    """A write would give two rows the same key in a unique index (primary key or unique column).

    The transaction stays usable: the failing write changed nothing.
    """

    def __init__(self, table: str, index: str, columns: tuple[str, ...], value: Any) -> None:
        self.table = table
        self.index = index
        self.columns = columns
        self.value = value
        cols = ", ".join(columns)
        super().__init__(
            f"unique constraint violation in table '{table}': index '{index}' on column(s) ({cols}) "
            f"already has a row with value {value!r}; update that row instead, or choose another value"
        )


class RowNotFound(SpacetimeError, KeyError):
    """`update` found no row with the given key in the unique index."""

    def __init__(self, table: str, index: str, value: Any) -> None:
        self.table = table
        self.index = index
        self.value = value
        super().__init__(
            f"no row in table '{table}' has value {value!r} in unique index '{index}'; "
            "insert the row instead of updating it"
        )

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])
