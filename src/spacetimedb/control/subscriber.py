"""A connected client as a hosted database sees it; the front's WebSocket session implements it."""

from __future__ import annotations

from typing import Protocol

from spacetimedb.module.auth import AuthCtx


class Subscriber(Protocol):
    """A connected WebSocket client as the database sees it."""

    identity: bytes
    connection_id: int
    #: The client's verified credentials (`ctx.sender_auth`), built once when it connected.
    auth: AuthCtx

    def enqueue(self, message: bytes, tx_offset: int | None = None) -> bool | None:
        """Queue a message; true if it waits for `tx_offset` to be durable (confirmed reads), so
        flushing it before then would only hold it again."""
        ...

    def flush(self) -> None: ...

    def fail(self, code: int, reason: str) -> None:
        """Close this client's socket with a reason (protocol misuse)."""
        ...

    def handled(self, count: int) -> None:
        """`count` of its queued messages have been handled (incoming flow control)."""
        ...
