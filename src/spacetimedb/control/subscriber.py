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
    #: Confirmed reads: its messages of a commit leave only once that commit is durable.
    confirmed: bool

    def enqueue(self, message: bytes, tx_offset: int | None = None) -> bool | None:
        """Queue a message; true if it waits for `tx_offset` to be durable (confirmed reads), so
        flushing it before then would only hold it again."""
        ...

    def flush(self) -> None: ...

    def deliver(self, message: bytes, tx_offset: int | None = None) -> None:
        """`enqueue` then `flush`, in one call (a turn's one reply to one client, the unpipelined
        call's path): written now, or held until `tx_offset` is durable and then flushed once."""
        ...

    def send_shared(self, message: bytes, tx_offset: int | None = None, flush: bool = True) -> None:
        """A message many clients get, handed to each in one pass (`ConfirmedReads.send_shared`)
        once it may leave (its commit is durable, or the client does not wait for it): queued
        behind anything queued for this client, else written now; without `flush` only queued.
        `tx_offset` is its commit's (None once that is durable), for a client that still holds it."""
        ...

    def fail(self, code: int, reason: str) -> None:
        """Close this client's socket with a reason (protocol misuse)."""
        ...

    def handled(self, count: int) -> None:
        """`count` of its queued messages have been handled (incoming flow control)."""
        ...
