"""One database this server hosts: its backend, its connected clients and their subscriptions,
its worker (`worker.py`), its confirmed reads, and whether it still serves.

A client's messages are handled in `client_requests.py`, a transaction's effects sent in
`fanout.py`, a module swapped in place in `module_swap.py`, module logs followed in
`log_followers.py`; each runs on the worker, like everything that touches the database.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from spacetimedb.control import client_requests, fanout
from spacetimedb.control.backend import (
    CallResult,
    CallStatus,
    DatabaseBackend,
    DurableOffsetWaiter,
    HttpCallOutcome,
    LogLine,
    ModuleSwapPlan,
    ProcedureOutcome,
)
from spacetimedb.control.clock import now_us
from spacetimedb.control.confirmed_reads import LOG_FAILED_CLOSE_REASON, ConfirmedReads
from spacetimedb.control.errors import (
    CommitRefused,
    ConnectRejected,
    DatabaseOutOfService,
    DatabaseStopped,
    SnapshotFailed,
)
from spacetimedb.control.identity import new_connection_id
from spacetimedb.control.log_followers import LogFollowers
from spacetimedb.control.procedure_calls import POOL, run_procedure
from spacetimedb.control.query_limits import QueryLimits
from spacetimedb.control.subscriber import Subscriber
from spacetimedb.control.subscriptions import SubscriptionManager
from spacetimedb.control.worker import DatabaseWorker, InlineJob
from spacetimedb.durability.errors import LogClosedError
from spacetimedb.module.auth import AuthCtx
from spacetimedb.module.http_client import HttpPolicy
from spacetimedb.module.http_handler import Request
from spacetimedb.protocol.client_messages import CallReducer, ClientMessage

if TYPE_CHECKING:
    from spacetimedb.control.database_registry import BackendFactory, BackendSpec

log = logging.getLogger("spacetimedb.server")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    name: str
    identity: bytes  # 32 big-endian bytes
    owner: bytes


class HostedDatabase:
    """One database this server hosts (upstream: a host controller's hosted database); the
    in-process `DatabaseHandle` (`database_handle.py`)."""

    #: It runs in this process: a client's frames are decoded by the front (`submit_frame`).
    remote = False

    def __init__(self, info: DatabaseInfo, backend: DatabaseBackend, limits: QueryLimits | None = None) -> None:
        self.info = info
        self.backend = backend
        self.limits = limits or QueryLimits()
        #: What its procedures' `ctx.http` may reach (`spacetimedb start --procedure-http`).
        self.http_policy = HttpPolicy()
        self.subscriptions = self._subscriptions_for(backend)
        self.subscribers: set[Subscriber] = set()
        self.confirmed_reads = ConfirmedReads(backend.durable_offset_waiter(), info.name)
        self.worker = DatabaseWorker(
            info.name,
            on_turn=self._run_scheduled,
            next_wake=self._scheduler_timeout,
            after_flush=self.confirmed_reads.after_turn,  # (rebound, never replaced, on a module swap)
        )
        self._bind_worker(backend)
        #: Queue a message for a client (worker only); it leaves at the end of this turn.
        self.send = self.worker.send
        #: Queue a job for the worker without waiting (the reader side of sockets uses this).
        self.submit = self.worker.submit
        #: Set once the database stops (log followers and other streams end then).
        self.stopped = asyncio.Event()
        self.confirmed_reads.durable_now = self.backend.durable_offset_now
        self.worker.reads = self.confirmed_reads
        #: Queue one message for many clients (worker only): one hand-over entry (`fanout.py`).
        self.send_shared = self.worker.send_shared
        backend.set_procedure_launcher(self._launch_scheduled_procedure)
        #: Why the database is out of service (its commit log failed), or None while it serves.
        self.failure: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Log followers, kept here so they follow the database across module swaps.
        self.log_followers = LogFollowers()

    def _bind_worker(self, backend: DatabaseBackend) -> None:
        """What the worker reads around every turn, taken from `backend` once (and again on a swap)."""
        self.worker.call_budget = backend.call_budget()
        self.worker.next_due_us = backend.next_due_us

    def _subscriptions_for(self, backend: DatabaseBackend) -> SubscriptionManager:
        # The real host routes commits to only the queries they can affect (QueryRegistry); the
        # subscriptions are evaluated inside each commit, against exactly that commit's state.
        manager = SubscriptionManager(backend.tables, backend.plan_router)
        backend.set_commit_listener(manager)
        return manager

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if not self.worker.started:
            loop = self._loop = self.worker.start()
            self.confirmed_reads.loop = loop  # the worker delivers, and confirmed reads wait, on it
            self.log_followers.bind_loop(loop)
            self.backend.on_log_failure(functools.partial(self._log_failed, loop))

    def _log_failed(self, loop: asyncio.AbstractEventLoop, error: str) -> None:
        """The commit log failed (told on its writer thread). Setting `failure` is atomic, so no job
        that starts after this point runs; the clients are closed on the loop."""
        self.failure = self._out_of_service(error)
        try:
            loop.call_soon_threadsafe(self._take_out_of_service)
        except RuntimeError:
            pass  # the loop is closed: the server is gone already

    def _out_of_service(self, error: str) -> str:
        return (
            f"database {self.info.name!r} is out of service: its commit log failed, so it accepts no "
            f"writes and serves no reads until the server is restarted. Fix the disk (space, "
            f"permissions, hardware) and restart the server: it recovers every durable transaction. "
            f"Cause: {error}"
        )

    def _take_out_of_service(self) -> None:
        """On the loop: close every client; the worker forgets them (its state, its thread)."""
        log.error("%s", self.failure)
        leaving = list(self.subscribers)
        for sub in leaving:
            sub.fail(1011, LOG_FAILED_CLOSE_REASON)
        if not self.worker.closed:
            self.submit(functools.partial(self._forget_all, leaving))
        self.stopped.set()  # log followers and other streams end

    def _forget_all(self, leaving: list[Subscriber]) -> None:
        for sub in leaving:
            self.forget(sub)

    def check_serving(self) -> None:
        """Raise DatabaseOutOfService once the commit log failed."""
        if self.failure is not None:
            raise DatabaseOutOfService(self.failure)

    async def stop(self) -> None:
        """Disconnect every client (running client_disconnected), finish queued work, stop the
        worker, close the backend (flushes durability). Later calls raise DatabaseStopped."""
        self.stopped.set()
        for sub in list(self.subscribers):
            sub.fail(1001, "database is shutting down or being updated")
            self.submit(functools.partial(self.disconnect, sub))  # a no-op once out of service
        await self.worker.close()
        self.backend.close()

    def _launch_scheduled_procedure(self, name: str, args: bytes) -> None:
        """A schedule table fired procedure `name` (on the worker): run it on the procedure pool,
        as the database itself."""
        def run() -> None:
            try:
                out = run_procedure(
                    self, name, args, args_format="bsatn", caller=self.info.identity, connection_id=None, auth=None
                )
            except Exception:
                log.exception("scheduled procedure %s failed in the host", name)
                return
            if out.status is not CallStatus.COMMITTED:
                log.warning("database %s: scheduled procedure %s failed: %s", self.info.name, name, out.error)

        POOL.submit(run)

    def install_backend(self, backend: DatabaseBackend) -> SubscriptionManager:
        """Serve from `backend` from now on (a module swap, on the worker): fresh subscriptions
        listening to its commits, confirmed reads, log followers and failure listener rebound.
        Returns the previous subscriptions, for `module_swap` to recompile the clients' query sets."""
        old_subscriptions = self.subscriptions
        self.backend = backend
        self._bind_worker(backend)
        backend.set_procedure_launcher(self._launch_scheduled_procedure)
        self.subscriptions = self._subscriptions_for(backend)
        self.worker.to_loop(_rebind, self.confirmed_reads, backend.durable_offset_waiter())
        self.log_followers.rebind(backend)
        if self._loop is not None:
            backend.on_log_failure(functools.partial(self._log_failed, self._loop))
        self.worker.wake()  # the scheduler timer is re-armed from the new module's schedules
        return old_subscriptions

    def subscribe_logs(self, listener: Callable[[LogLine], None]) -> Callable[[], None]:
        """Call `listener` on the loop for each new log record of whichever module runs (worker only)."""
        return self.log_followers.follow(self.backend, listener)

    def is_owner(self, identity: bytes) -> bool:
        return identity == self.info.owner

    def row_budget_for(self, identity: bytes) -> int | None:
        """Rows one query of `identity` may read or produce (None: unbounded, for the owner)."""
        return self.limits.row_budget_for(self.is_owner(identity))

    # ---- running work --------------------------------------------------------------------------

    async def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the worker, in order with everything else, and return its result."""

        def checked() -> T:
            if self.failure is not None:  # checked when it runs: nothing runs after a log failure
                raise DatabaseOutOfService(self.failure)
            return fn()

        return await self.worker.call(checked)

    def deliver_now(self) -> None:
        """Deliver what the worker code produced so far, here and now (for in-process callers that
        run jobs themselves, like the server overhead benchmark; never while the worker runs)."""
        self.worker.deliver_now()


    def _scheduler_timeout(self) -> float | None:
        if self.failure is not None:
            return None  # scheduled reducers no longer run: do not wake up for them
        due = self.worker.next_due_us()
        if due is None:
            return None
        return max(0.0, (due - now_us()) / 1e6)

    def _run_scheduled(self) -> None:
        if self.failure is not None:
            return
        due = self.backend.next_due_us()
        if due is None or due > now_us():
            return
        for result in self.backend.run_due(now_us()):
            self.broadcast(result)

    @property
    def durable_offset(self) -> float:
        return self.confirmed_reads.durable_offset

    def hold(self, sub: Subscriber, tx_offset: int) -> None:
        """`sub` has messages waiting for `tx_offset` to be durable (called from its flush)."""
        self.confirmed_reads.hold(sub, tx_offset)

    async def wait_durable(self, tx_offset: int | None) -> None:
        """Return once `tx_offset` is durable; DatabaseOutOfService if it never will be."""
        try:
            await self.confirmed_reads.wait_durable(tx_offset)
        except LogClosedError as e:  # stopped (republish, delete, shutdown) before it was written
            raise DatabaseStopped(f"database {self.info.name!r} stopped before the commit was durable") from e
        except Exception as e:  # the log failed; its listener may not have told us yet
            if self.failure is None:
                self._log_failed(asyncio.get_running_loop(), str(e))
            raise DatabaseOutOfService(self.failure or self._out_of_service(str(e))) from e

    def touch(self, sub: Subscriber) -> None:
        """Flush `sub` at the end of the current worker turn."""
        self.worker.touch(sub)

    def submit_frame(self, sub: Subscriber, messages: list[ClientMessage], raw: bytes | None = None) -> None:
        """Queue one client frame's messages; a frame of reducer calls only may run on the event
        loop while the worker is idle (`worker.py`). (`raw`, the frame's bytes, is what crosses to a
        database process instead: `process_database.DatabaseProcess.submit_frame`.)"""
        for m in messages:  # (a loop, not `all` over a generator: this runs per frame)
            if type(m) is not CallReducer:
                self.worker.submit(functools.partial(self.handle_all, sub, messages))
                return
        self.worker.submit(InlineJob(self.handle_all, sub, messages))

    def handle_all(self, sub: Subscriber, messages: list[ClientMessage], start: int = 0) -> None:
        """Handle the messages of one client frame from `start` on, in order (`client_requests.py`)."""
        handle = client_requests.handle
        for i in range(start, len(messages)):
            if handle(self, sub, messages[i]):
                # Interrupted on the event loop and rolled back: again on the worker, from this one on.
                self.worker.move_to_worker(functools.partial(self.handle_all, sub, messages, i))
                return
        if self.worker.inline_budget is not None:  # a turn run on the loop: told here and now
            sub.handled(len(messages))
        else:  # the client's `handled` as a plain function of (client, count): one call on the loop
            self.worker.to_loop(type(sub).handled, sub, len(messages))

    def broadcast(self, result: CallResult, caller: Subscriber | None = None, request_id: int = 0) -> None:
        """Send a transaction's effects (`fanout.py`)."""
        fanout.broadcast(self.send, self.subscriptions, result, caller, request_id, self.send_shared)

    # ---- WebSocket connections (run on the worker) ---------------------------------------------

    def connect(self, sub: Subscriber) -> CallResult:
        result = self.backend.client_connected(sub.identity, sub.connection_id, now_us(), sub.auth)
        if result.committed:
            self.subscribers.add(sub)
            self.broadcast(result)
        return result

    def disconnect(self, sub: Subscriber) -> None:
        if sub not in self.subscribers:
            return
        self.forget(sub)
        if self.failure is not None:
            return  # no more commits: the disconnect is not recorded
        result = self.backend.client_disconnected(sub.identity, sub.connection_id, now_us(), sub.auth)
        self.broadcast(result)

    def forget(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        self.worker.forget(sub)
        self.subscriptions.remove_subscriber(sub)

    # ---- HTTP operations (wrapped in a transient connection, as upstream) -------------------

    def http_session(
        self,
        caller: bytes,
        connection_id: int,
        body: Callable[[], T],
        committed: list[int] | None = None,
        auth: AuthCtx | None = None,
    ) -> T:
        """OnConnect, `body`, OnDisconnect; raises ConnectRejected if OnConnect fails.

        The tx offsets of the lifecycle commits are appended to `committed` (if given), so the
        request can answer once the last of its transactions is durable.
        """
        self.http_connect(caller, connection_id, committed, auth)
        try:
            return body()
        finally:
            self.http_disconnect(caller, connection_id, committed, auth)

    def http_connect(
        self, caller: bytes, connection_id: int, committed: list[int] | None = None, auth: AuthCtx | None = None
    ) -> None:
        """OnConnect of an HTTP request's transient connection (worker); ConnectRejected if it fails.
        (Split from `http_session` for procedure calls, whose body runs off the worker.)"""
        connected = self.backend.client_connected(caller, connection_id, now_us(), auth)
        if not connected.committed:
            raise ConnectRejected(connected.error or "rejected by client_connected")
        self.broadcast(connected)
        _note_offset(committed, connected)

    def http_disconnect(
        self, caller: bytes, connection_id: int, committed: list[int] | None = None, auth: AuthCtx | None = None
    ) -> None:
        """OnDisconnect of an HTTP request's transient connection (worker)."""
        disconnected = self.backend.client_disconnected(caller, connection_id, now_us(), auth)
        self.broadcast(disconnected)
        _note_offset(committed, disconnected)

    # ---- the front's operations (`DatabaseHandle`): each one job on the worker -----------------
    # A request that wrote answers once its last transaction (lifecycle ones too) is durable.

    async def admit(self, sub: Subscriber, first_message: bytes) -> str | None:
        def run() -> str | None:
            result = self.connect(sub)
            if not result.committed:
                return result.error or "rejected by client_connected"
            self.send(sub, first_message)
            return None

        return await self.call(run)

    async def leave(self, sub: Subscriber) -> None:
        await self.call(functools.partial(self.disconnect, sub))

    def leave_soon(self, sub: Subscriber) -> None:
        # A client closed for a backlog: its subscriptions stop being evaluated now, not when its
        # socket is finally gone.
        self.submit(functools.partial(self.disconnect, sub))

    def has_procedure(self, name: str) -> bool:
        return self.backend.has_procedure(name)

    async def has_http_route(self, method: str, path: str) -> bool:
        return self.backend.has_http_route(method, path)  # the module's routes are immutable data

    async def module_schema(self, version: int) -> dict[str, Any]:
        return await self.call(lambda: self.backend.module_def_json(version))

    async def call_reducer(self, reducer: str, args: Any, *, caller: bytes, auth: AuthCtx | None) -> CallResult:
        committed: list[int] = []
        conn_id = new_connection_id()

        def run() -> CallResult:
            result = self.backend.call_reducer(
                reducer,
                args,
                caller=caller,
                connection_id=conn_id,
                timestamp_us=now_us(),
                args_format="json",
                is_owner=self.is_owner(caller),
                auth=auth,
            )
            self.broadcast(result)
            _note_offset(committed, result)
            return result

        result = await self.call(lambda: self.http_session(caller, conn_id, run, committed, auth))
        if committed:
            await self.wait_durable(max(committed))
        return result

    async def call_procedure(self, name: str, args: Any, *, caller: bytes, auth: AuthCtx | None) -> ProcedureOutcome:
        """OnConnect, the body on a procedure thread (its transactions on the worker), OnDisconnect."""
        conn_id = new_connection_id()
        committed: list[int] = []
        await self.call(lambda: self.http_connect(caller, conn_id, committed, auth))
        try:
            out = await asyncio.get_running_loop().run_in_executor(
                POOL,
                lambda: run_procedure(
                    self, name, args, args_format="json", caller=caller, connection_id=conn_id, auth=auth,
                    committed=committed,
                ),
            )  # fmt: skip
        finally:
            await self.call(lambda: self.http_disconnect(caller, conn_id, committed, auth))
        if committed:
            await self.wait_durable(max(committed))
        return out

    async def run_sql(self, text: str, *, caller: bytes, auth: AuthCtx | None, confirmed: bool) -> list[dict[str, Any]]:
        committed: list[int | None] = []

        def run() -> list[dict[str, Any]]:
            statements, tx = self.backend.run_sql(
                text, caller, self.is_owner(caller), now_us(), row_budget=self.row_budget_for(caller)
            )
            if tx is not None:
                if not tx.committed:  # the commit log refused it: rolled back, nothing to broadcast
                    raise CommitRefused(tx.error)
                self.broadcast(tx)
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

        out = await self.call(lambda: self.http_session(caller, new_connection_id(), run, auth=auth))
        if committed and confirmed:
            await self.wait_durable(committed[0])  # confirmed (the default): DML answered once durable
        return out

    async def call_http_handler(self, request: Request) -> HttpCallOutcome | None:
        committed: list[int] = []

        def run() -> HttpCallOutcome | None:
            outcome = self.backend.call_http_handler(request, now_us())
            if outcome is not None:
                for commit in outcome.commits:
                    self.broadcast(commit)
                    _note_offset(committed, commit)
            return outcome

        outcome = await self.call(run)
        if committed:  # answered once the handler's transactions are durable, as /call
            await self.wait_durable(max(committed))
        return outcome

    async def take_snapshot(self, timeout_s: float) -> int | None:
        # The backend is read on the worker: a republish queued before this swaps it.
        backend, offset = await self.call(lambda: (self.backend, self.backend.request_snapshot()))
        if offset is not None:
            try:
                await asyncio.to_thread(backend.wait_snapshot, offset, timeout_s)
            except TimeoutError:
                raise
            except Exception as e:
                raise SnapshotFailed(str(e)) from e
        return offset

    async def read_logs(
        self, num_lines: int | None, listener: Callable[[LogLine], None] | None
    ) -> tuple[list[LogLine], Callable[[], None] | None]:
        def read() -> tuple[list[LogLine], Callable[[], None] | None]:
            records = self.backend.logs(num_lines)
            return records, (self.subscribe_logs(listener) if listener is not None else None)

        return await self.call(read)

    async def swap(self, spec: BackendSpec, directory: Path, old_entry: Path, factory: BackendFactory) -> ModuleSwapPlan:
        from spacetimedb.control.database_registry import restore_module_files
        from spacetimedb.control.module_swap import swap_module

        restore = functools.partial(restore_module_files, directory, spec.info, old_entry)
        return await self.call(functools.partial(swap_module, self, spec, factory, restore))


def _note_offset(committed: list[int] | None, result: CallResult) -> None:
    if committed is not None and result.committed and result.tx_offset is not None:
        committed.append(result.tx_offset)


def _rebind(reads: ConfirmedReads, waiter: DurableOffsetWaiter | None) -> None:
    reads.rebind(waiter)


__all__ = [
    "ConnectRejected",
    "DatabaseInfo",
    "DatabaseOutOfService",
    "DatabaseStopped",
    "HostedDatabase",
    "Subscriber",
    "now_us",
]
