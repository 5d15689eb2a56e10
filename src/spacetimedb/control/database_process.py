"""One database in a process of its own: `python -m spacetimedb.control.database_process FD`.

Started by the front (`process_database.DatabaseProcess`) with one end of a socketpair as file
descriptor FD. The first record is CONFIG (the database's `BackendSpec` and the server's options);
the process builds its backend, answers request 0 with the module's procedure names (or why it
could not load), and then serves exactly as a `HostedDatabase` serves in the front's process: its
worker thread, durability, subscriptions, fan-out encoding, the reducer watchdog, the procedure
pool; it runs its own event loop, which the worker hands each turn to as in the front. Each client
is a `RemoteSubscriber` whose messages, closes and flow-control counts become records, collected per
loop iteration and written with one write (`records.BatchWriter`); a message many clients get
crosses once with their list. After each batch of messages with tx offsets it reports, once their
commit is durable, a DURABLE record, which is what the front's confirmed reads wait for; until then
the outgoing batch is held, and the commit log's writer thread writes it with that DURABLE record
right after its fsync (`_listen`): one write, one wake-up of the front, and none of this loop. A client's frames are decoded here only (the
front counts them): a malformed one closes that client as the front would.

Everything the front sends is checked (`records.RecordReader`, a restricted unpickler); an invalid
record ends the link, and the process stops its database (durability flushed) and exits. So does
the end of the socket: the front is gone.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from spacetimedb.control import records
from spacetimedb.control.backend import CallResult, HttpCallOutcome
from spacetimedb.control.database_registry import BackendSpec, PublishRefused
from spacetimedb.control.errors import DatabaseStopped
from spacetimedb.control.hosted_database import DatabaseInfo, HostedDatabase
from spacetimedb.control.query_limits import QueryLimits
from spacetimedb.control.records import Kind, RecordError
from spacetimedb.durability.options import DurabilityOptions
from spacetimedb.module.auth import AuthCtx
from spacetimedb.module.http_client import HttpPolicy
from spacetimedb.protocol.client_frames import MalformedMessage, decode_client_frame

log = logging.getLogger("spacetimedb.server")

#: Close code for a client whose frame does not decode (the front's `CLOSE_ERROR`, same reason text).
MALFORMED_CLOSE_CODE = 1011

#: Classes the database process unpickles from the front's records (CONFIG and REQUEST).
FRONT_CLASSES: frozenset[tuple[str, str]] = records.SAFE_CLASSES | {
    ("spacetimedb.control.database_registry", "BackendSpec"),
    ("spacetimedb.control.hosted_database", "DatabaseInfo"),
    ("spacetimedb.control.query_limits", "QueryLimits"),
    ("spacetimedb.control.database_process", "ProcessConfig"),
    ("spacetimedb.module.http_client", "HttpPolicy"),
    ("spacetimedb.durability.options", "DurabilityOptions"),
    ("spacetimedb.durability.policy", "FsyncPolicy"),
    ("pathlib", "PosixPath"),
    ("pathlib", "WindowsPath"),
}


@dataclass(frozen=True, slots=True)
class ProcessConfig:
    """What a database process is started with (the CONFIG record)."""

    spec: BackendSpec
    durability: DurabilityOptions | None
    reducer_time_limit: float | None
    limits: QueryLimits
    http_policy: HttpPolicy
    #: RLIMIT_AS of this process in bytes (None: unlimited), set before the module is loaded.
    memory_limit: int | None = None


#: The operations a REQUEST may name (`_OPERATIONS`, which holds exactly these): the type of the
#: front's `DatabaseProcess.request`, so mypy checks each name it sends.
Operation = Literal[
    "admit", "leave", "has_http_route", "module_schema", "call_reducer", "call_procedure", "run_sql",
    "call_http_handler", "take_snapshot", "read_logs", "unfollow", "swap", "stop",
]  # fmt: skip


#: Exceptions that cross as (name, text) and are raised again in the front as the same class.
ERROR_NAMES = (
    "ConnectRejected",
    "DatabaseOutOfService",
    "DatabaseStopped",
    "QueryRejected",
    "PermissionError",
    "CommitRefused",
    "SnapshotFailed",
    "TimeoutError",
    "NotImplementedError",
    "SwapFailed",
    "PublishRefused",
    "ValueError",
    "KeyError",
    "TypeError",
)


def error_reply(e: BaseException) -> tuple[str, str, str]:
    name = type(e).__name__
    if name not in ERROR_NAMES:
        return ("err", "ModuleLoadFailed", f"{name}: {e}")
    return ("err", name, str(e.args[0]) if name == "KeyError" and e.args else str(e))


class RemoteSubscriber:
    """A client of this database, connected to the front: what the database sends it becomes records."""

    __slots__ = ("auth", "conn", "connection_id", "failed", "identity", "out", "v3")
    #: The front's session holds its messages for confirmed reads, not this process.
    confirmed = False

    def __init__(self, out: Output, conn: int, identity: bytes, connection_id: int, auth: AuthCtx, v3: bool) -> None:
        self.out = out
        self.conn = conn
        self.identity = identity
        self.connection_id = connection_id
        self.auth = auth
        self.v3 = v3
        #: Closed (FAIL sent): its frames still on the way are not served, as the front's session
        #: serves nothing after it closes.
        self.failed = False

    def enqueue(self, message: bytes, tx_offset: int | None = None) -> bool:
        self.out.send(self.conn, message, tx_offset)
        return False  # the front holds it until DURABLE says its commit is durable

    def flush(self) -> None:
        pass  # the batch leaves at the end of the loop iteration

    def deliver(self, message: bytes, tx_offset: int | None = None) -> None:
        self.out.send(self.conn, message, tx_offset)

    def send_shared(self, message: bytes, tx_offset: int | None = None, flush: bool = True) -> None:
        self.out.send(self.conn, message, tx_offset)  # one SEND record with the list; the front holds it

    def fail(self, code: int, reason: str) -> None:
        if self.failed:
            return
        self.failed = True
        self.out.add(Kind.FAIL, self.conn, records.fail_payload(code, reason))

    def handled(self, count: int) -> None:
        self.out.add(Kind.HANDLED, self.conn, records.u32_payload(count))


class Output:
    """This process's records to the front. Consecutive sends of one message object (a commit's
    shared update, handed to each of its clients in turn) become one SEND record with the list."""

    def __init__(self, writer: records.BatchWriter, on_offset: Callable[[int], None]) -> None:
        self._writer = writer
        self._on_offset = on_offset
        self._message: bytes | None = None
        self._offset: int | None = None
        self._conns: list[int] = []
        writer.before_flush = self._finish_send

    def send(self, conn: int, message: bytes, offset: int | None) -> None:
        if message is self._message and offset == self._offset:
            self._conns.append(conn)
            return
        self._finish_send()
        self._message, self._offset, self._conns = message, offset, [conn]
        self._writer.schedule()

    def add(self, kind: Kind, conn: int, payload: bytes) -> None:
        self._finish_send()
        self._writer.add(kind, conn, payload)

    def flush(self) -> None:
        """Write what is collected now, held or not."""
        self._writer.flush(force=True)

    def _finish_send(self) -> None:
        message = self._message
        if message is None:
            return
        offset, conns = self._offset, self._conns
        self._message, self._offset, self._conns = None, None, []
        try:
            self._writer.add(Kind.SEND, 0, records.send_payload(offset, conns, message))
        except records.RecordTooLarge as e:
            for conn in conns:
                self._writer.add(Kind.FAIL, conn, records.fail_payload(1011, f"a message was too large: {e}"[:120]))
            return
        if offset is not None:
            self._on_offset(offset)


class DatabaseProcessMain:
    """The database process's side of the link."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.reader = records.RecordReader(records.TO_DATABASE)
        self.transport: asyncio.Transport | None = None
        self.writer: records.SharedBatchWriter
        self.out: Output | None = None
        self.db: HostedDatabase | None = None
        self.config: ProcessConfig | None = None
        self.factory: Callable[[BackendSpec], Any] | None = None
        self.subs: dict[int, RemoteSubscriber] = {}
        self.followers: dict[int, Callable[[], None]] = {}
        self.done = loop.create_future()
        self._tasks: set[asyncio.Task[Any]] = set()
        #: DURABLE reporting: the newest offset sent, the newest reported, and whether a wait is armed.
        self._target = -1
        self._reported = -1
        self._reporting = False
        #: A wait on the commit log is armed: the outgoing batch (the replies of the commits it
        #: covers) is held until it ends, then leaves with its DURABLE record (`records.BatchWriter.hold`).
        self._waiting = False
        #: The commit log whose writer thread reports DURABLE itself (`_listen`), or None (then a
        #: wait is armed per batch, `_arm`). Its listener is ignored once this names another.
        self._listened: object | None = None
        #: The newest offset that log's listener said is durable (under the writer's lock).
        self._seen = -1

    # ---- the link ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writer = writer = records.SharedBatchWriter(transport, self.loop)
        writer.hold = self._holding
        self.out = Output(writer, self._note_offset)

    def _holding(self) -> bool:
        if self._waiting:
            return True
        # Replies wait for the log's listener (`_durable_on_log_thread`), unless the log failed.
        return self._listened is not None and self._target > self._reported and self._serving()

    def _serving(self) -> bool:
        db = self.db
        return db is not None and db.failure is None and not db.stopped.is_set()

    def data_received(self, data: bytes) -> None:
        try:
            for kind, conn, payload in self.reader.feed(data):
                self._dispatch(kind, conn, payload)
        except RecordError as e:
            log.error("database process: invalid record from the front, ending the link: %s", e)
            self._finish()
        except Exception:  # a bug of ours: the rest of the batch is lost, so end (the front restarts us)
            log.exception("database process: handling the front's records failed, ending the link")
            self._finish()

    def eof_received(self) -> None:
        self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def _dispatch(self, kind: Kind, conn: int, payload: bytes) -> None:
        if kind is Kind.FRAME:
            sub = self.subs.get(conn)
            db = self.db
            if sub is None or db is None or sub.failed:
                return  # it left (or was closed) while this frame was on the way
            try:
                messages = decode_client_frame(payload, many=sub.v3)
            except MalformedMessage as e:  # the front only counted it: the close it would have made
                sub.fail(MALFORMED_CLOSE_CODE, f"malformed message: {e}")
                return
            try:
                db.submit_frame(sub, messages)
            except DatabaseStopped:
                pass
        elif kind is Kind.DISCONNECT:
            sub = self.subs.pop(conn, None)
            if sub is not None and self.db is not None:
                try:
                    self.db.leave_soon(sub)
                except DatabaseStopped:
                    pass
        elif kind is Kind.REQUEST:
            request_id, body = records.parse_id(payload, "REQUEST")
            value = records.loads(body, FRONT_CLASSES)
            if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], tuple)):
                raise RecordError("REQUEST payload is not (operation, arguments)")
            op, args = value
            handler = _OPERATIONS.get(op)
            if handler is None:
                raise RecordError(f"REQUEST of unknown operation {op!r}")
            task = self.loop.create_task(self._answer(request_id, handler, args))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind is Kind.CONFIG:
            if self.config is not None:
                raise RecordError("a second CONFIG record")
            config = records.loads(payload, FRONT_CLASSES)
            if not isinstance(config, ProcessConfig):
                raise RecordError("CONFIG payload is not a ProcessConfig")
            self._start(config)

    async def _answer(self, request_id: int, handler: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            if self.db is None:
                raise DatabaseStopped("the database process has not started its database")
            value: tuple[Any, ...] = ("ok", await handler(self, *args))
        except Exception as e:
            value = error_reply(e)
        except BaseException as e:  # SystemExit from module code: never this process's end
            value = ("err", "ModuleLoadFailed", f"{type(e).__name__}: {e}")
        self._reply(request_id, value)

    def _reply(self, request_id: int, value: Any) -> None:
        assert self.out is not None
        try:
            payload = records.id_payload(request_id, records.dumps(value))
            self.out.add(Kind.REPLY, 0, payload)
        except records.RecordTooLarge as e:
            self.out.add(Kind.REPLY, 0, records.id_payload(request_id, records.dumps(("err", "ValueError", str(e)))))
        except Exception as e:  # not picklable: a bug of ours, answered rather than hung
            log.exception("database process: reply %d could not be encoded", request_id)
            self.out.add(Kind.REPLY, 0, records.id_payload(request_id, records.dumps(("err", "ModuleLoadFailed", repr(e)))))

    # ---- start-up ----------------------------------------------------------------------------

    def _start(self, config: ProcessConfig) -> None:
        from spacetimedb.control.host_backend import HostBackendFactory

        self.config = config
        if config.memory_limit is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (config.memory_limit, config.memory_limit))
        self.factory = factory = HostBackendFactory(config.durability, config.reducer_time_limit)
        try:
            backend = factory(config.spec)
        except PublishRefused as e:
            self._reply(0, ("err", "PublishRefused", str(e)))
            return
        except BaseException as e:
            self._reply(0, ("err", "ModuleLoadFailed", f"{type(e).__name__}: {e}"))
            return
        db = HostedDatabase(config.spec.info, backend, config.limits)
        db.http_policy = config.http_policy
        self.db = db
        db.start()
        self._listen(db)
        watch = self.loop.create_task(self._watch_failure(db))
        self._tasks.add(watch)
        self._reply(0, ("ok", self._module_facts(db)))

    def _module_facts(self, db: HostedDatabase) -> dict[str, Any]:
        names = getattr(db.backend, "procedure_names", None)
        return {
            "procedures": sorted(names()) if names is not None else [],
            "durable": db.backend.durable_offset_waiter() is not None,
        }

    async def _watch_failure(self, db: HostedDatabase) -> None:
        await db.stopped.wait()
        if db.failure is not None and self.out is not None:
            self.out.add(Kind.LOG_FAILED, 0, db.failure.encode())

    # ---- DURABLE --------------------------------------------------------------------------------

    def _note_offset(self, offset: int) -> None:
        """A message for tx `offset` was sent: tell the front once that commit is durable."""
        if offset <= self._target:
            return
        self._target = offset
        listened = self._listened
        db = self.db
        if listened is not None and db is not None and getattr(db.backend, "durability", None) is listened:
            # The log's writer thread reports it (`_durable_on_log_thread`); unless it already has.
            with self.writer.lock:
                if self._seen >= offset:
                    self._report(self._seen)
            return
        if not self._reporting:
            self._arm()

    def _listen(self, db: HostedDatabase) -> None:
        """Have the commit log's writer thread report DURABLE and write the replies it releases
        itself, right after its fsync: no wake-up of this event loop per group commit (a wait armed
        per batch, `_arm`, is scheduled back on the loop). Again after a module swap (a new log)."""
        durability = getattr(db.backend, "durability", None)
        add = getattr(durability, "add_durable_listener", None)
        with self.writer.lock:
            self._listened = None
        if durability is None or add is None:
            return
        add(functools.partial(self._durable_on_log_thread, durability))
        durability.add_failure_listener(functools.partial(self._failed_on_log_thread, durability))
        now = db.backend.durable_offset_now()
        with self.writer.lock:
            self._listened = durability
            self._seen = max(self._seen, -1 if now is None else now)
            if self._target > self._reported and self._seen > self._reported:
                self._report(self._seen)
        self._release_batch()

    def _durable_on_log_thread(self, durability: object, offset: int) -> None:
        """On the commit log's writer thread, after each fsync: the DURABLE record and everything
        held for it leave now, from this thread (`records.BatchWriter.write_from_thread`)."""
        writer = self.writer
        with writer.lock:
            if self._listened is not durability:
                return
            if offset > self._seen:
                self._seen = offset
            if self._target <= self._reported or offset <= self._reported:
                return  # nothing sent waits for it
            self._reported = offset
            writer.write_from_thread(Kind.DURABLE, 0, records.i64_payload(offset))

    def _failed_on_log_thread(self, durability: object, error: BaseException) -> None:
        """The log failed: nothing is held for it any more (LOG_FAILED follows; the front fails
        what it holds)."""
        with self.writer.lock:
            if self._listened is not durability:
                return
            self._listened = None
        self.loop.call_soon_threadsafe(self._release_batch)

    def _arm(self) -> None:
        """Wait (one future, no task) for the newest offset sent; one wait covers a group commit."""
        db = self.db
        if db is None or self._reported >= self._target or db.failure is not None:
            return
        waiter = db.backend.durable_offset_waiter()
        target = self._target
        if waiter is None:  # no durability: every commit counts as durable at once
            self._report(target)
            return
        direct = getattr(waiter, "call_when_durable", None)
        try:
            if direct is not None:
                # The log's writer thread schedules the callback on this loop itself (one hop).
                self._reporting = self._waiting = True
                direct(target, functools.partial(self._durable_or_failed, target))
                return
            waiting = waiter(target)
        except Exception:  # the log is gone (a swap reopens it): try again shortly
            self._reporting = self._waiting = False
            self._release_batch()
            self._retry()
            return
        self._reporting = self._waiting = True
        if isinstance(waiting, asyncio.Future):
            waiting.add_done_callback(functools.partial(self._durable, target))
        else:
            task = self.loop.create_task(_awaited(waiting))
            task.add_done_callback(functools.partial(self._durable, target))

    def _durable(self, target: int, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            self._durable_or_failed(target, asyncio.CancelledError())
        else:
            self._durable_or_failed(target, fut.exception())

    def _durable_or_failed(self, target: int, error: BaseException | None) -> None:
        self._reporting = self._waiting = False
        db = self.db
        if error is not None:
            self._release_batch()  # what was held leaves now; the front holds its replies
            if db is not None and not db.stopped.is_set() and db.failure is None:
                self._retry()  # the log closed under a module swap: wait on the new one
            return  # else LOG_FAILED follows (or the database stopped): the front fails what it holds
        now = db.backend.durable_offset_now() if db is not None else None
        self._report(max(target, -1 if now is None else now))
        self._release_batch()  # the replies it covers and their DURABLE record, in one write
        if not self._reporting:  # (the flush may have armed the wait for newer sends already)
            self._arm()

    def _release_batch(self) -> None:
        if self.out is not None:
            self.out.flush()

    def _retry(self) -> None:
        self._reporting = True

        def again() -> None:
            self._reporting = False
            self._arm()

        self.loop.call_later(0.01, again)

    def _report(self, offset: int) -> None:
        if offset > self._reported and self.out is not None:
            with self.writer.lock:
                self._reported = offset
                self.out.add(Kind.DURABLE, 0, records.i64_payload(offset))

    # ---- the end ----------------------------------------------------------------------------------

    async def run(self) -> None:
        await self.done
        if self.transport is not None:
            # Closed first: the link ended without a stop request (the front is gone, or a record was
            # invalid), so nothing more is sent; the front closes the clients itself (1011).
            self.transport.close()
        db = self.db
        if db is not None and not db.worker.closed:
            try:
                await db.stop()
            except Exception:
                log.exception("database process: stopping the database failed")


async def _awaited(waiting: Any) -> None:
    await waiting


# ---- operations: the only requests the front can make; each runs the `HostedDatabase` method of
# ---- its name (`DatabaseHandle`), as `DatabaseProcess`'s method of that name asks for it ---------


def _plain(result: Any) -> Any:
    """A result without what stays in this process (changes and fan-out are not plain data)."""
    if isinstance(result, CallResult):
        return replace(result, changes={}, fanout=None)
    if isinstance(result, HttpCallOutcome):
        return HttpCallOutcome(result.response, result.error, [])
    return result


def _db(main: DatabaseProcessMain) -> HostedDatabase:
    assert main.db is not None  # (`_answer` refuses every request before the database started)
    return main.db


async def _admit(
    main: DatabaseProcessMain, conn: int, identity: bytes, connection_id: int, auth: AuthCtx, v3: bool, first: bytes
) -> str | None:
    assert main.out is not None
    if conn in main.subs:
        raise ValueError(f"connection {conn} is already admitted")
    sub = RemoteSubscriber(main.out, conn, identity, connection_id, auth, v3)
    main.subs[conn] = sub
    refused = await _db(main).admit(sub, first)
    if refused is not None:
        main.subs.pop(conn, None)
    return refused


async def _leave(main: DatabaseProcessMain, conn: int) -> None:
    sub = main.subs.pop(conn, None)
    if sub is not None:
        await _db(main).leave(sub)


async def _has_http_route(main: DatabaseProcessMain, method: str, path: str) -> bool:
    return await _db(main).has_http_route(method, path)


async def _module_schema(main: DatabaseProcessMain, version: int) -> Any:
    return await _db(main).module_schema(version)


async def _call_reducer(main: DatabaseProcessMain, reducer: str, args: Any, caller: bytes, auth: AuthCtx | None) -> Any:
    return _plain(await _db(main).call_reducer(reducer, args, caller=caller, auth=auth))


async def _call_procedure(main: DatabaseProcessMain, name: str, args: Any, caller: bytes, auth: AuthCtx | None) -> Any:
    return await _db(main).call_procedure(name, args, caller=caller, auth=auth)


async def _run_sql(main: DatabaseProcessMain, text: str, caller: bytes, auth: AuthCtx | None, confirmed: bool) -> Any:
    return await _db(main).run_sql(text, caller=caller, auth=auth, confirmed=confirmed)


async def _call_http_handler(main: DatabaseProcessMain, request: Any) -> Any:
    return _plain(await _db(main).call_http_handler(request))


async def _take_snapshot(main: DatabaseProcessMain, timeout_s: float) -> Any:
    return await _db(main).take_snapshot(timeout_s)


async def _read_logs(main: DatabaseProcessMain, num_lines: int | None, follower: int | None) -> Any:
    listener = None
    if follower is not None:
        out = main.out
        assert out is not None

        def listener(line: Any) -> None:
            out.add(Kind.LOG, follower, records.dumps(line))

    lines, unfollow = await _db(main).read_logs(num_lines, listener)
    if follower is not None and unfollow is not None:
        main.followers[follower] = unfollow
    return lines


async def _unfollow(main: DatabaseProcessMain, follower: int) -> None:
    unfollow = main.followers.pop(follower, None)
    if unfollow is not None:
        unfollow()


async def _swap(main: DatabaseProcessMain, spec: BackendSpec, directory: Path, old_entry: Path) -> Any:
    """A republish over this database (the front staged the files), built by this process's factory."""
    db, factory = _db(main), main.factory
    assert factory is not None
    try:
        plan = await db.swap(spec, directory, old_entry, factory)
    finally:
        main._listen(db)  # the new backend's log (or the old one's, reopened if the swap failed)
    return {"plan": plan, **main._module_facts(db)}


async def _stop(main: DatabaseProcessMain) -> None:
    await _db(main).stop()
    with main.writer.lock:
        main._waiting = False  # (the log is closed: nothing is held for it any more)
        main._listened = None
    main._release_batch()
    main.loop.call_soon(main._finish)  # after this reply is written


#: The security boundary: a REQUEST names one of these or ends the link (`_dispatch`); the front
#: cannot make this process run anything else. `Operation` lists the same names for the front's side.
_OPERATIONS: dict[str, Callable[..., Any]] = {
    "admit": _admit,
    "leave": _leave,
    "has_http_route": _has_http_route,
    "module_schema": _module_schema,
    "call_reducer": _call_reducer,
    "call_procedure": _call_procedure,
    "run_sql": _run_sql,
    "call_http_handler": _call_http_handler,
    "take_snapshot": _take_snapshot,
    "read_logs": _read_logs,
    "unfollow": _unfollow,
    "swap": _swap,
    "stop": _stop,
}


class _Protocol(asyncio.Protocol):
    def __init__(self, main: DatabaseProcessMain) -> None:
        self.main = main

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.main.connection_made(transport)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        self.main.data_received(data)

    def eof_received(self) -> bool:
        self.main.eof_received()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.main.connection_lost(exc)


async def _serve(fd: int) -> None:
    loop = asyncio.get_running_loop()
    main = DatabaseProcessMain(loop)
    sock = socket.socket(fileno=fd)
    await loop.create_unix_connection(lambda: _Protocol(main), sock=sock)
    await main.run()


def _configure_logging(name: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s %(name)s [db {name}]: %(message)s"))
    for logger_name, level in (("spacetimedb.server", logging.INFO), ("spacetimedb.durability", logging.INFO)):
        logger = logging.getLogger(logger_name)
        if not logger.handlers:
            logger.addHandler(handler)
            logger.setLevel(level)
            logger.propagate = False


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m spacetimedb.control.database_process FD NAME (started by the server)", file=sys.stderr)
        return 2
    _configure_logging(argv[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the front stops this database (flushed) on Ctrl-C
    young, older, oldest = gc.get_threshold()
    gc.set_threshold(max(20_000, young), older, oldest)  # as the server process (server/app.py)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - Windows
        pass
    asyncio.run(_serve(int(argv[1])))
    # Module code may have left non-daemon threads: the database is stopped and flushed, so end here.
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":
    # Run as the imported module, not as __main__: the classes unpickled from the front are its own.
    from spacetimedb.control.database_process import main as _main

    sys.exit(_main(sys.argv))


__all__ = ["DatabaseInfo", "ProcessConfig", "RemoteSubscriber", "main"]
