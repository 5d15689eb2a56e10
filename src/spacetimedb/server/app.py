"""The server process: one asyncio loop hosting many databases behind one HTTP/WebSocket port.

`run_server(listen_addr, data_dir, publish=[(name, module_path)])` is what the CLI calls.
`Server` is the embeddable form tests use (start on a free port, publish, stop).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ParamSpec

from aiohttp import web

from spacetimedb.control.database_registry import BackendFactory, DatabaseRegistry, copy_module
from spacetimedb.control.process_database import ProcessOptions
from spacetimedb.control.query_limits import QueryLimits
from spacetimedb.durability import durable_files
from spacetimedb.durability.options import DurabilityOptions
from spacetimedb.module.http_client import HttpPolicy
from spacetimedb.protocol.subprotocols import SUBPROTOCOLS
from spacetimedb.server import routes_database, routes_http_handlers, routes_identity
from spacetimedb.server.http_auth import (
    AUTHORITY_KEY,
    anon_auth_middleware,
    cors_middleware,
    stopped_database_middleware,
)
from spacetimedb.server.http_limits import LIMITS_KEY, HttpLimits, slow_body_middleware
from spacetimedb.server.publish_policy import ANYONE_WARNING, PublishGate, PublishPolicy
from spacetimedb.server.routes_identity import REGISTRY_KEY
from spacetimedb.server.send_budget import SendBudget, default_send_budget
from spacetimedb.server.tokens import Caller, TokenAuthority
from spacetimedb.server.ws_routes import (
    COMPRESS_FRAMES_KEY,
    PROTOCOLS_KEY,
    SEND_BUDGET_KEY,
    SESSIONS_KEY,
)
from spacetimedb.server.ws_session import ClientSession

log = logging.getLogger("spacetimedb.server")
_P = ParamSpec("_P")

#: Set to 1 to run every database in a process of its own wherever the real host serves it (the
#: test suites' server fixtures honour it through `Server`), as `--database-processes` does.
DATABASE_PROCESSES_ENV = "SPACETIMEDB_DATABASE_PROCESSES"


def database_processes_from_env() -> bool:
    return os.environ.get(DATABASE_PROCESSES_ENV, "").strip().lower() in ("1", "true", "on", "yes")


def default_backend_factory() -> BackendFactory:
    """The real host (spacetimedb.host + spacetimedb.query) behind the server."""
    from spacetimedb.control.host_backend import host_backend_factory

    return host_backend_factory


class Server:
    def __init__(
        self,
        data_dir: Path,
        *,
        backend_factory: BackendFactory | None = None,
        protocols: tuple[str, ...] = SUBPROTOCOLS,
        compress_frames: bool = False,
        http_limits: HttpLimits | None = None,
        send_budget: int | None = None,
        query_limits: QueryLimits | None = None,
        allow_publish: PublishPolicy | None = None,
        procedure_http: HttpPolicy | None = None,
        database_processes: ProcessOptions | bool | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        durable_files.make_dirs(self.data_dir)
        self.authority = TokenAuthority.load_or_create(self.data_dir / "keys")
        # Each database in a process of its own (`--database-processes`): built there by the real
        # host, so only where the real host serves (a test's own backend factory stays in process).
        if database_processes is None:
            database_processes = database_processes_from_env()
        processes: ProcessOptions | None = None
        if isinstance(database_processes, ProcessOptions):
            processes = database_processes
        elif database_processes:
            processes = ProcessOptions() if backend_factory is None else ProcessOptions.for_factory(backend_factory)
        self.registry = DatabaseRegistry(
            self.data_dir, backend_factory or default_backend_factory(), query_limits, processes
        )
        if procedure_http is not None:
            self.registry.procedure_http = procedure_http
        self.http_limits = http_limits or HttpLimits()
        self.app = web.Application(
            middlewares=[cors_middleware, slow_body_middleware, anon_auth_middleware, stopped_database_middleware],
            client_max_size=routes_database.MAX_UPLOAD_BYTES,
        )
        self.app[LIMITS_KEY] = self.http_limits
        self.app[AUTHORITY_KEY] = self.authority
        self.app[REGISTRY_KEY] = self.registry
        self.app[PROTOCOLS_KEY] = protocols
        self.app[COMPRESS_FRAMES_KEY] = compress_frames
        #: Bytes queued to all WebSocket clients at most (default: 1/32 of memory, see send_budget).
        self.send_budget = SendBudget(send_budget or default_send_budget())
        self.app[SEND_BUDGET_KEY] = self.send_budget
        sessions: set[ClientSession] = set()
        self.app[SESSIONS_KEY] = sessions
        routes_identity.add_routes(self.app)
        routes_database.add_routes(self.app)
        routes_http_handlers.add_routes(self.app)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.owner = self._owner_caller()
        self.publish_policy = allow_publish or PublishPolicy()
        self.app[routes_database.PUBLISH_GATE_KEY] = PublishGate(self.publish_policy, self.owner.identity)

    def _owner_caller(self) -> Caller:
        """The identity that owns databases published at startup; its token is kept in keys/."""
        path = self.data_dir / "keys" / "owner.token"
        if path.exists():
            return self.authority.validate(path.read_text().strip())
        caller = self.authority.mint_anonymous()
        durable_files.write_file(path, caller.token.encode(), mode=0o600)
        return caller

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        await self.registry.load_existing()
        self._runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=2.0, **self.http_limits.runner_kwargs()
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else port
        return self.port

    async def publish_path(self, name: str, module_path: Path, *, clear: bool = False) -> None:
        """Publish a module from disk, owned by the server's owner identity."""
        source = Path(module_path).resolve()
        await self.registry.publish(name, self.owner.identity, lambda d: copy_module(source, d), clear=clear)

    async def stop(self) -> None:
        """Close client sockets, stop every database (flushing durability), stop listening."""
        sessions: set[ClientSession] = self.app[SESSIONS_KEY]
        for session in sessions.copy():
            session.fail(1001, "server shutting down")
        await self.registry.stop_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _configure_logging() -> None:
    """Server and aiohttp errors to stderr. The host puts a reducer-log handler on the root
    logger, which would otherwise swallow records logged outside reducers."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Durability at INFO: recovery progress, and torn-tail truncations, which must never be silent.
    for name, level in (
        ("spacetimedb.server", logging.INFO),
        ("spacetimedb.durability", logging.INFO),
        ("aiohttp", logging.WARNING),
    ):
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(handler)
            logger.setLevel(level)
            logger.propagate = False


def _process_options(
    factory: BackendFactory | None, enabled: bool | None, memory_limit: int | None
) -> ProcessOptions | bool | None:
    """What `serve` asks of `Server`: processes with a memory cap, or as `enabled` says (None: the
    environment variable decides)."""
    if memory_limit is None:
        return enabled
    if enabled is False:
        raise ValueError("a database memory limit needs database processes")
    base = ProcessOptions.for_factory(factory) if factory is not None else ProcessOptions()
    return replace(base or ProcessOptions(), memory_limit=memory_limit)


def _split_addr(listen_addr: str) -> tuple[str, int]:
    host, _, port = listen_addr.rpartition(":")
    return (host or "127.0.0.1").strip("[]"), int(port)


async def serve(
    listen_addr: str,
    data_dir: Path | str,
    publish: Sequence[tuple[str, Path | str]] = (),
    protocols: Sequence[str] | None = None,
    durability: DurabilityOptions | None = None,
    compress_frames: bool = False,
    http_limits: HttpLimits | None = None,
    send_budget: int | None = None,
    query_limits: QueryLimits | None = None,
    on_listening: Callable[[Server], None] | None = None,
    reducer_time_limit: float | None = None,
    allow_publish: PublishPolicy | None = None,
    procedure_http: HttpPolicy | None = None,
    database_processes: bool | None = None,
    database_memory_limit: int | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; `run_server` (same arguments) is the blocking form the CLI's
    `start` command calls.

    `protocols` restricts the WebSocket subprotocols offered, most preferred first (e.g.
    `["v2.bsatn.spacetimedb"]` to make every client speak v2); default v3 then v2.
    `durability` sets the fsync policy, snapshot cadence and recovery options of every database.
    `compress_frames` compresses WebSocket frames as clients ask (docs/http-api.md, "Compression").
    `http_limits` sets the HTTP header and body read timeouts (docs/limits.md).
    `send_budget` caps the bytes queued to all WebSocket clients together (docs/limits.md).
    `query_limits` what one client's queries may cost (docs/limits.md).
    `on_listening(server)` runs once the port is bound, before any request is served.
    `reducer_time_limit`: seconds a reducer may run before it is interrupted (default 10).
    `allow_publish` lists who besides the server's owner may create databases (docs/deployment.md).
    `procedure_http`: what procedures' `ctx.http` may reach (default: any host; docs/limits.md).
    `database_processes`: run each database in a process of its own (default: the
    SPACETIMEDB_DATABASE_PROCESSES environment variable, else off; docs/architecture.md).
    `database_memory_limit`: bytes of address space each database process may use (implies
    `database_processes`; docs/limits.md).
    """
    factory = None
    if durability is not None or reducer_time_limit is not None:
        from spacetimedb.control.host_backend import host_backend_factory_with
        from spacetimedb.host.time_limit import DEFAULT_REDUCER_TIME_LIMIT

        factory = host_backend_factory_with(durability, reducer_time_limit or DEFAULT_REDUCER_TIME_LIMIT)
    server = Server(
        Path(data_dir),
        backend_factory=factory,
        protocols=tuple(protocols) if protocols else SUBPROTOCOLS,
        compress_frames=compress_frames,
        http_limits=http_limits,
        send_budget=send_budget,
        query_limits=query_limits,
        allow_publish=allow_publish,
        procedure_http=procedure_http,
        database_processes=_process_options(factory, database_processes, database_memory_limit),
    )
    host, port = _split_addr(listen_addr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover - Windows
            pass
    await server.start(host, port)
    if on_listening is not None:
        # Called before the loop serves any request, so a client that got an answer knows it ran.
        on_listening(server)
    for name, path in publish:
        await server.publish_path(name, Path(path))
        log.info("published %s from %s", name, path)
    print(f"spacetimedb server listening on http://{host}:{server.port}", flush=True)
    print(f"owner identity {server.owner.identity_hex}; token in {Path(data_dir) / 'keys' / 'owner.token'}", flush=True)
    print(f"publishing: {server.publish_policy.describe()} (--allow-publish)", flush=True)
    if server.publish_policy.anyone:
        print(ANYONE_WARNING, file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


#: The cyclic garbage collector's young-generation threshold in a server process (CPython's default
#: is 700). A commit fanned out to thousands of clients holds thousands of small containers for a
#: moment; with the default, each such commit runs young collections, and every few hundred commits
#: a full collection over every live object pauses the event loop for tens of milliseconds (the
#: fan-out benchmark's p99). Short-lived objects are freed by reference counting either way.
GC_YOUNG_THRESHOLD = 20_000


def _blocking(main: Callable[_P, Coroutine[Any, Any, None]], name: str) -> Callable[_P, None]:
    """`main` run to its end on a new event loop (uvloop where installed), with the server's logging
    and garbage collector settings."""

    @functools.wraps(main)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> None:
        _configure_logging()
        young, older, oldest = gc.get_threshold()
        gc.set_threshold(max(GC_YOUNG_THRESHOLD, young), older, oldest)
        try:
            import uvloop

            uvloop.install()
        except ImportError:  # pragma: no cover - Windows
            pass
        asyncio.run(main(*args, **kwargs))

    run.__name__ = run.__qualname__ = name
    return run


run_server = _blocking(serve, "run_server")
