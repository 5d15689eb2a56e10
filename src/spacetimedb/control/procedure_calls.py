"""Procedure calls of a hosted database: the body runs on a thread of its own, its transactions
on the database's worker.

A procedure may wait on the network for seconds; running it on the worker would stall every
reducer of its database. So `run_procedure` (called on a pool thread) runs the body right there,
and each `ctx.with_tx(fn)` becomes a job on the worker, in order with reducer calls: it runs
`fn` in one transaction, fans the commit out like a reducer's (every subscriber, the caller
included, gets a TransactionUpdate), and hands the value or the exception back to the waiting
procedure thread. What the procedure logs is handed to the worker too.

At most `MAX_CONCURRENT_PROCEDURES` procedure bodies run at once on this server; more wait in the
pool's queue (docs/limits.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from spacetimedb.control.backend import CallResult, CallStatus, ProcedureOutcome
from spacetimedb.control.clock import now_us
from spacetimedb.control.errors import DatabaseOutOfService, DatabaseStopped
from spacetimedb.module.auth import AuthCtx
from spacetimedb.module.http_client import UrllibTransport

if TYPE_CHECKING:
    from spacetimedb.control.hosted_database import HostedDatabase

#: Procedure bodies running at once, server-wide (each holds a thread while it waits on HTTP).
MAX_CONCURRENT_PROCEDURES = 32

POOL = ThreadPoolExecutor(max_workers=MAX_CONCURRENT_PROCEDURES, thread_name_prefix="procedure")

_TRANSPORT = UrllibTransport()


class ModuleReplaced(RuntimeError):
    """A procedure's `with_tx` came after its database was republished."""


def run_procedure(
    db: HostedDatabase,
    name: str,
    args: bytes | Any,
    *,
    args_format: str,
    caller: bytes,
    connection_id: int | None,
    auth: AuthCtx | None,
    committed: list[int] | None = None,
) -> ProcedureOutcome:
    """Run procedure `name` on this (non-worker) thread; its transactions run on `db`'s worker.
    The offsets of its commits are appended to `committed` (to answer once they are durable)."""
    if db.failure is not None:
        return ProcedureOutcome(CallStatus.FAILED_INTERNAL, now_us(), error=db.failure)
    backend = db.backend

    def run_tx(fn: Callable[..., Any]) -> Any:
        done = threading.Event()
        outcome: list[tuple[bool, Any]] = []

        def job() -> None:
            results: list[CallResult] = []
            try:
                if db.failure is not None:
                    raise DatabaseOutOfService(db.failure)
                if db.backend is not backend:
                    # Republished while the procedure waited: its code and row classes are the old
                    # module's, the tables the new one's. Its transaction does not run.
                    raise ModuleReplaced(
                        f"database {db.info.name!r} was republished while procedure {name!r} ran; "
                        "its transaction was not run"
                    )
                outcome.append((True, backend.procedure_tx(
                    fn, name, caller=caller, connection_id=connection_id, auth=auth, results=results
                )))  # fmt: skip
            except BaseException as e:  # the procedure's own exception: it gets it back
                outcome.append((False, e))
            finally:
                for r in results:
                    db.broadcast(r)
                    if committed is not None and r.committed and r.tx_offset is not None:
                        committed.append(r.tx_offset)
                done.set()

        db.worker.submit(job)
        # Bounded waits: a worker that stops before running the job must not hang this thread.
        while not done.wait(1.0):
            if db.worker.closed:
                raise DatabaseStopped(f"database {db.info.name!r} stopped during the transaction")
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    return backend.call_procedure(
        name,
        args,
        caller=caller,
        connection_id=connection_id,
        timestamp_us=now_us(),
        args_format=args_format,
        auth=auth,
        run_tx=run_tx,
        http=_TRANSPORT,
        http_policy=db.http_policy,
        defer=db.worker.submit,
    )
