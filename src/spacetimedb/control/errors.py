"""Why a hosted database did not run a request (the front maps each to an HTTP status or a close)."""

from __future__ import annotations


class DatabaseStopped(Exception):
    """The database stopped (deleted, republished, server shutting down) before the request ran."""


class DatabaseOutOfService(DatabaseStopped):
    """The database's commit log failed: it runs nothing more until the server is restarted."""


class ConnectRejected(Exception):
    """The module's client_connected reducer refused this caller."""


class ModuleCodeError(RuntimeError):
    """Module code raised a BaseException (SystemExit, ...) outside a reducer, e.g. at import."""


class CommitRefused(Exception):
    """The commit log refused a request's transaction: it was rolled back (the text says why)."""


class SnapshotFailed(Exception):
    """A snapshot was started but its file could not be written (the text says why)."""
