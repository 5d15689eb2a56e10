"""What the front asks of a hosted database, as named operations: data in, data out.

The server's routes and WebSocket sessions call these instead of handing closures to the
database's worker or reading its backend, so this file is the list of what a front needs from a
database besides a client's frames (`submit_frame`). Each is one call on the database's
`DatabaseHandle` (`database_handle.py`): a job on the worker in this process, or one request to
the database's own process (docs/architecture.md, "Database processes"), the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spacetimedb.control.backend import CallResult, HttpCallOutcome, LogLine, ProcedureOutcome
from spacetimedb.control.database_handle import DatabaseHandle
from spacetimedb.control.errors import CommitRefused, SnapshotFailed
from spacetimedb.control.subscriber import Subscriber
from spacetimedb.module.auth import AuthCtx
from spacetimedb.module.http_handler import Request

# ---- a WebSocket client ---------------------------------------------------------------------


async def admit(db: DatabaseHandle, sub: Subscriber, first_message: bytes) -> str | None:
    """OnConnect of a WebSocket client, then `first_message` (its InitialConnection) queued before
    anything else reaches it; returns why client_connected refused it, or None."""
    return await db.admit(sub, first_message)


async def leave(db: DatabaseHandle, sub: Subscriber) -> None:
    """OnDisconnect of a WebSocket client that is gone (a no-op if it was already forgotten)."""
    await db.leave(sub)


def leave_soon(db: DatabaseHandle, sub: Subscriber) -> None:
    """Queue the client's OnDisconnect without waiting (a client being closed for a backlog:
    its subscriptions stop being evaluated now, not when its socket is finally gone)."""
    db.leave_soon(sub)


# ---- the module's own data (immutable for one published module) ------------------------------


def has_procedure(db: DatabaseHandle, name: str) -> bool:
    return db.has_procedure(name)


async def has_http_route(db: DatabaseHandle, method: str, path: str) -> bool:
    """Asked before a request's body is read."""
    return await db.has_http_route(method, path)


async def module_schema(db: DatabaseHandle, version: int) -> dict[str, Any]:
    """SATS-JSON of RawModuleDefV9 or V10; NotImplementedError if the version is not available."""
    return await db.module_schema(version)


# ---- calls through a transient connection (OnConnect, the call, OnDisconnect) ----------------


async def call_reducer(db: DatabaseHandle, reducer: str, args: Any, *, caller: bytes, auth: AuthCtx | None) -> CallResult:
    """POST /call/:reducer with SATS-JSON `args`; ConnectRejected if client_connected refuses.
    Answered once every transaction of the request (lifecycle ones too) is durable."""
    return await db.call_reducer(reducer, args, caller=caller, auth=auth)


async def call_procedure(
    db: DatabaseHandle, name: str, args: Any, *, caller: bytes, auth: AuthCtx | None
) -> ProcedureOutcome:
    """POST /call/:procedure; ConnectRejected if client_connected refuses."""
    return await db.call_procedure(name, args, caller=caller, auth=auth)


async def run_sql(db: DatabaseHandle, text: str, *, caller: bytes, auth: AuthCtx | None, confirmed: bool) -> list[dict[str, Any]]:
    """POST /sql: each statement's answer in upstream's JSON shape. Raises QueryRejected,
    PermissionError, ConnectRejected, or CommitRefused (a DML the commit log refused)."""
    return await db.run_sql(text, caller=caller, auth=auth, confirmed=confirmed)


async def call_http_handler(db: DatabaseHandle, request: Request) -> HttpCallOutcome | None:
    """The module's HTTP handler routed to `request` (None: no route matches), answered once its
    `with_tx` transactions are durable."""
    return await db.call_http_handler(request)


# ---- the owner's operations --------------------------------------------------------------------


async def take_snapshot(db: DatabaseHandle, timeout_s: float) -> int | None:
    """Snapshot as of the last commit; returns its tx offset (None: nothing committed) once the file
    is written. NotImplementedError without durability, TimeoutError after `timeout_s`,
    SnapshotFailed if the file could not be written."""
    return await db.take_snapshot(timeout_s)


async def read_logs(
    db: DatabaseHandle, num_lines: int | None, listener: Callable[[LogLine], None] | None
) -> tuple[list[LogLine], Callable[[], None] | None]:
    """The last `num_lines` log records; with a `listener`, every later one is handed to it on the
    loop until the returned unsubscribe function is called (follows module swaps)."""
    return await db.read_logs(num_lines, listener)


__all__ = [
    "CommitRefused",
    "DatabaseHandle",
    "SnapshotFailed",
    "admit",
    "call_http_handler",
    "call_procedure",
    "call_reducer",
    "has_http_route",
    "has_procedure",
    "leave",
    "leave_soon",
    "module_schema",
    "read_logs",
    "run_sql",
    "take_snapshot",
]
