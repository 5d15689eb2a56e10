"""Errors named by cause: a value that does not fit its type, or a type that cannot be declared."""

from __future__ import annotations


class SpacetimeError(Exception):
    """Base of every error this package raises on purpose."""


class ConversionError(SpacetimeError, ValueError):
    """A value does not fit its type (while encoding, decoding or validating).

    `path` names where, e.g. `Player.inventory[3]`; `offset` is the byte offset for decoding.
    """

    def __init__(self, message: str, *, path: str = "", offset: int | None = None) -> None:
        self.message = message
        self.path = path
        self.offset = offset
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path:
            where.append(f"at {self.path}")
        if self.offset is not None:
            where.append(f"byte offset {self.offset}")
        return self.message + (f" - {', '.join(where)}" if where else "")


class SchemaError(SpacetimeError, TypeError):
    """A type, table or reducer cannot be declared as written; the message says what to use instead."""
