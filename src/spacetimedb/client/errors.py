"""The client's exceptions, one per cause, all `ClientError`s (so one `except` catches them all)."""

from __future__ import annotations


class ClientError(Exception):
    """The connection failed or the server closed it; the message says why."""


class ConnectError(ClientError):
    """The connection could not be opened (network error, refused handshake)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        #: The HTTP status of a refused WebSocket handshake, None for a network error.
        self.status = status


class TokenRefusedError(ConnectError):
    """The server does not accept the token (401/403): a new one is needed (`with_token(None)`)."""


class UnknownDatabaseError(ConnectError):
    """No database of that name or identity on the server (404)."""


class ConnectionClosedError(ClientError):
    """The server closed the WebSocket; `code` and `reason` are its close frame."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"the server closed the connection (code {code}){': ' + reason if reason else ''}")
        self.code = code
        self.reason = reason


class ConnectionLostError(ClientError):
    """The connection dropped without a close frame (network failure, server killed)."""


class ProtocolError(ClientError):
    """The server sent a frame this client cannot decode (malformed, truncated, unknown table)."""


class DisconnectedError(ClientError):
    """The call cannot complete: the connection is closed or was lost before its answer came."""


class ReducerError(ClientError):
    """The reducer failed with an error the module raised (`SenderError`): `message` is its text."""

    def __init__(self, message: str, reducer: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reducer = reducer


class ReducerInternalError(ReducerError):
    """The host could not run the reducer (no such reducer, bad arguments, a crash in the module)."""


class ProcedureError(ClientError):
    """The procedure failed (the server's `InternalError` text)."""


class QueryError(ClientError):
    """A one-off query failed (the server's error text)."""


class SubscriptionError(ClientError):
    """A subscription was refused (bad SQL, unknown table) or failed later; the server's text."""
