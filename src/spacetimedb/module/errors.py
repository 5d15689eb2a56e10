"""Errors a module author raises or meets."""

from __future__ import annotations

from spacetimedb.sats.errors import SpacetimeError


class SenderError(SpacetimeError):
    """Raise in a reducer to reject the call: the transaction rolls back and the caller gets `message`.

    Use it for anything the caller did wrong (bad arguments, not allowed, not enough funds);
    any other exception is reported as an internal error of the module.
    """

    def __init__(self, message: object) -> None:
        self.message = str(message)
        super().__init__(self.message)


class ModuleLoadError(SpacetimeError):
    """A module file or package could not be imported or declares nothing runnable."""
