"""`DbConnection`: one WebSocket connection to a database, its client cache, calls and subscriptions.

Two halves. The I/O half runs on an asyncio loop (the caller's for `build()`, a background thread's
for `build_sync()`): it opens the socket, reads frames, decodes them (rows included) and reconnects
with backoff when the socket drops. The processing half applies decoded messages to the cache and
runs the user's callbacks: at once on the loop (async), or when the caller runs `frame_tick()`
(sync), on the caller's thread. A frame that cannot be decoded ends the connection with a
`ProtocolError` handed to `on_disconnect`; an exception in a user callback is logged, never fatal.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import itertools
import logging
import queue
import threading
import urllib.parse
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

import aiohttp

from spacetimedb import bsatn
from spacetimedb.bsatn.codec import Codec
from spacetimedb.client.bindings import ModuleInfo
from spacetimedb.client.cache import Op, Pending, TableCache
from spacetimedb.client.calls import GenericProcedures, GenericReducers
from spacetimedb.client.errors import (
    ClientError,
    ConnectError,
    ConnectionClosedError,
    ConnectionLostError,
    DisconnectedError,
    ProcedureError,
    ProtocolError,
    QueryError,
    ReducerError,
    ReducerInternalError,
    SubscriptionError,
    TokenRefusedError,
    UnknownDatabaseError,
)
from spacetimedb.client.events import (
    ErrorEvent,
    Event,
    EventContext,
    ReconnectedEvent,
    ReducerEvent,
    SubscribeAppliedEvent,
    TransactionEvent,
    UnsubscribeAppliedEvent,
)
from spacetimedb.client.pending import PendingCall
from spacetimedb.client.subscription import SubscriptionBuilder, SubscriptionHandle
from spacetimedb.client.table import GenericTables, handle_class
from spacetimedb.protocol import (
    CallProcedure,
    CallReducer,
    ClientMessage,
    InitialConnection,
    OneOffQuery,
    OneOffQueryResult,
    ProcedureResult,
    QueryRows,
    QuerySetId,
    ReducerResult,
    ServerMessage,
    Subscribe,
    SubscribeApplied,
    TransactionUpdate,
    Unsubscribe,
    UnsubscribeApplied,
    UnsubscribeFlags,
    decode_server_frame,
    decompress_frame,
    encode_client_message,
)
from spacetimedb.protocol import SubscriptionError as SubscriptionErrorMsg
from spacetimedb.protocol.subprotocols import SUBPROTOCOL_V2, SUBPROTOCOL_V3, SUBPROTOCOLS
from spacetimedb.sats.special import ConnectionId, Identity

log = logging.getLogger("spacetimedb.client")

DbT = TypeVar("DbT")
ReducersT = TypeVar("ReducersT")
ProceduresT = TypeVar("ProceduresT")
ConnT = TypeVar("ConnT", bound="DbConnection[Any, Any, Any]")

#: Close codes after which reconnecting would meet the same refusal (policy, protocol, too big).
_FATAL_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009, 1010})
#: The most bytes one v3 frame carries when several queued messages are coalesced (as the TS SDK).
_V3_FRAME_LIMIT = 256 * 1024
_COMPRESSION = {"none": "None", "gzip": "Gzip", "brotli": "Brotli"}
#: Seconds between the client's pings; a server that misses the pong is taken as gone (reconnect).
_HEARTBEAT = 30.0


@dataclass
class ConnectionConfig:
    """What the builder collected; one per connection."""

    uri: str = ""
    database: str = ""
    token: str | None = None
    compression: str = "none"
    confirmed_reads: bool | None = None
    protocols: tuple[str, ...] = SUBPROTOCOLS
    reconnect: bool = True
    max_reconnect_attempts: int | None = None
    reconnect_delay: float = 0.2
    max_reconnect_delay: float = 5.0
    timeout: float = 10.0
    on_connect: list[Callable[..., Any]] = field(default_factory=list)
    on_disconnect: list[Callable[..., Any]] = field(default_factory=list)
    on_connect_error: list[Callable[..., Any]] = field(default_factory=list)
    on_reconnect: list[Callable[..., Any]] = field(default_factory=list)


# ---- what the I/O half hands the processing half ------------------------------------------


@dataclass(slots=True)
class _Prepared:
    """A server message with its rows decoded: [(table, inserts, deletes)] in first-seen table order."""

    msg: ServerMessage
    updates: list[tuple[TableCache, list[Op], list[Op]]]


@dataclass(slots=True)
class _Connected:
    initial: InitialConnection
    reconnect: bool
    #: Which socket (`_io_epoch`) this connection is.
    epoch: int


@dataclass(slots=True)
class _Lost:
    error: ClientError
    retrying: bool


@dataclass(slots=True)
class _Call:
    kind: str  # reducer | procedure | query
    name: str
    args: Any
    future: Any
    decode: Callable[[bytes], Any] | None = None


_Item = _Prepared | _Connected | _Lost


class DbConnectionBuilder(Generic[ConnT]):
    """`DbConnection.builder().with_uri(...).with_database_name(...)...build()`."""

    def __init__(self, factory: Callable[[ModuleInfo, ConnectionConfig, bool], ConnT], module: ModuleInfo) -> None:
        self._factory = factory
        self._module = module
        self._config = ConnectionConfig()

    def with_uri(self, uri: str) -> Self:
        """`ws://host:port` (or http://, https://, wss://)."""
        self._config.uri = uri
        return self

    def with_database_name(self, name: str) -> Self:
        """The database's name or identity."""
        self._config.database = name
        return self

    def with_token(self, token: str | None) -> Self:
        """A token from an earlier `on_connect` (same identity); None or "" = a new identity."""
        self._config.token = token or None
        return self

    def with_compression(self, compression: str) -> Self:
        """How the server compresses frames: "none" (default), "gzip" or "brotli"."""
        if compression.lower() not in _COMPRESSION:
            raise ValueError(f"unknown compression {compression!r}: use none, gzip or brotli")
        self._config.compression = compression.lower()
        return self

    def with_confirmed_reads(self, confirmed: bool) -> Self:
        """True: the server sends updates only once they are durable (`?confirmed=true`)."""
        self._config.confirmed_reads = confirmed
        return self

    def with_protocol(self, version: str) -> Self:
        """"v3" (default: v3, falling back to v2) or "v2": the WebSocket subprotocol to ask for."""
        choices = {"v3": (SUBPROTOCOL_V3,), "v2": (SUBPROTOCOL_V2,), "any": SUBPROTOCOLS}
        if version not in choices:
            raise ValueError(f"unknown protocol {version!r}: use v3, v2 or any")
        self._config.protocols = choices[version]
        return self

    def with_reconnect(
        self, enabled: bool = True, *, max_attempts: int | None = None, delay: float = 0.2, max_delay: float = 5.0
    ) -> Self:
        """Reconnect when the socket drops (default on): backoff from `delay` doubling up to `max_delay`."""
        self._config.reconnect = enabled
        self._config.max_reconnect_attempts = max_attempts
        self._config.reconnect_delay = delay
        self._config.max_reconnect_delay = max_delay
        return self

    def with_timeout(self, seconds: float) -> Self:
        """How long a connect attempt may take (handshake and the server's first message)."""
        self._config.timeout = seconds
        return self

    def on_connect(self, callback: Callable[[ConnT, Identity, str], Any]) -> Self:
        """`callback(conn, identity, token)` once connected; save `token` to keep the identity."""
        self._config.on_connect.append(callback)
        return self

    def on_disconnect(self, callback: Callable[[ConnT, BaseException | None], Any]) -> Self:
        """`callback(conn, error)` when the connection ends for good (error None after `disconnect()`)."""
        self._config.on_disconnect.append(callback)
        return self

    def on_connect_error(self, callback: Callable[[ConnT, BaseException], Any]) -> Self:
        """`callback(conn, error)` when the first connection attempt fails (build() raises it too)."""
        self._config.on_connect_error.append(callback)
        return self

    def on_reconnect(self, callback: Callable[[ConnT, BaseException], Any]) -> Self:
        """`callback(conn, cause)` after a reconnect, once the subscriptions are re-applied."""
        self._config.on_reconnect.append(callback)
        return self

    def _new(self, sync: bool) -> ConnT:
        if not self._config.uri or not self._config.database:
            raise ValueError("with_uri(...) and with_database_name(...) are required")
        return self._factory(self._module, self._config, sync)

    def build(self) -> Connecting[ConnT]:
        """Connect on the running asyncio loop: `conn = await builder.build()` or `async with builder.build() as conn`."""
        return Connecting(self._connect_async)

    async def _connect_async(self) -> ConnT:
        conn = self._new(False)
        await conn._start(asyncio.get_running_loop())
        return conn

    def build_sync(self) -> ConnT:
        """Connect from synchronous code; I/O runs in a background thread and callbacks run in
        `conn.frame_tick()` (or `conn.run_threaded()`). Raises the connect error."""
        conn = self._new(True)
        conn._start_thread()
        return conn


class Connecting(Generic[ConnT]):
    """What `build()` returns: awaitable (the connection) and an async context manager (closes it)."""

    def __init__(self, connect: Callable[[], Awaitable[ConnT]]) -> None:
        self._connect = connect
        self._conn: ConnT | None = None

    def __await__(self) -> Generator[Any, None, ConnT]:
        return self._connect().__await__()

    async def __aenter__(self) -> ConnT:
        self._conn = await self._connect()
        return self._conn

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._conn is not None:
            await self._conn.close()


class DbConnection(Generic[DbT, ReducersT, ProceduresT]):
    """A connection to one database. Generated bindings subclass it and set `MODULE`."""

    MODULE: ClassVar[ModuleInfo | None] = None

    db: DbT
    reducers: ReducersT
    procedures: ProceduresT
    identity: Identity
    connection_id: ConnectionId
    token: str

    @classmethod
    def builder(cls) -> DbConnectionBuilder[Self]:
        if cls.MODULE is None:
            raise TypeError(
                f"{cls.__name__}.MODULE is not set: use generated bindings, or spacetimedb.client.connect() without"
            )
        return DbConnectionBuilder(cls, cls.MODULE)

    def __init__(self, module: ModuleInfo, config: ConnectionConfig, sync: bool) -> None:
        self._module = module
        self._config = config
        self._sync = sync
        self._caches: dict[str, TableCache] = {}
        handles: dict[str, Any] = {}
        for name, info in module.tables.items():
            cache = TableCache(info, bsatn.compile(info.row_type, module.typespace), module.typespace)
            self._caches[name] = cache
            handles[name] = (info.handle_type or handle_class(info.primary_key, info.is_event))(cache)
        self._handles = handles
        db: Any = (module.db_type or GenericTables)(handles)
        reducers: Any = (
            module.reducers_type(self._call_reducer_object)
            if module.reducers_type is not None
            else GenericReducers(self._call_reducer_object, module.reducers)
        )
        procedures: Any = (
            module.procedures_type(self._call_procedure_object)
            if module.procedures_type is not None
            else GenericProcedures(self._call_procedure_object, module.procedures)
        )
        self.db, self.reducers, self.procedures = db, reducers, procedures
        self._arg_codecs: dict[tuple[str, str], Codec] = {}
        self.token = config.token or ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tick_thread: threading.Thread | None = None
        self._inbox: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        # I/O state (loop thread only)
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._v3 = True
        self._outbox: list[bytes] = []
        self._out_ready: asyncio.Event | None = None
        self._closing = False
        self._close_error: ClientError | None = None
        self._stop: asyncio.Event | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._io_closed: Any = None
        #: Sockets opened so far (I/O side), and the one the processing side has seen connect.
        self._io_epoch = 0
        self._proc_epoch = 0
        # processing state
        self._online = False
        self._closed = False
        # next() of a count is atomic: sync connections call from the user's thread and process
        # (resubscribing) on another.
        self._request_ids = itertools.count()
        self._query_set_ids = itertools.count()
        self._calls: dict[int, _Call] = {}
        #: Guards registering a call against failing them all when the connection is lost.
        self._calls_lock = threading.Lock()
        self._subs: dict[int, SubscriptionHandle[Any]] = {}
        self._resync_before: dict[TableCache, dict[Any, list[Any]]] | None = None
        self._resync_waiting: set[int] = set()
        self._resync_cause: BaseException | None = None
        self.disconnect_error: BaseException | None = None

    # ---- public API ---------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        """Connected (and not reconnecting)."""
        return self._online and not self._closed

    def subscription_builder(self) -> SubscriptionBuilder[EventContext[DbT, ReducersT, ProceduresT]]:
        """`conn.subscription_builder().on_applied(cb).on_error(cb).subscribe(queries)`."""
        return SubscriptionBuilder(self)

    def call_reducer(self, reducer: str, args: bytes) -> PendingCall[None]:
        """Call a reducer with BSATN-encoded arguments; awaitable (async) or a Future (sync) of None.
        Raises `ReducerError` (the module's error text) or `ReducerInternalError`."""
        return self._call("reducer", reducer, args, args, None)

    def call_procedure(self, procedure: str, args: bytes) -> PendingCall[bytes]:
        """Call a procedure with BSATN-encoded arguments; resolves to the BSATN of its return value."""
        return self._call("procedure", procedure, args, args, None)

    def one_off_query(self, sql: str) -> PendingCall[dict[str, list[Any]]]:
        """Run one SQL query without subscribing; resolves to {table name: [rows]}. Raises `QueryError`."""
        return self._call("query", sql, sql, None, None)

    def disconnect(self) -> PendingCall[None]:
        """Close the connection (no reconnect). Returns an awaitable (async) or Future (sync) done once closed."""
        loop = self._loop
        if loop is None:
            raise ClientError("not connected")
        if self._sync:
            if self._io_closed.done():  # the I/O thread has finished
                done: Any = concurrent.futures.Future()
                done.set_result(None)
                return cast("PendingCall[None]", done)
            return cast("PendingCall[None]", asyncio.run_coroutine_threadsafe(self._close_io(), loop))
        return cast("PendingCall[None]", loop.create_task(self._close_io()))

    async def close(self) -> None:
        """`await conn.close()`: `disconnect()` for async code."""
        done = self.disconnect()
        await (asyncio.wrap_future(done) if isinstance(done, concurrent.futures.Future) else done)

    async def wait_closed(self) -> BaseException | None:
        """Wait until the connection has ended for good; returns the error that ended it (None: closed by us)."""
        if self._io_closed is None:
            raise ClientError("not connected")
        closed = self._io_closed
        if isinstance(closed, concurrent.futures.Future):
            closed = asyncio.wrap_future(closed)
        result: BaseException | None = await closed
        return result

    def frame_tick(self, timeout: float = 0.0) -> int:
        """Sync connections: apply what has arrived and run its callbacks on this thread. With a
        timeout, waits up to that long for the first message. Returns how many were processed."""
        if not self._sync:
            raise ClientError("frame_tick() is for build_sync() connections; async ones process on the loop")
        n = 0
        block = timeout > 0
        while True:
            try:
                item = self._inbox.get(block, timeout) if block else self._inbox.get_nowait()
            except queue.Empty:
                return n
            block = False
            self._process(item)
            n += 1

    def run_threaded(self) -> threading.Thread:
        """Sync connections: process messages on a background thread (callbacks run there)."""

        def loop() -> None:
            while not self._closed:
                self.frame_tick(0.2)

        t = threading.Thread(target=loop, name="spacetimedb-client-callbacks", daemon=True)
        self._tick_thread = t
        t.start()
        return t

    def __enter__(self) -> Self:
        """`with builder.build_sync() as conn:` disconnects at the end (async connections: `async with
        builder.build() as conn`)."""
        if not self._sync:
            raise ClientError("use `async with builder.build() as conn` for an async connection")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.disconnect().result()
        if self._tick_thread is None:  # run on_disconnect here, as frame_tick would
            self.frame_tick()

    # ---- generated code's entry points ------------------------------------------------

    def _codec_for(self, kind: str, name: str, t: Any) -> Codec:
        key = (kind, name)
        codec = self._arg_codecs.get(key)
        if codec is None:
            codec = self._arg_codecs[key] = bsatn.compile(t, self._module.typespace)
        return codec

    def _call_reducer_object(self, name: str, args: Any) -> Any:
        info = self._module.reducers.get(name)
        if info is None:
            raise ClientError(f"unknown reducer {name!r}")
        return self._call("reducer", name, self._codec_for("reducer", name, info.args_type).encode(args), args, None)

    def _call_procedure_object(self, name: str, args: Any) -> Any:
        info = self._module.procedures.get(name)
        if info is None:
            raise ClientError(f"unknown procedure {name!r}")
        data = self._codec_for("procedure", name, info.args_type).encode(args)
        ret = self._codec_for("procedure-return", name, info.return_type)
        return self._call("procedure", name, data, args, ret.decode)

    # ---- futures (asyncio on async connections, concurrent.futures on sync ones) -----------

    def _new_future(self) -> Any:
        if self._sync:
            return concurrent.futures.Future()
        assert self._loop is not None
        return self._loop.create_future()

    @staticmethod
    def _resolve(fut: Any, value: Any) -> None:
        if not fut.done():
            fut.set_result(value)

    @staticmethod
    def _fail(fut: Any, error: BaseException) -> None:
        if not fut.done():
            fut.set_exception(error)
            if isinstance(fut, asyncio.Future):
                fut.add_done_callback(lambda f: f.exception())  # not awaited: no "never retrieved" noise

    # ---- sending ------------------------------------------------------------------------

    def _request_id(self) -> int:
        return next(self._request_ids) & 0xFFFFFFFF

    def _call(self, kind: str, name: str, data: Any, args: Any, decode: Callable[[bytes], Any] | None) -> Any:
        fut = self._new_future()
        with self._calls_lock:
            if self._closed or not self._online:
                self._fail(fut, DisconnectedError("not connected" if self._closed else "not connected (reconnecting)"))
                return fut
            rid = self._request_id()
            self._calls[rid] = _Call(kind, name, args, fut, decode)
        msg: ClientMessage
        if kind == "reducer":
            msg = CallReducer(rid, 0, name, data)
        elif kind == "procedure":
            msg = CallProcedure(rid, 0, name, data)
        else:
            msg = OneOffQuery(rid, data)
        self._send(msg)
        return fut

    def _subscribe(
        self, queries: list[str], on_applied: list[Callable[..., Any]], on_error: list[Callable[..., Any]]
    ) -> SubscriptionHandle[Any]:
        if self._closed:
            raise DisconnectedError("not connected")
        qs = next(self._query_set_ids) & 0xFFFFFFFF
        handle: SubscriptionHandle[Any] = SubscriptionHandle(self, qs, queries)
        handle._on_applied.extend(on_applied)
        handle._on_error.extend(on_error)
        self._subs[qs] = handle
        if self._online:  # else the reconnect subscribes it with the others
            self._send(Subscribe(self._request_id(), QuerySetId(qs), queries))
        return handle

    def _unsubscribe(self, handle: SubscriptionHandle[Any]) -> None:
        if self._online and handle.state == "active":
            self._send(Unsubscribe(self._request_id(), QuerySetId(handle.query_set_id), UnsubscribeFlags.SendDroppedRows))
            return
        if self._online and handle.state == "pending":
            return  # sent once it is applied (the server knows nothing to unsubscribe yet)
        # Offline: end it here (a reconnect does not bring it back).
        self._subs.pop(handle.query_set_id, None)
        self._resync_waiting.discard(handle.query_set_id)
        handle.state = "ended"
        self._resolve(handle._ended, None)

    def _send(self, msg: ClientMessage) -> None:
        data = encode_client_message(msg)
        loop = self._loop
        if loop is None:
            return
        # Tagged with the socket the processing side knows. On a sync connection the I/O thread may
        # already have replaced that socket (the _Lost and _Connected wait for frame_tick): then the
        # message is dropped, as on a lost socket, because processing the _Connected resubscribes
        # every subscription (sending this one too would subscribe its query set twice, which the
        # server refuses) and processing the _Lost fails the calls.
        epoch = self._proc_epoch
        if self._sync:
            try:
                loop.call_soon_threadsafe(self._enqueue, data, epoch)
            except RuntimeError:  # the I/O thread has ended: the pending _Lost fails the call
                pass
        else:
            self._enqueue(data, epoch)

    def _enqueue(self, data: bytes, epoch: int) -> None:
        if self._ws is None or epoch != self._io_epoch:  # lost or replaced (see _send)
            return
        self._outbox.append(data)
        if self._out_ready is not None:
            self._out_ready.set()

    async def _writer(self, ws: aiohttp.ClientWebSocketResponse, ready: asyncio.Event) -> None:
        while True:
            await ready.wait()
            ready.clear()
            while self._outbox:
                out, self._outbox = self._outbox, []
                if not self._v3:
                    for data in out:
                        await ws.send_bytes(data)
                    continue
                frame: list[bytes] = []
                size = 0
                for data in out:
                    if frame and size + len(data) > _V3_FRAME_LIMIT:
                        await ws.send_bytes(b"".join(frame))
                        frame, size = [], 0
                    frame.append(data)
                    size += len(data)
                await ws.send_bytes(b"".join(frame))

    # ---- the I/O half -------------------------------------------------------------------

    def _url(self) -> tuple[str, dict[str, str]]:
        cfg = self._config
        base = cfg.uri.strip().rstrip("/")
        scheme, sep, rest = base.partition("://")
        if not sep:
            scheme, rest = "ws", base
        scheme = {"http": "ws", "https": "wss"}.get(scheme.lower(), scheme.lower())
        query = {"compression": _COMPRESSION[cfg.compression]}
        if cfg.confirmed_reads is not None:
            query["confirmed"] = "true" if cfg.confirmed_reads else "false"
        db = urllib.parse.quote(cfg.database, safe="")
        url = f"{scheme}://{rest}/v1/database/{db}/subscribe?{urllib.parse.urlencode(query)}"
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return url, headers

    async def _open(self) -> tuple[InitialConnection, list[ServerMessage]]:
        """One connection attempt: the socket open and `InitialConnection` read. Returns the messages."""
        url, headers = self._url()
        timeout = self._config.timeout
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout))
        try:
            try:
                ws = await asyncio.wait_for(
                    session.ws_connect(
                        url, protocols=self._config.protocols, headers=headers, max_msg_size=0, heartbeat=_HEARTBEAT
                    ),
                    timeout,
                )
            except aiohttp.WSServerHandshakeError as e:
                raise _handshake_error(e, self._config.database) from None
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                raise ConnectError(f"cannot connect to {self._config.uri}: {e or type(e).__name__}") from None
            try:
                msg = await ws.receive(timeout=timeout)
            except TimeoutError:
                await ws.close()
                raise ConnectError("the server sent nothing after the handshake") from None
            if msg.type != aiohttp.WSMsgType.BINARY:
                await ws.close()
                raise _close_error(ws, msg)
            try:
                msgs = decode_server_frame(decompress_frame(msg.data))
            except Exception as e:
                await ws.close()
                raise ProtocolError(f"malformed first frame from the server: {e}") from None
            if not msgs or not isinstance(msgs[0], InitialConnection):
                await ws.close()
                raise ProtocolError(f"expected InitialConnection first, got {type(msgs[0]).__name__ if msgs else 'nothing'}")
        except BaseException:
            await session.close()
            raise
        self._session, self._ws = session, ws
        self._io_epoch += 1
        self._v3 = ws.protocol == SUBPROTOCOL_V3
        first = msgs[0]
        self.identity, self.connection_id = first.identity, first.connection_id
        if not self.token:
            self.token = first.token
        return first, msgs[1:]

    async def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Connect (raising the error) and start the I/O task."""
        self._loop = loop
        self._io_closed = loop.create_future() if not self._sync else concurrent.futures.Future()
        try:
            first, rest = await self._open()
        except ClientError as e:
            self._closed = True
            for cb in self._config.on_connect_error:
                self._run_callback(cb, self, e)
            raise
        self._out_ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._online = True  # calls and subscriptions may go out before on_connect has run (sync: frame_tick)
        self._proc_epoch = self._io_epoch
        self._deliver(_Connected(first, False, self._io_epoch))
        self._deliver_all(rest)
        self._run_task = loop.create_task(self._run())

    def _start_thread(self) -> None:
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            loop.run_forever()
            # Stopped by _run's end: let what is still pending (a disconnect() waiting on it) finish.
            pending = asyncio.all_tasks(loop)
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=5))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="spacetimedb-client-io", daemon=True)
        self._thread.start()
        started.wait()
        try:
            asyncio.run_coroutine_threadsafe(self._start(loop), loop).result()
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            raise

    def _deliver(self, item: _Item) -> None:
        if self._sync:
            self._inbox.put(item)
        else:
            self._process(item)

    def _deliver_all(self, msgs: list[ServerMessage]) -> None:
        for m in msgs:
            self._deliver(self._prepare(m))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> ClientError | None:
        """Read frames until the socket ends; the error that ended it (None when we closed it)."""
        while True:
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.BINARY:
                try:
                    msgs = decode_server_frame(decompress_frame(msg.data))
                    prepared = [self._prepare(m) for m in msgs]
                except Exception as e:  # anything a hostile or broken frame can raise
                    await ws.close(code=1002, message=b"malformed frame")
                    return ProtocolError(f"malformed frame from the server: {e}")
                for p in prepared:
                    self._deliver(p)
                continue
            if self._closing:
                return None
            if msg.type == aiohttp.WSMsgType.ERROR:
                return ConnectionLostError(f"connection error: {ws.exception()}")
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.close(code=1003, message=b"text frames are not part of the protocol")
                return ProtocolError("the server sent a text frame")
            return _close_error(ws, msg)

    async def _run(self) -> None:
        cfg = self._config
        error: ClientError | None = None
        while True:
            ws, ready = self._ws, self._out_ready
            assert ws is not None and ready is not None
            ready.set()
            writer = asyncio.get_running_loop().create_task(self._writer(ws, ready))
            try:
                error = await self._read(ws)
            except Exception as e:
                error = ConnectionLostError(f"connection error: {e}")
            finally:
                writer.cancel()
                self._ws = None
                if self._session is not None:
                    with contextlib.suppress(Exception):
                        await ws.close()
                    await self._session.close()
                    self._session = None
            self._outbox = []
            if error is None or self._closing:
                error = self._close_error  # None after disconnect(); set when the client ends it for a cause
                break
            retry = cfg.reconnect and not isinstance(error, ProtocolError) and not (
                isinstance(error, ConnectionClosedError) and error.code in _FATAL_CLOSE_CODES
            )
            self._deliver(_Lost(error, retry))
            if not retry:
                break
            opened = await self._reconnect(error)
            if not isinstance(opened, tuple):
                error = self._close_error if self._closing else opened or error
                break
            self._deliver(_Connected(opened[0], True, self._io_epoch))
            self._deliver_all(opened[1])
        self._deliver(_Lost(error if error is not None else _CLOSED, False))
        self._resolve(self._io_closed, error)
        if self._sync and self._loop is not None:
            self._loop.call_soon(self._loop.stop)

    async def _reconnect(self, cause: ClientError) -> tuple[InitialConnection, list[ServerMessage]] | ClientError | None:
        """A new socket, or the error that ends reconnecting (None: `disconnect()` was called)."""
        cfg = self._config
        delay = cfg.reconnect_delay
        attempt = 0
        stop = self._stop
        assert stop is not None
        while not self._closing:
            log.warning("connection to %s lost (%s); reconnecting in %.1fs", cfg.database, cause, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)  # a backoff that disconnect() cuts short
            if self._closing:
                return None
            try:
                return await self._open()
            except (TokenRefusedError, UnknownDatabaseError) as e:  # retrying meets the same answer
                return e
            except ClientError as e:
                cause = e
                attempt += 1
                if cfg.max_reconnect_attempts is not None and attempt >= cfg.max_reconnect_attempts:
                    return e
                delay = min(delay * 2, cfg.max_reconnect_delay)
        return None

    async def _close_io(self) -> None:
        self._closing = True
        if self._stop is not None:
            self._stop.set()
        ws = self._ws
        if ws is not None:
            await ws.close()
        task = self._run_task
        if task is not None and task is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

    # ---- decoding (I/O side; raises on anything malformed) --------------------------------

    def _rows(self, rows: QueryRows, inserts: bool) -> list[tuple[TableCache, list[Op], list[Op]]]:
        merged: dict[str, tuple[TableCache, list[Op], list[Op]]] = {}
        for t in rows.tables:
            cache = self._caches.get(t.table)
            if cache is None:
                log.warning("rows of table %r, which the bindings do not know, are ignored", t.table)
                continue
            entry = merged.get(t.table)
            if entry is None:
                entry = merged[t.table] = (cache, [], [])
            (entry[1] if inserts else entry[2]).extend(cache.decode(t.rows))
        return list(merged.values())

    def _transaction(self, tx: TransactionUpdate) -> list[tuple[TableCache, list[Op], list[Op]]]:
        merged: dict[str, tuple[TableCache, list[Op], list[Op]]] = {}
        for qs in tx.query_sets:
            for tu in qs.tables:
                cache = self._caches.get(tu.table_name)
                if cache is None:
                    log.warning("rows of table %r, which the bindings do not know, are ignored", tu.table_name)
                    continue
                entry = merged.get(tu.table_name)
                if entry is None:
                    entry = merged[tu.table_name] = (cache, [], [])
                for part in tu.rows:
                    if part.tag == "PersistentTable":
                        entry[1].extend(cache.decode(part.value.inserts))
                        entry[2].extend(cache.decode(part.value.deletes))
                    else:
                        cache.is_event = True
                        entry[1].extend(cache.decode(part.value.events))
        return list(merged.values())

    def _prepare(self, msg: ServerMessage) -> _Prepared:
        if isinstance(msg, TransactionUpdate):
            return _Prepared(msg, self._transaction(msg))
        if isinstance(msg, ReducerResult):
            if msg.result.tag == "Ok":
                return _Prepared(msg, self._transaction(msg.result.value.transaction_update))
            return _Prepared(msg, [])
        if isinstance(msg, SubscribeApplied):
            return _Prepared(msg, self._rows(msg.rows, True))
        if isinstance(msg, UnsubscribeApplied):
            return _Prepared(msg, self._rows(msg.rows, False) if msg.rows is not None else [])
        if isinstance(msg, OneOffQueryResult) and msg.result.tag == "ok":
            return _Prepared(msg, self._rows(msg.result.value, True))
        return _Prepared(msg, [])

    # ---- the processing half ------------------------------------------------------------

    def _run_callback(self, cb: Callable[..., Any], *args: Any) -> None:
        try:
            result = cb(*args)
            if inspect.isawaitable(result) and self._loop is not None and not self._sync:
                self._loop.create_task(_awaited(result))
        except Exception:
            log.exception("a callback raised (the connection carries on)")

    def _dispatch(self, ctx: EventContext[Any, Any, Any], pending: list[Pending]) -> None:
        for cache, kind, args in pending:
            cbs = cache.on_insert if kind == "insert" else cache.on_delete if kind == "delete" else cache.on_update
            for cb in list(cbs):
                self._run_callback(cb, ctx, *args)

    def _apply(self, ctx: EventContext[Any, Any, Any], updates: list[tuple[TableCache, list[Op], list[Op]]]) -> None:
        if self._resync_before is not None:  # rebuilding after a reconnect: diffed at the end
            for cache, ins, dels in updates:
                cache.apply(ins, dels, None)
            return
        pending: list[Pending] = []
        for cache, ins, dels in updates:
            cache.apply(ins, dels, pending)
        self._dispatch(ctx, pending)

    def _ctx(self, event: Event) -> EventContext[DbT, ReducersT, ProceduresT]:
        return EventContext(self, event)

    def _process(self, item: _Item) -> None:
        if self._closed:
            return
        if isinstance(item, _Prepared):
            self._process_message(item)
        elif isinstance(item, _Connected):
            self._online = True
            self._proc_epoch = item.epoch
            if not item.reconnect:
                for cb in self._config.on_connect:
                    self._run_callback(cb, self, self.identity, self.token)
            else:
                self._begin_resync()
        else:
            self._process_lost(item)

    def _process_lost(self, item: _Lost) -> None:
        with self._calls_lock:
            self._online = False
            calls, self._calls = self._calls, {}
        reason = "connection closed" if item.error is _CLOSED else f"connection lost: {item.error}"
        for call in calls.values():
            self._fail(call.future, DisconnectedError(f"{reason}; the call's outcome is unknown"))
        if item.retrying:
            self._resync_cause = item.error
            return
        self._closed = True
        error = None if item.error is _CLOSED else item.error
        self.disconnect_error = error
        for sub in list(self._subs.values()):
            self._fail(sub._applied, DisconnectedError(reason))
            if sub._ended is not None:
                self._resolve(sub._ended, None)
        for cb in self._config.on_disconnect:
            self._run_callback(cb, self, error)

    def _begin_resync(self) -> None:
        if self._resync_before is None:
            self._resync_before = {c: c.take_snapshot() for c in self._caches.values()}
        else:  # lost again mid-resync: diff against the cache from before the first loss
            for c in self._caches.values():
                c.take_snapshot()
        self._resync_waiting = set()
        for qs, sub in list(self._subs.items()):  # (sync: the user's thread may subscribe meanwhile)
            self._resync_waiting.add(qs)
            self._send(Subscribe(self._request_id(), QuerySetId(qs), sub.queries))
        if not self._resync_waiting:
            self._finish_resync()

    def _finish_resync(self) -> None:
        before, self._resync_before = self._resync_before, None
        if before is None:
            return
        pending: list[Pending] = []
        for cache, rows in before.items():
            cache.diff_from(rows, pending)
        self._dispatch(self._ctx(ReconnectedEvent()), pending)
        cause = self._resync_cause
        for cb in self._config.on_reconnect:
            self._run_callback(cb, self, cause)

    def _process_message(self, item: _Prepared) -> None:
        msg = item.msg
        if isinstance(msg, TransactionUpdate):
            self._apply(self._ctx(TransactionEvent()), item.updates)
        elif isinstance(msg, ReducerResult):
            self._reducer_result(msg, item)
        elif isinstance(msg, SubscribeApplied):
            sub = self._subs.get(msg.query_set_id.id)
            if sub is None:
                log.warning("SubscribeApplied for unknown query set %d", msg.query_set_id.id)
                return
            ctx = self._ctx(SubscribeAppliedEvent())
            first = sub.state == "pending"
            sub.state = "active"
            if self._resync_before is not None:
                # Rebuilding after a reconnect: the rows go in silently; the diff reports changes.
                self._apply(ctx, item.updates)
                if first:
                    for cb in sub._on_applied:
                        self._run_callback(cb, ctx)
                if msg.query_set_id.id in self._resync_waiting:
                    self._resync_waiting.discard(msg.query_set_id.id)
                    if not self._resync_waiting:
                        self._finish_resync()
            else:
                pending: list[Pending] = []
                for cache, ins, dels in item.updates:
                    cache.apply(ins, dels, pending)
                for cb in sub._on_applied:
                    self._run_callback(cb, ctx)
                self._dispatch(ctx, pending)
            self._resolve(sub._applied, sub)
            if sub._ended is not None:  # unsubscribe() was called before it was applied
                self._unsubscribe(sub)
        elif isinstance(msg, UnsubscribeApplied):
            sub = self._subs.pop(msg.query_set_id.id, None)
            ctx = self._ctx(UnsubscribeAppliedEvent())
            gone: list[Pending] = []
            if self._resync_before is not None:
                self._apply(ctx, item.updates)  # silently: the reconnect's diff reports it
            else:  # as the TS SDK: the rows leave the cache, on_end runs, then the on_deletes
                for cache, ins, dels in item.updates:
                    cache.apply(ins, dels, gone)
            if sub is not None:
                sub.state = "ended"
                for cb in sub._on_end:
                    self._run_callback(cb, ctx)
            self._dispatch(ctx, gone)
            if sub is not None and sub._ended is not None:
                self._resolve(sub._ended, None)
        elif isinstance(msg, SubscriptionErrorMsg):
            self._subscription_error(msg)
        elif isinstance(msg, ProcedureResult):
            call = self._calls.pop(msg.request_id, None)
            if call is None:
                return
            if msg.status.tag == "Returned":
                try:
                    value = call.decode(msg.status.value) if call.decode is not None else msg.status.value
                except Exception as e:
                    self._fail(call.future, ProtocolError(f"procedure {call.name}: bad return value: {e}"))
                    return
                self._resolve(call.future, value)
            else:
                self._fail(call.future, ProcedureError(f"procedure {call.name} failed: {msg.status.value}"))
        elif isinstance(msg, OneOffQueryResult):
            call = self._calls.pop(msg.request_id, None)
            if call is None:
                return
            if msg.result.tag == "err":
                self._fail(call.future, QueryError(msg.result.value))
            else:
                out: dict[str, list[Any]] = {}
                for cache, ins, _ in item.updates:
                    out.setdefault(cache.info.name, []).extend(row for _, row, _ in ins)
                self._resolve(call.future, out)
        elif isinstance(msg, InitialConnection):
            log.warning("a second InitialConnection on one connection is ignored")

    def _reducer_result(self, msg: ReducerResult, item: _Prepared) -> None:
        call = self._calls.pop(msg.request_id, None)
        outcome = msg.result
        if outcome.tag == "Ok":
            if call is not None:
                event: Event = ReducerEvent(
                    call.name, call.args, self.identity, self.connection_id, "committed", msg.timestamp
                )
            else:
                event = TransactionEvent()
            self._apply(self._ctx(event), item.updates)
        if call is None:
            return
        if outcome.tag in ("Ok", "OkEmpty"):
            self._resolve(call.future, None)
        elif outcome.tag == "Err":
            self._fail(call.future, ReducerError(_error_text(outcome.value), call.name))
        else:
            self._fail(call.future, ReducerInternalError(str(outcome.value), call.name))

    def _subscription_error(self, msg: SubscriptionErrorMsg) -> None:
        qs = msg.query_set_id.id
        error = SubscriptionError(msg.error)
        sub = self._subs.pop(qs, None)
        if sub is not None:
            sub.state = "failed"
            sub.error = error
            ctx = self._ctx(ErrorEvent(error))
            for cb in sub._on_error:
                self._run_callback(cb, ctx, error)
            self._fail(sub._applied, error)
        if self._resync_before is not None and qs in self._resync_waiting:
            self._resync_waiting.discard(qs)
            if not self._resync_waiting:
                self._finish_resync()
        if msg.request_id is None:
            # An applied set failed later: its rows can no longer be told apart, so the
            # connection ends, as in the official SDKs.
            log.error("subscription %d failed after it was applied: %s; disconnecting", qs, msg.error)
            self._close_error = error
            self.disconnect()


_CLOSED = DisconnectedError("closed by the client")


def _error_text(value: bytes) -> str:
    """ReducerOutcome::Err carries the BSATN of a String."""
    try:
        text: str = bsatn.decode(value, str)
        return text
    except Exception:
        return value.decode("utf-8", "replace")


def _handshake_error(e: aiohttp.WSServerHandshakeError, database: str) -> ConnectError:
    status = e.status
    if status in (401, 403):
        return TokenRefusedError(f"the server refused the token ({status} {e.message})", status)
    if status == 404:
        return UnknownDatabaseError(f"no database {database!r} on the server", status)
    return ConnectError(f"the server refused the WebSocket ({status} {e.message})", status)


def _close_error(ws: aiohttp.ClientWebSocketResponse, msg: aiohttp.WSMessage) -> ClientError:
    if msg.type == aiohttp.WSMsgType.CLOSE:
        reason = msg.extra or ""
        return ConnectionClosedError(msg.data if isinstance(msg.data, int) else ws.close_code, str(reason))
    code = ws.close_code
    if code is not None and code != 1006:
        return ConnectionClosedError(code, "")
    return ConnectionLostError("the connection dropped without a close frame")


async def _awaited(aw: Awaitable[Any]) -> None:
    try:
        await aw
    except Exception:
        log.exception("an async callback raised (the connection carries on)")
