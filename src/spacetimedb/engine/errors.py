"""Errors the engine raises, each named by its cause."""

from __future__ import annotations

from spacetimedb.module.datastore_errors import RowNotFound, UniqueConstraintViolation
from spacetimedb.sats.errors import SchemaError, SpacetimeError


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
