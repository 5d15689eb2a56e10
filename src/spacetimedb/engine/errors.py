"""Errors the engine raises, each named by its cause."""

from __future__ import annotations

from typing import Any

from spacetimedb.sats.errors import SchemaError, SpacetimeError


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


class SequenceExhausted(SpacetimeError):
    """An auto-increment column has handed out every value its type (or max_value) allows."""


class TransactionStateError(SpacetimeError, RuntimeError):
    """A transaction was used in the wrong state: a second one opened, or one used after it ended."""


class UnknownTableOrIndex(SpacetimeError, LookupError):
    """A table id or index id that this database does not have."""


class IndexScanUnsupported(SpacetimeError, TypeError):
    """The index cannot answer this kind of lookup (a range or prefix scan on a hash index,
    or `index_find`/`update` through a non-unique index)."""


class UnindexableValue(SpacetimeError, TypeError):
    """A value in an indexed column (or in a row of a table without unique index) has no
    hashable form the engine knows how to build."""


class ReplayMismatch(SpacetimeError):
    """`apply_delta` met a delta that does not fit the current state (a deleted row is absent,
    or an inserted row's key is taken): the log and the state it replays onto disagree."""


__all__ = [
    "IndexScanUnsupported",
    "ReplayMismatch",
    "RowNotFound",
    "SchemaError",
    "SequenceExhausted",
    "TransactionStateError",
    "UnindexableValue",
    "UniqueConstraintViolation",
    "UnknownTableOrIndex",
]
