"""What the front asks of a hosted database, as named operations: data in, data out.

The server's routes and WebSocket sessions call these instead of handing closures to the
database's worker or reading its backend, so this file is the list of what a front needs from a
database besides a client's frames (`HostedDatabase.submit_frame`) (docs/architecture.md, "Database processes": with each database in a process of its own,
each operation becomes one request over that process's socketpair, and only data crosses). Each
runs its database work as one job on the worker and, where the request wrote, returns once its
last transaction is durable (as upstream answers a confirmed call).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spacetimedb.control.backend import CallResult, HttpCallOutcome, LogLine, ProcedureOutcome
from spacetimedb.control.clock import now_us
from spacetimedb.control.identity import new_connection_id
from spacetimedb.control.procedure_calls import POOL as PROCEDURE_POOL
from spacetimedb.control.procedure_calls import run_procedure
from spacetimedb.control.process_database import DatabaseProcess
from spacetimedb.control.subscriber import Subscriber
from spacetimedb.module.auth import AuthCtx
from spacetimedb.module.http_handler import Request

if TYPE_CHECKING:
    from spacetimedb.control.hosted_database import HostedDatabase

    #: A database as the front holds it: in this process, or in a process of its own
    #: (`--database-processes`), where each operation below is one request over its socketpair.
    DatabaseHandle = HostedDatabase | DatabaseProcess


class CommitRefused(Exception):
    """The commit log refused a request's transaction: it was rolled back (the text says why)."""


class SnapshotFailed(Exception):
    """A snapshot was started but its file could not be written (the text says why)."""


# ---- a WebSocket client ---------------------------------------------------------------------


async def admit(db: DatabaseHandle, sub: Subscriber, first_message: bytes) -> str | None:
    """OnConnect of a WebSocket client, then `first_message` (its InitialConnection) queued before
    anything else reaches it; returns why client_connected refused it, or None."""
    if isinstance(db, DatabaseProcess):
        return await db.admit(sub, first_message, getattr(sub, "v3", True))

    def run() -> str | None:
        result = db.connect(sub)
        if not result.committed:
            return result.error or "rejected by client_connected"
        db.send(sub, first_message)
        return None

    return await db.call(run)


async def leave(db: DatabaseHandle, sub: Subscriber) -> None:
    """OnDisconnect of a WebSocket client that is gone (a no-op if it was already forgotten)."""
    if isinstance(db, DatabaseProcess):
        return await db.leave(sub)
    await db.call(lambda: db.disconnect(sub))


def leave_soon(db: DatabaseHandle, sub: Subscriber) -> None:
    """Queue the client's OnDisconnect without waiting (a client being closed for a backlog:
    its subscriptions stop being evaluated now, not when its socket is finally gone)."""
    if isinstance(db, DatabaseProcess):
        return db.leave_soon(sub)
    db.submit(lambda: db.disconnect(sub))


# ---- the module's own data, read on the loop (immutable for one published module) ----------


def has_procedure(db: DatabaseHandle, name: str) -> bool:
    if isinstance(db, DatabaseProcess):
        return db.has_procedure(name)  # the names came with the module (immutable data)
    return db.backend.has_procedure(name)


async def has_http_route(db: DatabaseHandle, method: str, path: str) -> bool:
    """Asked before a request's body is read (the module's routes are immutable data)."""
    if isinstance(db, DatabaseProcess):
        result: bool = await db.request("has_http_route", method, path)
        return result
    return db.backend.has_http_route(method, path)


async def module_schema(db: DatabaseHandle, version: int) -> dict[str, Any]:
    """SATS-JSON of RawModuleDefV9 or V10; NotImplementedError if the version is not available."""
    if isinstance(db, DatabaseProcess):
        doc: dict[str, Any] = await db.request("module_schema", version)
        return doc
    return await db.call(lambda: db.backend.module_def_json(version))


# ---- calls through a transient connection (OnConnect, the call, OnDisconnect) ----------------


async def call_reducer(db: DatabaseHandle, reducer: str, args: Any, *, caller: bytes, auth: AuthCtx | None) -> CallResult:
    """POST /call/:reducer with SATS-JSON `args`; ConnectRejected if client_connected refuses."""
    if isinstance(db, DatabaseProcess):  # answered there once durable, as below
        called: CallResult = await db.request("call_reducer", reducer, args, caller, auth)
        return called
    committed: list[int] = []
    conn_id = new_connection_id()

    def run() -> CallResult:
        result = db.backend.call_reducer(
            reducer,
            args,
            caller=caller,
            connection_id=conn_id,
            timestamp_us=now_us(),
            args_format="json",
            is_owner=db.is_owner(caller),
            auth=auth,
        )
        db.broadcast(result)
        if result.committed and result.tx_offset is not None:
            committed.append(result.tx_offset)
        return result

    result = await db.call(lambda: db.http_session(caller, conn_id, run, committed, auth))
    if committed:  # answered once every transaction of the request (lifecycle ones too) is durable
        await db.wait_durable(max(committed))
    return result


async def call_procedure(
    db: DatabaseHandle, name: str, args: Any, *, caller: bytes, auth: AuthCtx | None
) -> ProcedureOutcome:
    """POST /call/:procedure: OnConnect, the body on a procedure thread (its transactions on the
    worker), OnDisconnect; ConnectRejected if client_connected refuses."""
    if isinstance(db, DatabaseProcess):
        outcome: ProcedureOutcome = await db.request("call_procedure", name, args, caller, auth)
        return outcome
    conn_id = new_connection_id()
    committed: list[int] = []
    await db.call(lambda: db.http_connect(caller, conn_id, committed, auth))
    try:
        out = await asyncio.get_running_loop().run_in_executor(
            PROCEDURE_POOL,
            lambda: run_procedure(
                db, name, args, args_format="json", caller=caller, connection_id=conn_id, auth=auth, committed=committed
            ),
        )
    finally:
        await db.call(lambda: db.http_disconnect(caller, conn_id, committed, auth))
    if committed:
        await db.wait_durable(max(committed))
    return out


async def run_sql(db: DatabaseHandle, text: str, *, caller: bytes, auth: AuthCtx | None, confirmed: bool) -> list[dict[str, Any]]:
    """POST /sql: each statement's answer in upstream's JSON shape. Raises QueryRejected,
    PermissionError, ConnectRejected, or CommitRefused (a DML the commit log refused)."""
    if isinstance(db, DatabaseProcess):
        answers: list[dict[str, Any]] = await db.request("run_sql", text, caller, auth, confirmed)
        return answers
    committed: list[int | None] = []

    def run() -> list[dict[str, Any]]:
        statements, tx = db.backend.run_sql(
            text, caller, db.is_owner(caller), now_us(), row_budget=db.row_budget_for(caller)
        )
        if tx is not None:
            if not tx.committed:  # the commit log refused it: rolled back, nothing to broadcast
                raise CommitRefused(tx.error)
            db.broadcast(tx)
            committed.append(tx.tx_offset)
        return [
            {
                "schema": s.schema,
                "rows": s.rows,
                "total_duration_micros": s.total_duration_micros,
                "stats": {"rows_inserted": s.rows_inserted, "rows_deleted": s.rows_deleted, "rows_updated": s.rows_updated},
            }
            for s in statements
        ]

    out = await db.call(lambda: db.http_session(caller, new_connection_id(), run, auth=auth))
    if committed and confirmed:
        await db.wait_durable(committed[0])  # confirmed (the default): DML answered once durable
    return out


async def call_http_handler(db: DatabaseHandle, request: Request) -> HttpCallOutcome | None:
    """The module's HTTP handler routed to `request` (None: no route matches), answered once its
    `with_tx` transactions are durable."""
    if isinstance(db, DatabaseProcess):
        handled: HttpCallOutcome | None = await db.request("call_http_handler", request)
        return handled
    committed: list[int] = []

    def run() -> HttpCallOutcome | None:
        outcome = db.backend.call_http_handler(request, now_us())
        if outcome is not None:
            for commit in outcome.commits:
                db.broadcast(commit)
                if commit.committed and commit.tx_offset is not None:
                    committed.append(commit.tx_offset)
        return outcome

    outcome = await db.call(run)
    if committed:  # answered once the handler's transactions are durable, as /call
        await db.wait_durable(max(committed))
    return outcome


# ---- the owner's operations --------------------------------------------------------------------


async def take_snapshot(db: DatabaseHandle, timeout_s: float) -> int | None:
    """Snapshot as of the last commit; returns its tx offset (None: nothing committed) once the file
    is written. NotImplementedError without durability, TimeoutError after `timeout_s`,
    SnapshotFailed if the file could not be written."""
    if isinstance(db, DatabaseProcess):
        taken: int | None = await db.request("take_snapshot", timeout_s)
        return taken
    # The backend is read on the worker: a republish queued before this swaps it.
    backend, offset = await db.call(lambda: (db.backend, db.backend.request_snapshot()))
    if offset is not None:
        try:
            await asyncio.to_thread(backend.wait_snapshot, offset, timeout_s)
        except TimeoutError:
            raise
        except Exception as e:
            raise SnapshotFailed(str(e)) from e
    return offset


async def read_logs(
    db: DatabaseHandle, num_lines: int | None, listener: Callable[[LogLine], None] | None
) -> tuple[list[LogLine], Callable[[], None] | None]:
    """The last `num_lines` log records; with a `listener`, every later one is handed to it on the
    loop until the returned unsubscribe function is called (follows module swaps)."""
    if isinstance(db, DatabaseProcess):
        return await db.read_logs(num_lines, listener)

    def read() -> tuple[list[LogLine], Callable[[], None] | None]:
        records = db.backend.logs(num_lines)
        return records, (db.subscribe_logs(listener) if listener is not None else None)

    return await db.call(read)
