"""One hosted database: its backend, its subscribers, and the thread that runs its work.

Everything that touches the database (reducer calls, subscribes, SQL, lifecycle, the scheduler)
is a job on one queue, run by the database's own worker thread in arrival order, so reducers run
one at a time and a subscription's initial rows are consistent with the deltas that follow. A
reducer that runs long (up to its time limit) therefore stalls only its own database: the event
loop and every other database keep going (the GIL is handed over every few milliseconds).

The worker drains every waiting job per turn (batching). Whatever a turn produces for the loop
(messages to clients, closes, results of awaited calls) is collected in order and handed over
once per turn with `call_soon_threadsafe`; the loop then enqueues the messages and flushes each
touched client once, so the replies to a v3 frame of pipelined calls leave in one frame. Sockets,
client sessions and confirmed reads are only ever touched on the loop thread.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from spacetimedb.control.backend import CallResult, CallStatus, DatabaseBackend, FanOut, QueryRejected
from spacetimedb.control.confirmed_reads import LOG_FAILED_CLOSE_REASON, ConfirmedReads
from spacetimedb.control.query_limits import QueryLimits
from spacetimedb.control.subscriptions import (
    DuplicateQuerySet,
    SubscriptionManager,
    UnknownQuerySet,
)
from spacetimedb.durability.errors import LogClosedError
from spacetimedb.protocol import wire
from spacetimedb.protocol.client_messages import (
    CallProcedure,
    CallReducer,
    OneOffQuery,
    Subscribe,
    Unsubscribe,
    UnsubscribeFlags,
)

log = logging.getLogger("spacetimedb.server")
T = TypeVar("T")

#: A worker turn ends after this many jobs or this much time, so sockets keep moving.
MAX_JOBS_PER_TURN = 2048
MAX_TURN_SECONDS = 0.02


def now_us() -> int:
    return time.time_ns() // 1000


class Subscriber(Protocol):
    """A connected WebSocket client as the database sees it."""

    identity: bytes
    connection_id: int

    def enqueue(self, message: bytes, tx_offset: int | None = None) -> None: ...

    def flush(self) -> None: ...

    def fail(self, code: int, reason: str) -> None:
        """Close this client's socket with a reason (protocol misuse)."""
        ...

    def handled(self, count: int) -> None:
        """`count` of its queued messages have been handled (incoming flow control)."""
        ...


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    name: str
    identity: bytes  # 32 big-endian bytes
    owner: bytes


class HostedDatabase:
    """One database this server hosts: its backend, its connected clients and their subscriptions,
    the worker that runs its work, and whether it still serves (its commit log may fail)."""

    def __init__(self, info: DatabaseInfo, backend: DatabaseBackend, limits: QueryLimits | None = None) -> None:
        self.info = info
        self.backend = backend
        self.limits = limits or QueryLimits()
        self.subscriptions = self._subscriptions_for(backend)
        self.subscribers: set[Subscriber] = set()
        self._jobs: deque[Callable[[], None]] = deque()
        self._wake = threading.Event()
        #: True while the worker is about to wait or waiting: only then must `submit` wake it (an
        #: Event.set per submitted frame costs a lock round trip the busy worker does not need).
        self._idle = False
        #: A wake-up of the idle worker is scheduled for the end of this loop iteration, so the frames
        #: read in one iteration wake it once (a wake-up is a futex syscall and a thread switch).
        self._kick_pending = False
        self._loop_thread: int | None = None
        #: This turn's hand-over to the loop, in order: (fn, a, b) called as fn(a, b) on the loop.
        self._ops: list[tuple[Callable[[Any, Any], None], Any, Any]] = []
        #: This turn's messages per client, (message, tx offset) in send order; each is flushed once.
        self._touched: dict[Subscriber, list[tuple[bytes, int | None]]] = {}
        #: Turns handed over and not yet delivered; one loop callback is posted for all of them.
        self._turns: deque[tuple[list[Any], dict[Subscriber, list[tuple[bytes, int | None]]]]] = deque()
        self._delivery_posted = False
        self._worker: threading.Thread | None = None
        self._worker_done: asyncio.Future[None] | None = None
        self._closed = False
        #: Set once the database stops (log followers and other streams end then).
        self.stopped = asyncio.Event()
        self.confirmed_reads = ConfirmedReads(backend.durable_offset_waiter(), info.name)
        #: Why the database is out of service (its commit log failed), or None while it serves.
        self.failure: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Log followers, kept here so they follow the database across module swaps.
        self._log_listeners: list[Callable[[Any], None]] = []
        self._unsubscribe_backend_logs: Callable[[], None] | None = None

    def _subscriptions_for(self, backend: DatabaseBackend) -> SubscriptionManager:
        # The real host routes commits to only the queries they can affect (QueryRegistry); the
        # subscriptions are evaluated inside each commit, against exactly that commit's state.
        manager = SubscriptionManager(backend.tables, backend.plan_router)
        backend.set_commit_listener(manager)
        return manager

    # ---- lifecycle of the worker --------------------------------------------------------------

    def start(self) -> None:
        if self._worker is None:
            loop = self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
            self._worker_done = loop.create_future()
            self._worker = threading.Thread(target=self._run, name=f"db:{self.info.name}", daemon=True)
            self._worker.start()
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
        if not self._closed:
            self.submit(functools.partial(self._forget_all, leaving))
        self.stopped.set()  # log followers and other streams end

    def _forget_all(self, leaving: list[Subscriber]) -> None:
        for sub in leaving:
            self._forget(sub)

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
        self._closed = True
        self._wake.set()
        if self._worker is not None and self._worker_done is not None:
            await self._worker_done  # the worker ends once the queue is drained
            self._worker = None
        self.backend.close()

    # ---- module swap (republish in place; both run on the worker, see module_swap.py) --------

    def detach_all(self, code: int, reason: str) -> list[Subscriber]:
        """Close every client and forget it, without running client_disconnected yet: a module swap
        runs it on the new module (as upstream), see `record_disconnects`."""
        leaving = list(self.subscribers)
        for sub in leaving:
            self._to_loop(sub.fail, code, reason)
            self._forget(sub)
        return leaving

    def record_disconnects(self, leaving: list[Subscriber]) -> None:
        """Run client_disconnected for clients already closed by `detach_all`."""
        for sub in leaving:
            if self.failure is not None:
                return
            self.broadcast(self.backend.client_disconnected(sub.identity, sub.connection_id, now_us()))

    def install_backend(self, backend: DatabaseBackend) -> None:
        """Serve from `backend` from now on, keeping every client: each query set is recompiled
        against the new module; one that no longer compiles is dropped with a SubscriptionError
        (request_id None, as for a set failing later). No rows are sent: a swap that keeps clients
        keeps every stored row as it was."""
        old_subscriptions = self.subscriptions
        if self._unsubscribe_backend_logs is not None:
            self._unsubscribe_backend_logs()
            self._unsubscribe_backend_logs = None
        self.backend = backend
        self.subscriptions = self._subscriptions_for(backend)
        for sub, query_set_id, sources in old_subscriptions.query_sets():
            self._resubscribe(sub, query_set_id, sources)  # type: ignore[arg-type]
        self._to_loop(_rebind, self.confirmed_reads, backend.durable_offset_waiter())
        if self._log_listeners:
            self._unsubscribe_backend_logs = backend.subscribe_logs(self._forward_log)
        if self._loop is not None:
            backend.on_log_failure(functools.partial(self._log_failed, self._loop))
        self._wake.set()  # the scheduler timer is re-armed from the new module's schedules

    def _resubscribe(self, sub: Subscriber, query_set_id: int, sources: tuple[str, ...]) -> None:
        owner = self.is_owner(sub.identity)
        try:
            plans = [p for q in sources for p in self.backend.compile_subscription(q, sub.identity, owner)]
            self.subscriptions.add(sub, query_set_id, plans, sources, with_rows=False)
        except Exception as e:  # QueryRejected in practice: a table was made private
            error = f"the module was updated and this query no longer applies: {e}"
            self._send(sub, wire.subscription_error(None, query_set_id, error))

    # ---- log followers ------------------------------------------------------------------------

    def subscribe_logs(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        """Call `listener` for each new log record of whichever module runs (worker only)."""
        self._log_listeners.append(listener)
        if self._unsubscribe_backend_logs is None:
            self._unsubscribe_backend_logs = self.backend.subscribe_logs(self._forward_log)

        def unsubscribe() -> None:
            if listener in self._log_listeners:
                self._log_listeners.remove(listener)

        return unsubscribe

    def _forward_log(self, record: Any) -> None:
        # Told on the worker thread; listeners (HTTP log streams) live on the loop.
        if self._loop is None:
            return
        for listener in list(self._log_listeners):
            try:
                self._loop.call_soon_threadsafe(listener, record)
            except RuntimeError:
                return  # the loop is closed

    def is_owner(self, identity: bytes) -> bool:
        return identity == self.info.owner

    def row_budget_for(self, identity: bytes) -> int | None:
        """Rows one query of `identity` may read or produce (None: unbounded, for the owner)."""
        return self.limits.row_budget_for(self.is_owner(identity))

    # ---- submitting work ----------------------------------------------------------------------

    def submit(self, job: Callable[[], None]) -> None:
        """Queue a job for the worker without waiting (the reader side of sockets uses this)."""
        if self._closed:
            raise DatabaseStopped(f"database {self.info.name!r} has stopped")
        self._jobs.append(job)
        if self._idle and not self._kick_pending:  # read after the append; the worker re-checks the queue
            if self._loop is not None and threading.get_ident() == self._loop_thread:
                self._kick_pending = True
                self._loop.call_soon(self._kick)
            else:
                self._wake.set()

    def _kick(self) -> None:
        self._kick_pending = False
        self._wake.set()

    async def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the worker, in order with everything else, and return its result."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def job() -> None:
            if fut.cancelled():
                return
            if self.failure is not None:  # checked when it runs: nothing runs after a log failure
                self._to_loop(_settle, fut, (False, DatabaseOutOfService(self.failure)))
                return
            try:
                outcome: tuple[bool, Any] = (True, fn())
            except Exception as e:  # handed to the awaiting request
                outcome = (False, e)
            except BaseException as e:  # e.g. SystemExit from module code at import: never the server's
                outcome = (False, ModuleCodeError(f"{type(e).__name__}({', '.join(map(repr, e.args))}) on the database worker"))
            self._to_loop(_settle, fut, outcome)

        self.submit(job)
        return await fut

    def _to_loop(self, fn: Callable[[Any, Any], None], a: Any, b: Any) -> None:
        """Run `fn(a, b)` on the loop at the end of this worker turn, in order with its messages."""
        self._ops.append((fn, a, b))

    def _run(self) -> None:
        """The worker thread: turns of jobs until stopped and drained."""
        jobs = self._jobs
        try:
            while not (self._closed and not jobs):
                self._wake.clear()
                if not jobs and not self._closed:
                    self._idle = True
                    if not jobs and not self._closed:
                        self._wake.wait(self._scheduler_timeout())
                    self._idle = False
                try:
                    self._run_scheduled()
                    deadline = time.perf_counter() + MAX_TURN_SECONDS
                    for _ in range(min(len(jobs), MAX_JOBS_PER_TURN)):
                        job = jobs.popleft()
                        try:
                            job()
                        except Exception:
                            log.exception("database %s: job failed", self.info.name)
                        if time.perf_counter() > deadline:
                            break
                except Exception:
                    log.exception("database %s: worker turn failed", self.info.name)
                finally:
                    self._hand_over()
        finally:
            self._post(_settle, self._worker_done, (True, None))

    def _hand_over(self) -> None:
        """End of a turn: give the loop this turn's operations and the clients to flush."""
        if not self._ops and not self._touched:
            return
        ops, self._ops = self._ops, []
        touched, self._touched = self._touched, {}
        self._turns.append((ops, touched))
        # Read after the append; the loop clears the flag before it drains (so no turn is missed).
        if not self._delivery_posted:
            self._delivery_posted = True
            self._post(self._deliver_turns, None, None)

    def _deliver_turns(self, _a: Any, _b: Any) -> None:
        """On the loop: every turn handed over so far, in order; each touched client flushed once."""
        self._delivery_posted = False
        turns = self._turns
        if len(turns) == 1:
            self._deliver(*turns.popleft())
            return
        flush: dict[Subscriber, None] = {}
        while turns:
            ops, touched = turns.popleft()
            self._deliver(ops, touched, flush=False)
            flush.update(dict.fromkeys(touched))
        self._flush(flush)

    def _post(self, fn: Callable[[Any, Any], None], a: Any, b: Any) -> None:
        if self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(fn, a, b)
        except RuntimeError:
            pass  # the loop is closed: the server is gone already

    def _deliver(
        self,
        ops: list[tuple[Callable[[Any, Any], None], Any, Any]],
        touched: dict[Subscriber, list[tuple[bytes, int | None]]],
        *,
        flush: bool = True,
    ) -> None:
        """On the loop: one worker turn's messages, then its other operations (closes, results of
        awaited calls; a close drops what is queued either way), then one flush per touched client."""
        for sub, box in touched.items():
            enqueue = sub.enqueue
            for message, offset in box:
                enqueue(message, offset)
        for fn, a, b in ops:
            try:
                fn(a, b)
            except Exception:
                log.exception("database %s: delivering to a client failed", self.info.name)
        if flush:
            self._flush(touched)

    def _flush(self, touched: Mapping[Subscriber, object]) -> None:
        for sub in touched:
            sub.flush()
        self.confirmed_reads.after_turn()

    def deliver_now(self) -> None:
        """Deliver what the worker code produced so far, here and now (for in-process callers that
        run jobs themselves, like the server overhead benchmark; never while the worker runs)."""
        ops, self._ops = self._ops, []
        touched, self._touched = self._touched, {}
        self._deliver(ops, touched)

    def _scheduler_timeout(self) -> float | None:
        if self.failure is not None:
            return None  # scheduled reducers no longer run: do not wake up for them
        due = self.backend.next_due_us()
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

    def _send(self, sub: Subscriber, message: bytes, tx_offset: int | None = None) -> None:
        box = self._touched.get(sub)
        if box is None:
            self._touched[sub] = [(message, tx_offset)]
        else:
            box.append((message, tx_offset))

    def send(self, sub: Subscriber, message: bytes) -> None:
        """Queue `message` for `sub` (worker only); it leaves at the end of this turn."""
        self._send(sub, message)

    def touch(self, sub: Subscriber) -> None:
        """Flush `sub` at the end of the current worker turn."""
        if sub not in self._touched:
            self._touched[sub] = []

    def handle_all(self, sub: Subscriber, messages: list[Any]) -> None:
        """Handle every message of one client frame, in order."""
        for msg in messages:
            self.handle(sub, msg)
        self._ops.append((_handled, sub, len(messages)))

    # ---- fan-out ------------------------------------------------------------------------------

    def broadcast(self, result: CallResult, caller: Subscriber | None = None, request_id: int = 0) -> None:
        """Send a transaction's effects: the caller's ReducerResult and others' TransactionUpdate."""
        fanout = result.fanout or _NO_FANOUT  # evaluated inside the commit (set_commit_listener)
        if self.subscriptions.failures:
            for sub, qs, error in self.subscriptions.take_failures():
                self._send(sub, wire.subscription_error(None, qs, error), result.tx_offset)  # type: ignore[arg-type]
        shared: dict[tuple[int, ...], bytes] = {}
        for sub, set_updates in fanout.items():
            if sub is caller:
                continue
            key = tuple(map(id, set_updates))
            message = shared.get(key)
            if message is None:  # identical for everyone subscribed to the same queries
                message = shared[key] = wire.transaction_update(set_updates)
            self._send(sub, message, result.tx_offset)  # type: ignore[arg-type]  # keys: our subscribers
        if caller is None:
            return
        own = fanout.get(caller) or []
        self._send(caller, reducer_result_message(request_id, result, own), result.tx_offset)

    # ---- WebSocket operations (run on the worker) ------------------------------------------

    def connect(self, sub: Subscriber) -> CallResult:
        result = self.backend.client_connected(sub.identity, sub.connection_id, now_us())
        if result.committed:
            self.subscribers.add(sub)
            self.broadcast(result)
        return result

    def disconnect(self, sub: Subscriber) -> None:
        if sub not in self.subscribers:
            return
        self._forget(sub)
        if self.failure is not None:
            return  # no more commits: the disconnect is not recorded
        result = self.backend.client_disconnected(sub.identity, sub.connection_id, now_us())
        self.broadcast(result)

    def _forget(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        self._touched.pop(sub, None)
        self.subscriptions.remove_subscriber(sub)

    def handle(self, sub: Subscriber, msg: Any) -> None:
        if sub not in self.subscribers or self.failure is not None:
            return  # disconnected while its messages were queued, or out of service
        if isinstance(msg, CallReducer):
            result = self.backend.call_reducer(
                msg.reducer,
                msg.args,
                caller=sub.identity,
                connection_id=sub.connection_id,
                timestamp_us=now_us(),
                is_owner=self.is_owner(sub.identity),
            )
            self.broadcast(result, sub, msg.request_id)
        elif isinstance(msg, Subscribe):
            self._subscribe(sub, msg)
        elif isinstance(msg, Unsubscribe):
            self._unsubscribe(sub, msg)
        elif isinstance(msg, OneOffQuery):
            self._one_off(sub, msg)
        elif isinstance(msg, CallProcedure):
            self._send(
                sub,
                wire.procedure_internal_error(msg.request_id, now_us(), f"no such procedure `{msg.procedure}`"),
            )

    def _subscribe(self, sub: Subscriber, msg: Subscribe) -> None:
        qs = msg.query_set_id.id
        if self.subscriptions.has_set(sub, qs):
            self._to_loop(sub.fail, 1011, f"query set {qs} is already subscribed")
            return
        owner = self.is_owner(sub.identity)
        refused = self._too_many_queries(sub, len(msg.query_strings))
        if refused is not None:
            self._send(sub, wire.subscription_error(msg.request_id, qs, refused))
            return
        try:
            plans: list[Any] = []
            sources: dict[str, None] = {}
            for query in msg.query_strings:
                for plan in self.backend.compile_subscription(query.strip(), sub.identity, owner):
                    plans.append(plan)
                    # Per table for `SELECT * FROM *`: a module swap does not add new tables to it.
                    sources[getattr(plan, "sql", query.strip())] = None
            refused = self._too_many_queries(sub, len(plans))  # `SELECT * FROM *` is one per table
            if refused is not None:
                raise QueryRejected(refused)
            pieces = self.subscriptions.add(
                sub, qs, plans, list(sources), budget=self.limits.budget(owner)
            )
        except (QueryRejected, DuplicateQuerySet) as e:
            self._send(sub, wire.subscription_error(msg.request_id, qs, str(e)))
            return
        except Exception as e:  # evaluation failed: the set is not kept
            if self.subscriptions.has_set(sub, qs):
                self.subscriptions.remove(sub, qs, with_rows=False)
            log.exception("subscribe failed")
            self._send(sub, wire.subscription_error(msg.request_id, qs, f"internal error: {e}"))
            return
        self._send(sub, wire.subscribe_applied(msg.request_id, qs, pieces))

    def _unsubscribe(self, sub: Subscriber, msg: Unsubscribe) -> None:
        qs = msg.query_set_id.id
        try:
            rows = self.subscriptions.remove(sub, qs, with_rows=msg.flags is UnsubscribeFlags.SendDroppedRows)
        except UnknownQuerySet as e:
            self._send(sub, wire.subscription_error(msg.request_id, qs, str(e)))
            return
        self._send(sub, wire.unsubscribe_applied(msg.request_id, qs, rows))

    def _too_many_queries(self, sub: Subscriber, adding: int) -> str | None:
        """Why subscribing `adding` more queries is refused, or None."""
        per_message, per_connection = self.limits.max_queries_per_subscribe, self.limits.max_queries_per_connection
        if adding > per_message:
            return (
                f"too many queries in one Subscribe: {adding}, at most {per_message} "
                "(the server's --max-subscribe-queries); subscribe in several messages"
            )
        held = self.subscriptions.queries_of(sub)
        if held + adding > per_connection:
            return (
                f"too many subscribed queries on this connection: {held} held and {adding} more, at most "
                f"{per_connection} (the server's --max-connection-queries); unsubscribe some first"
            )
        return None

    def _one_off(self, sub: Subscriber, msg: OneOffQuery) -> None:
        owner = self.is_owner(sub.identity)
        try:
            plans = self.backend.compile_subscription(msg.query_string.strip(), sub.identity, owner)
            scratch = SubscriptionManager(self.backend.tables)
            pieces = scratch.add(_OneOff(), 0, plans, budget=self.limits.budget(owner))
        except QueryRejected as e:
            self._send(sub, wire.one_off_query_err(msg.request_id, str(e)))
            return
        except Exception as e:  # every request is answered, whatever went wrong
            log.exception("one-off query failed")
            self._send(sub, wire.one_off_query_err(msg.request_id, f"internal error: {type(e).__name__}: {e}"))
            return
        self._send(sub, wire.one_off_query_ok(msg.request_id, pieces))

    # ---- HTTP operations (wrapped in a transient connection, as upstream) -------------------

    def http_session(
        self, caller: bytes, connection_id: int, body: Callable[[], T], committed: list[int] | None = None
    ) -> T:
        """OnConnect, `body`, OnDisconnect; raises ConnectRejected if OnConnect fails.

        The tx offsets of the lifecycle commits are appended to `committed` (if given), so the
        request can answer once the last of its transactions is durable.
        """
        connected = self.backend.client_connected(caller, connection_id, now_us())
        if not connected.committed:
            raise ConnectRejected(connected.error or "rejected by client_connected")
        self.broadcast(connected)
        _note_offset(committed, connected)
        try:
            return body()
        finally:
            disconnected = self.backend.client_disconnected(caller, connection_id, now_us())
            self.broadcast(disconnected)
            _note_offset(committed, disconnected)


_NO_FANOUT: FanOut = {}


def _note_offset(committed: list[int] | None, result: CallResult) -> None:
    if committed is not None and result.committed and result.tx_offset is not None:
        committed.append(result.tx_offset)


def _settle(fut: asyncio.Future[Any] | None, outcome: tuple[bool, Any]) -> None:
    """On the loop: complete an awaited worker call."""
    if fut is None or fut.done():
        return
    ok, value = outcome
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


def _rebind(reads: ConfirmedReads, waiter: Any) -> None:
    reads.rebind(waiter)


def _handled(sub: Subscriber, count: int) -> None:
    sub.handled(count)


class ModuleCodeError(RuntimeError):
    """Module code raised a BaseException (SystemExit, ...) outside a reducer, e.g. at import."""


class DatabaseStopped(Exception):
    """The database stopped (deleted, republished, server shutting down) before the request ran."""


class DatabaseOutOfService(DatabaseStopped):
    """The database's commit log failed: it runs nothing more until the server is restarted."""


class ConnectRejected(Exception):
    """The module's client_connected reducer refused this caller."""


class _OneOff:
    """A throwaway subscriber key for one-off queries."""


def reducer_result_message(request_id: int, result: CallResult, own_sets: list[bytes]) -> bytes:
    if result.status is CallStatus.COMMITTED:
        return wire.reducer_ok(request_id, result.timestamp_us, result.ret_value, own_sets)
    if result.status is CallStatus.FAILED_USER:
        return wire.reducer_err(request_id, result.timestamp_us, result.error)
    return wire.reducer_internal_error(request_id, result.timestamp_us, result.error or result.status.value)


__all__ = ["ConnectRejected", "DatabaseInfo", "DatabaseOutOfService", "Hashable", "HostedDatabase", "Subscriber", "now_us"]
