"""The front's handle on a database that runs in a process of its own (`--database-processes`).

`DatabaseProcess` is the `DatabaseHandle` (`database_handle.py`) of such a database: it answers
what the front asks a `HostedDatabase` (the same methods: admit, calls, SQL, logs, `submit_frame`,
publish swap, stop) by records over a socketpair to
`python -m spacetimedb.control.database_process` (docs/architecture.md, "Database processes").
The clients stay here: each WebSocket session is a connection number on the link; SEND records are
queued into the sessions named and each session touched by a batch is flushed once after it.
Confirmed reads stay here too: this side's `ConfirmedReads` waits on DURABLE records, so a message
whose commit is not yet durable is held exactly as in one process.

Supervision: when the process exits or its socket ends (a crash, `os._exit` in module code, an
invalid record), its clients are closed with 1011 "database process restarted", requests in flight
fail with DatabaseStopped (503), and a new process is started on the same data after a short
backoff; it recovers every durable commit from the log. After `MAX_RESTARTS` within
`RESTART_WINDOW_SECONDS` the database is out of service instead.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spacetimedb.control import records
from spacetimedb.control.backend import CallResult, HttpCallOutcome, LogLine, ModuleSwapPlan, ProcedureOutcome
from spacetimedb.control.confirmed_reads import ConfirmedReads
from spacetimedb.control.errors import ConnectRejected, DatabaseOutOfService, DatabaseStopped
from spacetimedb.control.hosted_database import DatabaseInfo
from spacetimedb.control.query_limits import QueryLimits
from spacetimedb.control.subscriber import Subscriber
from spacetimedb.durability.options import DurabilityOptions
from spacetimedb.host.time_limit import DEFAULT_REDUCER_TIME_LIMIT
from spacetimedb.module.auth import AuthCtx
from spacetimedb.module.http_client import HttpPolicy
from spacetimedb.module.http_handler import Request
from spacetimedb.protocol.client_messages import ClientMessage

if TYPE_CHECKING:
    from spacetimedb.control.database_process import Operation
    from spacetimedb.control.database_registry import BackendFactory, BackendSpec

log = logging.getLogger("spacetimedb.server")

#: Close reason (1011) for the clients of a database whose process ended unexpectedly.
RESTARTED_CLOSE_REASON = "database process restarted"
#: Restarts allowed within `RESTART_WINDOW_SECONDS`; one more and the database is out of service.
MAX_RESTARTS = 3
RESTART_WINDOW_SECONDS = 60.0
#: Wait before the n-th restart within the window (seconds).
RESTART_BACKOFF = (0.1, 1.0, 5.0)
#: How long a database process may take to load its module and recover its data.
START_TIMEOUT_SECONDS = 300.0
#: How long `stop` waits for the process to flush and exit before killing it.
STOP_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class ProcessOptions:
    """What every database process is started with besides its own spec (`--database-processes`)."""

    durability: DurabilityOptions | None = None
    #: Seconds a reducer may run (None: no limit); the host's default unless given.
    reducer_time_limit: float | None = DEFAULT_REDUCER_TIME_LIMIT
    #: Address space one database process may use (RLIMIT_AS, bytes; None: unlimited). Past it an
    #: allocation fails (MemoryError: the call fails, rolled back) or the process ends (restarted).
    memory_limit: int | None = None

    @classmethod
    def for_factory(cls, factory: object) -> ProcessOptions | None:
        """The options that build what `factory` builds in a database process, if it is the real
        host's (None: another backend, which only runs in this process)."""
        from spacetimedb.control.host_backend import HostBackendFactory, host_backend_factory

        if factory is host_backend_factory:
            return cls()
        if isinstance(factory, HostBackendFactory):
            return cls(factory.durability, factory.reducer_time_limit)
        return None


class ModuleLoadFailed(Exception):
    """The database process could not load the module (the text names the error)."""


class RemoteDurability:
    """The database's durable offset as its DURABLE records report it, as a waiter for `ConfirmedReads`
    (callable: a future per offset; `call_when_durable`: a callback, called as the DURABLE record is
    read, with no future and no extra loop iteration)."""

    def __init__(self) -> None:
        self.offset = -1
        self._waiting: list[tuple[int, int, asyncio.Future[None] | Callable[[BaseException | None], None]]] = []
        self._seq = itertools.count()
        self._failed: BaseException | None = None

    def wait(self, target: int) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._failed is not None:
            fut.set_exception(self._failed)
        elif target <= self.offset:
            fut.set_result(None)
        else:
            heapq.heappush(self._waiting, (target, next(self._seq), fut))
        return fut

    __call__ = wait

    def call_when_durable(self, target: int, callback: Callable[[BaseException | None], None]) -> None:
        """Call `callback(None)` once a DURABLE record reaches `target` (from `advance`, as the
        record is read), or `callback(error)` if the link ends first; on the loop, as the commit
        log's method of this name."""
        if self._failed is not None or target <= self.offset:
            asyncio.get_running_loop().call_soon(callback, self._failed)
        else:
            heapq.heappush(self._waiting, (target, next(self._seq), callback))

    def now(self) -> int | None:
        return self.offset if self.offset >= 0 else None

    def advance(self, offset: int) -> None:
        if offset <= self.offset:
            return
        self.offset = offset
        waiting = self._waiting
        while waiting and waiting[0][0] <= offset:
            fut = heapq.heappop(waiting)[2]
            if not isinstance(fut, asyncio.Future):
                fut(None)
            elif not fut.done():
                fut.set_result(None)

    def fail(self, error: BaseException) -> None:
        self._failed = error
        waiting, self._waiting = self._waiting, []
        for _, _, fut in waiting:
            if not isinstance(fut, asyncio.Future):
                fut(error)
            elif not fut.done():
                fut.set_exception(error)


@dataclass(eq=False)
class _Link:
    """One incarnation of the database process and its socket."""

    proc: asyncio.subprocess.Process
    transport: asyncio.Transport
    writer: records.BatchWriter
    pending: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    conns: dict[int, Subscriber] = field(default_factory=dict)
    conn_of: dict[Subscriber, int] = field(default_factory=dict)
    followers: dict[int, Callable[[LogLine], None]] = field(default_factory=dict)
    durability: RemoteDurability = field(default_factory=RemoteDurability)
    down: bool = False
    #: Its database served (a process that fails before is a failed start, not restarted).
    ready: bool = False


class DatabaseProcess:
    """A hosted database in a child process, as the front sees it (see the module docstring)."""

    remote = True

    def __init__(
        self,
        spec: Any,
        options: ProcessOptions,
        limits: QueryLimits | None = None,
        http_policy: HttpPolicy | None = None,
    ) -> None:
        self.spec = spec
        self.info: DatabaseInfo = spec.info
        self.options = options
        self.limits = limits or QueryLimits()
        self.http_policy = http_policy or HttpPolicy()
        #: Why the database is out of service, or None while it serves.
        self.failure: str | None = None
        self.stopped = asyncio.Event()
        #: One for the database's life (sessions keep a reference); rebound to each process's DURABLE records.
        self.confirmed_reads = ConfirmedReads(RemoteDurability().wait, self.info.name)
        self.procedures: frozenset[str] = frozenset()
        self._link: _Link | None = None
        self._up = asyncio.Event()
        self._ids = itertools.count(1)
        self._conns = itertools.count(1)
        self._followers = itertools.count(1)
        self._stopping = False
        self._restarts: list[float] = []
        self._supervisor: asyncio.Task[None] | None = None
        #: Incarnations started (1 after launch; each restart adds one). For tests and logs.
        self.generation = 0

    # ---- start, stop, restart --------------------------------------------------------------------

    @classmethod
    async def launch(
        cls, spec: Any, options: ProcessOptions, limits: QueryLimits | None = None, http_policy: HttpPolicy | None = None
    ) -> DatabaseProcess:
        """Start the process and wait until it serves; PublishRefused or ModuleLoadFailed if its module
        cannot take the data."""
        db = cls(spec, options, limits, http_policy)
        await db._spawn(spec)
        return db

    def start(self) -> None:
        """(The process serves from `launch` on.)"""

    async def _spawn(self, spec: Any) -> None:
        from spacetimedb.control.database_process import ProcessConfig

        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [env.get("PYTHONPATH")])])
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "spacetimedb.control.database_process", str(theirs.fileno()), self.info.name,
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL, env=env,
                # Its own session: a Ctrl-C at the terminal reaches the front only, which stops each
                # database in turn (flushed); a database process ends on its own when the front is gone.
                start_new_session=True,
            )  # fmt: skip
        finally:
            theirs.close()
        protocol = _FrontProtocol(self)
        transport, _ = await loop.create_unix_connection(lambda: protocol, sock=ours)
        link = _Link(proc, transport, records.BatchWriter(transport, loop))
        protocol.link = link
        self._link = link
        self.generation += 1
        ready: asyncio.Future[Any] = loop.create_future()
        link.pending[0] = ready
        config = ProcessConfig(
            spec, self.options.durability, self.options.reducer_time_limit, self.limits, self.http_policy,
            self.options.memory_limit,
        )
        link.writer.add(records.Kind.CONFIG, 0, records.dumps(config))
        watcher = loop.create_task(self._watch(link))
        try:
            facts = await asyncio.wait_for(asyncio.shield(ready), START_TIMEOUT_SECONDS)
        except BaseException:
            self._stopping_link(link)
            await _reap(link.proc)
            watcher.cancel()
            raise
        self.procedures = frozenset(facts["procedures"])
        if self._stopping:  # stopped while this one started (a restart racing a delete or shutdown)
            self._stopping_link(link)
            await _reap(link.proc)
            raise DatabaseStopped(f"database {self.info.name!r} has stopped")
        link.ready = True
        reads = self.confirmed_reads
        reads.rebind(link.durability if facts["durable"] else None)
        reads.durable_now = link.durability.now
        self.stopped = asyncio.Event()
        self._up.set()
        self._supervisor = watcher

    def _stopping_link(self, link: _Link) -> None:
        link.down = True
        if not link.transport.is_closing():
            link.transport.close()
        if link.proc.returncode is None:
            try:
                link.proc.kill()
            except ProcessLookupError:
                pass

    async def _watch(self, link: _Link) -> None:
        """Until the process exits: then, unless it was stopped on purpose, restart it."""
        await link.proc.wait()
        self._link_down(link, f"exit status {link.proc.returncode}")

    def _link_down(self, link: _Link, why: str) -> None:
        """The process or its socket ended: close its clients, fail its requests, restart it."""
        if link.down:
            return
        link.down = True
        if not link.transport.is_closing():
            link.transport.close()
        if link is not self._link:
            return
        if not link.ready:  # a failed start: `_spawn` reports it
            error = DatabaseStopped(f"database {self.info.name!r}: its process ended while starting ({why})")
            for fut in link.pending.values():
                if not fut.done():
                    fut.set_exception(error)
            return
        self._up.clear()
        self.stopped.set()  # log followers end
        expected = self._stopping
        reason = "database is shutting down or being updated" if expected else RESTARTED_CLOSE_REASON
        code = 1001 if expected else 1011
        for sub in list(link.conns.values()):
            sub.fail(code, reason)
        link.conns.clear()
        link.conn_of.clear()
        error = DatabaseStopped(f"database {self.info.name!r}: {reason}")
        for fut in link.pending.values():
            if not fut.done():
                fut.set_exception(error)
        link.pending.clear()
        link.durability.fail(error)
        if expected:
            return
        log.error("database %s: its process ended unexpectedly (%s); restarting it", self.info.name, why)
        if link.proc.returncode is None:
            try:
                link.proc.kill()  # a socket that failed: make sure the old process is gone before a new one opens the log
            except ProcessLookupError:
                pass
        asyncio.get_running_loop().create_task(self._restart(link))

    async def _restart(self, old: _Link) -> None:
        await _reap(old.proc)
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < RESTART_WINDOW_SECONDS]
        if len(self._restarts) >= MAX_RESTARTS:
            self._out_of_service(
                f"database {self.info.name!r} is out of service: its process ended {len(self._restarts) + 1} times "
                f"within {RESTART_WINDOW_SECONDS:g} s (see the server log); restart the server once the module is fixed"
            )
            return
        await asyncio.sleep(RESTART_BACKOFF[min(len(self._restarts), len(RESTART_BACKOFF) - 1)])
        self._restarts.append(time.monotonic())
        if self._stopping:
            return
        from spacetimedb.control.database_registry import BackendSpec

        spec = BackendSpec(self.spec.info, self.spec.module_path, self.spec.data_dir, fresh=False)
        try:
            await self._spawn(spec)
        except Exception as e:
            log.error("database %s: its process could not be restarted: %s", self.info.name, e)
            if self._link is not None and self._link.down and not self._stopping:
                self._link_down_again()
            return
        log.info("database %s: process restarted (generation %d)", self.info.name, self.generation)

    def _link_down_again(self) -> None:
        link = self._link
        if link is None:
            return
        asyncio.get_running_loop().create_task(self._restart(link))

    def _out_of_service(self, why: str) -> None:
        log.error("%s", why)
        self.failure = why
        self.stopped.set()
        self._up.set()  # waiters see the failure

    async def stop(self) -> None:
        """Close every client, let the process stop its database (durability flushed) and exit."""
        self._stopping = True
        self.stopped.set()
        link = self._link
        if link is None:
            return
        for sub in list(link.conns.values()):
            sub.fail(1001, "database is shutting down or being updated")
        if not link.down:
            try:
                await asyncio.wait_for(self._request(link, "stop", ()), STOP_TIMEOUT_SECONDS)
            except (DatabaseStopped, TimeoutError, ModuleLoadFailed) as e:
                log.warning("database %s: its process did not stop cleanly: %s", self.info.name, e)
        try:
            await asyncio.wait_for(link.proc.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            log.error("database %s: its process did not exit; killing it", self.info.name)
        self._stopping_link(link)
        await _reap(link.proc)
        if self._supervisor is not None:
            await asyncio.gather(self._supervisor, return_exceptions=True)

    @property
    def pid(self) -> int:
        """The database process's id now (tests kill it to check the restart)."""
        assert self._link is not None
        return self._link.proc.pid

    # ---- what the front asks ---------------------------------------------------------------------

    def check_serving(self) -> None:
        if self.failure is not None:
            raise DatabaseOutOfService(self.failure)

    def is_owner(self, identity: bytes) -> bool:
        return identity == self.info.owner

    def has_procedure(self, name: str) -> bool:
        return name in self.procedures

    async def _current(self) -> _Link:
        while True:
            if self.failure is not None:
                raise DatabaseOutOfService(self.failure)
            if self._stopping:
                raise DatabaseStopped(f"database {self.info.name!r} has stopped")
            link = self._link
            if link is not None and not link.down and self._up.is_set():
                return link
            if self._up.is_set():
                self._up.clear()  # (a link that went down without a restart yet)
            await self._up.wait()

    async def request(self, op: Operation, *args: Any) -> Any:
        """Run operation `op` in the database process (one of `database_process._OPERATIONS`)."""
        return await self._request(await self._current(), op, args)

    async def _request(self, link: _Link, op: Operation, args: tuple[Any, ...]) -> Any:
        request_id = next(self._ids) & 0xFFFFFFFF or next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        link.writer.add(records.Kind.REQUEST, 0, records.id_payload(request_id, records.dumps((op, args))))
        link.pending[request_id] = fut
        return await fut

    def post(self, op: Operation, *args: Any) -> None:
        """Send operation `op` without waiting for its answer (dropped if the process is down)."""
        link = self._link
        if link is None or link.down:
            return
        request_id = next(self._ids) & 0xFFFFFFFF or next(self._ids)
        link.writer.add(records.Kind.REQUEST, 0, records.id_payload(request_id, records.dumps((op, args))))

    async def admit(self, sub: Subscriber, first_message: bytes) -> str | None:
        v3 = getattr(sub, "v3", True)  # the database process decodes its frames
        link = await self._current()
        conn = next(self._conns) & 0xFFFFFFFF or next(self._conns)
        link.conns[conn] = sub
        link.conn_of[sub] = conn
        try:
            refused: str | None = await self._request(
                link, "admit", (conn, sub.identity, sub.connection_id, sub.auth, v3, first_message)
            )
        except BaseException:
            link.conns.pop(conn, None)
            link.conn_of.pop(sub, None)
            raise
        if refused is not None:
            link.conns.pop(conn, None)
            link.conn_of.pop(sub, None)
        return refused

    async def leave(self, sub: Subscriber) -> None:
        link = self._link
        if link is None or link.down:
            return
        conn = link.conn_of.get(sub)
        if conn is None:
            return
        try:
            await self._request(link, "leave", (conn,))
        finally:
            link.conns.pop(conn, None)
            link.conn_of.pop(sub, None)

    def leave_soon(self, sub: Subscriber) -> None:
        link = self._link
        if link is None or link.down:
            return
        conn = link.conn_of.get(sub)
        if conn is not None:
            link.writer.add(records.Kind.DISCONNECT, conn, b"")

    def submit_frame(self, sub: Subscriber, messages: Sequence[ClientMessage], raw: bytes | None = None) -> None:
        """Forward one client frame (counted by the front, `count_client_frame`; decoded over there,
        which closes the client with the decoder's reason if it is malformed). `messages` is unused."""
        link = self._link
        if link is None or link.down or raw is None:
            raise DatabaseStopped(f"database {self.info.name!r}: {RESTARTED_CLOSE_REASON}")
        conn = link.conn_of.get(sub)
        if conn is None:
            raise DatabaseStopped(f"database {self.info.name!r}: {RESTARTED_CLOSE_REASON}")
        try:
            link.writer.add(records.Kind.FRAME, conn, raw)
        except records.RecordTooLarge as e:
            sub.fail(1009, str(e)[:120])

    async def read_logs(
        self, num_lines: int | None, listener: Callable[[LogLine], None] | None
    ) -> tuple[list[LogLine], Callable[[], None] | None]:
        link = await self._current()
        if listener is None:
            lines: list[LogLine] = await self._request(link, "read_logs", (num_lines, None))
            return lines, None
        follower = next(self._followers) & 0xFFFFFFFF or next(self._followers)
        link.followers[follower] = listener
        try:
            lines = await self._request(link, "read_logs", (num_lines, follower))
        except BaseException:
            link.followers.pop(follower, None)
            raise

        def unfollow() -> None:
            if link.followers.pop(follower, None) is not None and not link.down:
                self.post("unfollow", follower)

        return lines, unfollow

    async def swap(self, spec: BackendSpec, directory: Path, old_entry: Path, factory: BackendFactory) -> ModuleSwapPlan:
        """A republish over this database: `module_swap` in the process, with its own factory (the
        real host's, `factory` is not used); the module path it restarts from changes only once the
        swap succeeded."""
        facts = await self.request("swap", spec, directory, old_entry)
        self.spec = spec
        self.procedures = frozenset(facts["procedures"])
        plan: ModuleSwapPlan = facts["plan"]
        return plan

    # The operations below are each one REQUEST, answered in the process by the `HostedDatabase`
    # method of the same name (`database_process._OPERATIONS`).

    async def has_http_route(self, method: str, path: str) -> bool:
        result: bool = await self.request("has_http_route", method, path)
        return result

    async def module_schema(self, version: int) -> dict[str, Any]:
        doc: dict[str, Any] = await self.request("module_schema", version)
        return doc

    async def call_reducer(self, reducer: str, args: Any, *, caller: bytes, auth: AuthCtx | None) -> CallResult:
        called: CallResult = await self.request("call_reducer", reducer, args, caller, auth)
        return called

    async def call_procedure(self, name: str, args: Any, *, caller: bytes, auth: AuthCtx | None) -> ProcedureOutcome:
        outcome: ProcedureOutcome = await self.request("call_procedure", name, args, caller, auth)
        return outcome

    async def run_sql(self, text: str, *, caller: bytes, auth: AuthCtx | None, confirmed: bool) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = await self.request("run_sql", text, caller, auth, confirmed)
        return answers

    async def call_http_handler(self, request: Request) -> HttpCallOutcome | None:
        handled: HttpCallOutcome | None = await self.request("call_http_handler", request)
        return handled

    async def take_snapshot(self, timeout_s: float) -> int | None:
        taken: int | None = await self.request("take_snapshot", timeout_s)
        return taken

    # ---- records from the process --------------------------------------------------------------

    def _received(self, link: _Link, batch: list[records.Record]) -> None:
        touched: dict[Subscriber, None] = {}
        conns = link.conns
        reads = self.confirmed_reads
        newest = -1
        sends = [records.parse_send(payload) for kind, _, payload in batch if kind is records.Kind.SEND]
        # Several shared updates in one batch: their clients are flushed once at the end (one frame).
        later = touched if sum(len(targets) > 1 for _, targets, _ in sends) > 1 else None
        parsed = iter(sends)
        for kind, conn, payload in batch:
            if kind is records.Kind.SEND:
                offset, targets, message = next(parsed)
                if len(targets) > 1:  # a commit's shared update: one pass for all (confirmed reads)
                    subs: list[Subscriber] = list(filter(None, map(conns.get, targets)))
                    if subs:
                        if later is None and touched:  # what came before leaves first (a caller's reply)
                            for earlier in touched:
                                earlier.flush()
                            touched.clear()
                        reads.send_shared(subs, message, offset, later)
                    continue
                for c in targets:
                    sub = conns.get(c)
                    if sub is not None:
                        sub.enqueue(message, offset)
                        touched[sub] = None
            elif kind is records.Kind.DURABLE:
                durable = records.parse_i64(payload, "DURABLE")
                link.durability.advance(durable)
                newest = max(newest, durable)
            elif kind is records.Kind.HANDLED:
                count = records.parse_u32(payload, "HANDLED")
                sub = conns.get(conn)
                if sub is not None:
                    sub.handled(count)
            elif kind is records.Kind.FAIL:
                code, reason = records.parse_fail(payload)
                sub = conns.get(conn)
                if sub is not None:
                    sub.fail(code, reason)
            elif kind is records.Kind.REPLY:
                request_id, body = records.parse_id(payload, "REPLY")
                fut = link.pending.pop(request_id, None)
                value = records.loads(body)
                if fut is not None and not fut.done():
                    _settle(fut, value)
            elif kind is records.Kind.LOG:
                line = records.loads(payload)
                if not isinstance(line, LogLine):
                    raise records.RecordError("LOG record is not a log line")
                listener = link.followers.get(conn)
                if listener is not None:
                    listener(line)
            elif kind is records.Kind.LOG_FAILED:
                self._log_failed(link, records.parse_text(payload, "LOG_FAILED"))
        if newest > reads.durable_offset:
            # The replies this batch carries with their DURABLE record (the database process holds
            # a commit's replies until it can send both) leave in this wake-up, not one loop later.
            reads.note_durable(newest)
        for sub in touched:
            sub.flush()
        reads.after_turn()

    def _log_failed(self, link: _Link, reason: str) -> None:
        """The database's commit log failed: out of service, as in one process (its clients were
        closed by FAIL records already)."""
        self.failure = reason
        self.stopped.set()
        link.durability.fail(DatabaseOutOfService(reason))


def _settle(fut: asyncio.Future[Any], value: Any) -> None:
    if not isinstance(value, tuple) or not value or value[0] not in ("ok", "err"):
        fut.set_exception(records.RecordError("REPLY payload is not an outcome"))
    elif value[0] == "ok" and len(value) == 2:
        fut.set_result(value[1])
    elif value[0] == "err" and len(value) == 3 and isinstance(value[1], str) and isinstance(value[2], str):
        fut.set_exception(_error(value[1], value[2]))
    else:
        fut.set_exception(records.RecordError("REPLY payload is not an outcome"))


def _error(name: str, text: str) -> BaseException:
    from spacetimedb.control.backend import QueryRejected
    from spacetimedb.control.database_registry import PublishRefused
    from spacetimedb.control.errors import CommitRefused, SnapshotFailed
    from spacetimedb.control.module_swap import SwapFailed

    known: dict[str, Callable[[str], BaseException]] = {
        "ConnectRejected": ConnectRejected,
        "DatabaseOutOfService": DatabaseOutOfService,
        "DatabaseStopped": DatabaseStopped,
        "QueryRejected": QueryRejected,
        "PermissionError": PermissionError,
        "CommitRefused": CommitRefused,
        "SnapshotFailed": SnapshotFailed,
        "TimeoutError": TimeoutError,
        "NotImplementedError": NotImplementedError,
        "SwapFailed": SwapFailed,
        "PublishRefused": PublishRefused,
        "ValueError": ValueError,
        "KeyError": KeyError,
        "TypeError": TypeError,
    }
    return known.get(name, ModuleLoadFailed)(text)


async def _reap(proc: asyncio.subprocess.Process) -> None:
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_SECONDS)
    except TimeoutError:
        proc.kill()
        await proc.wait()


class _FrontProtocol(asyncio.Protocol):
    def __init__(self, owner: DatabaseProcess) -> None:
        self.owner = owner
        self.link: _Link | None = None
        self.reader = records.RecordReader(records.TO_FRONT)

    def data_received(self, data: bytes) -> None:
        link = self.link
        if link is None or link.down:
            return
        try:
            self.owner._received(link, self.reader.feed(data))
        except records.RecordError as e:
            log.error("database %s: invalid record from its process, ending it: %s", self.owner.info.name, e)
            self.owner._link_down(link, f"invalid record: {e}")
        except Exception as e:  # a bug of ours: the rest of the batch is lost, so restart rather than hang
            log.exception("database %s: handling its process's records failed; restarting it", self.owner.info.name)
            self.owner._link_down(link, f"{type(e).__name__}: {e}")

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            try:
                self.reader.at_eof()
            except records.RecordError as e:
                log.error("database %s: %s", self.owner.info.name, e)
            self.owner._link_down(self.link, "its socket closed")


__all__ = ["DatabaseProcess", "ModuleLoadFailed", "ProcessOptions", "RemoteDurability"]
