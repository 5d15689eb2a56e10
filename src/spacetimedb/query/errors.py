"""Errors of the query layer, named by cause; each says what is wrong, where, and what to do instead.

Messages follow upstream SpacetimeDB's wording where clients may show them (for example
"no such table: `t`. If the table exists, it may be marked private."), with the position in
the query text appended when one is known.
"""

from __future__ import annotations

from dataclasses import dataclass

from spacetimedb.sats.errors import SpacetimeError


@dataclass(frozen=True, slots=True)
class SqlPosition:
    """Where in the query text: 1-based line and column, and 0-based character offset."""

    line: int
    col: int
    offset: int

    def __str__(self) -> str:
        return f"line {self.line}, column {self.col}"


class SqlError(SpacetimeError):
    """Base of every error raised while parsing, checking, planning or running SQL."""

    def __init__(self, message: str, position: SqlPosition | None = None) -> None:
        self.message = message
        self.position = position
        super().__init__(message + (f" (at {position})" if position is not None else ""))


class SqlSyntaxError(SqlError):
    """The text is not SQL the parser understands."""


class SqlUnsupportedError(SqlError):
    """Valid SQL, but a feature this server (like upstream) does not accept in this context."""


class SqlUnresolvedError(SqlError):
    """A table, column or alias name does not resolve (or is not visible to the caller)."""


class SqlTypeError(SqlError):
    """A literal does not fit its column's type, or an operator does not apply to a type."""


class SqlPlanError(SqlError):
    """The query is well-formed but cannot be maintained incrementally (e.g. a join without an index)."""


class SqlPermissionError(SqlError):
    """The caller may not run this statement (DML is for the database owner)."""


class SqlExecutionError(SqlError):
    """A statement failed while running (e.g. a unique constraint violated by an INSERT)."""


class SqlLimitError(SqlError):
    """A query is over one of the server's limits (nesting depth, length, row budget); see docs/limits.md."""
