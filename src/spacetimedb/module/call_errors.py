"""Errors for a reducer call refused before the reducer ran (the database is unchanged).

They belong to the module layer because the module's own rules raise them (argument decoding,
reducer lookup); every host reports them the same way (e.g. HTTP 400/404, a failed ReducerResult).
"""

from __future__ import annotations

from spacetimedb.sats.errors import SpacetimeError


class ReducerCallError(SpacetimeError):
    """The call was refused before the reducer ran; the database is unchanged."""


class UnknownReducerError(ReducerCallError, LookupError):
    """No reducer has that name (or none the caller may call)."""


class ReducerArgumentsError(ReducerCallError, ValueError):
    """The arguments do not match the reducer's parameters (count, types or encoding)."""


class LifecycleReducerCallError(ReducerCallError):
    """Lifecycle reducers (init, client_connected, client_disconnected) run only on their event."""
