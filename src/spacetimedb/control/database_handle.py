"""A hosted database as the front holds it: `DatabaseHandle`, one typed interface for both places
a database can run.

`HostedDatabase` runs it in this process (each operation one job on its worker);
`process_database.DatabaseProcess` runs it in a process of its own (`--database-processes`), where
each operation is one REQUEST over the socketpair and the very same `HostedDatabase` method answers
it there (`database_process._OPERATIONS`, the only operations a database process runs). The front
(`database_ops`, the routes, the WebSocket sessions, the registry) uses only what is declared here,
so nothing it asks can depend on which of the two it holds (docs/architecture.md, "Database processes").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from spacetimedb.control.backend import CallResult, HttpCallOutcome, LogLine, ModuleSwapPlan, ProcedureOutcome
from spacetimedb.control.confirmed_reads import ConfirmedReads
from spacetimedb.control.query_limits import QueryLimits
from spacetimedb.control.subscriber import Subscriber
from spacetimedb.module.auth import AuthCtx
from spacetimedb.module.http_client import HttpPolicy
from spacetimedb.module.http_handler import Request
from spacetimedb.protocol.client_messages import ClientMessage

if TYPE_CHECKING:
    from spacetimedb.control.database_registry import BackendFactory, BackendSpec
    from spacetimedb.control.hosted_database import DatabaseInfo


@runtime_checkable
class DatabaseHandle(Protocol):
    """What the front may ask of a hosted database, wherever it runs. Every operation that writes
    answers once its last transaction is durable (as upstream answers a confirmed call)."""

    info: DatabaseInfo
    #: Why the database is out of service (its commit log failed), or None while it serves.
    failure: str | None
    #: Set once the database stops (log followers and other streams end then).
    stopped: asyncio.Event
    #: The holds of its clients' messages until their commits are durable (one for its life).
    confirmed_reads: ConfirmedReads
    limits: QueryLimits
    #: What its procedures' `ctx.http` may reach.
    http_policy: HttpPolicy
    #: True when it runs in a process of its own: a client's frames cross raw (`submit_frame`).
    remote: bool

    # ---- its life (the registry) ------------------------------------------------------------

    def start(self) -> None: ...

    async def stop(self) -> None:
        """Close every client, stop the database (durability flushed); later operations raise DatabaseStopped."""

    async def swap(self, spec: BackendSpec, directory: Path, old_entry: Path, factory: BackendFactory) -> ModuleSwapPlan:
        """A republish over the serving database (`module_swap`), the new module's files staged in
        `directory` (`old_entry` names the previous one, put back on failure). `factory` builds the
        new backend in this process; a database process builds it with its own (the real host's)."""

    # ---- read on the loop -----------------------------------------------------------------------

    def check_serving(self) -> None:
        """Raise DatabaseOutOfService once the commit log failed."""

    def is_owner(self, identity: bytes) -> bool: ...

    def has_procedure(self, name: str) -> bool:
        """Whether the module has procedure `name` (immutable for one published module)."""

    # ---- a WebSocket client ----------------------------------------------------------------------

    async def admit(self, sub: Subscriber, first_message: bytes) -> str | None:
        """OnConnect of a WebSocket client, then `first_message` (its InitialConnection) queued before
        anything else reaches it; returns why client_connected refused it, or None."""

    def submit_frame(self, sub: Subscriber, messages: list[ClientMessage], raw: bytes | None = None) -> None:
        """Queue one client frame (its decoded `messages`; `raw`, its bytes, is what crosses to a
        database process, which decodes it there)."""

    async def leave(self, sub: Subscriber) -> None:
        """OnDisconnect of a WebSocket client that is gone (a no-op if it was already forgotten)."""

    def leave_soon(self, sub: Subscriber) -> None:
        """Queue the client's OnDisconnect without waiting."""

    # ---- the module's own data -------------------------------------------------------------------

    async def has_http_route(self, method: str, path: str) -> bool:
        """Whether the module's HTTP handler routes `method path` (asked before a body is read)."""

    async def module_schema(self, version: int) -> dict[str, Any]:
        """SATS-JSON of RawModuleDefV9 or V10; NotImplementedError if the version is not available."""

    # ---- calls through a transient connection (OnConnect, the call, OnDisconnect) ----------------

    async def call_reducer(self, reducer: str, args: Any, *, caller: bytes, auth: AuthCtx | None) -> CallResult:
        """POST /call/:reducer with SATS-JSON `args`; ConnectRejected if client_connected refuses."""

    async def call_procedure(self, name: str, args: Any, *, caller: bytes, auth: AuthCtx | None) -> ProcedureOutcome:
        """POST /call/:procedure; ConnectRejected if client_connected refuses."""

    async def run_sql(self, text: str, *, caller: bytes, auth: AuthCtx | None, confirmed: bool) -> list[dict[str, Any]]:
        """POST /sql: each statement's answer in upstream's JSON shape. Raises QueryRejected,
        PermissionError, ConnectRejected, or CommitRefused (a DML the commit log refused)."""

    async def call_http_handler(self, request: Request) -> HttpCallOutcome | None:
        """The module's HTTP handler routed to `request` (None: no route matches)."""

    # ---- the owner's operations ------------------------------------------------------------------

    async def take_snapshot(self, timeout_s: float) -> int | None:
        """Snapshot as of the last commit; its tx offset (None: nothing committed) once the file is
        written. NotImplementedError without durability, TimeoutError after `timeout_s`,
        SnapshotFailed if the file could not be written."""

    async def read_logs(
        self, num_lines: int | None, listener: Callable[[LogLine], None] | None
    ) -> tuple[list[LogLine], Callable[[], None] | None]:
        """The last `num_lines` log records; with a `listener`, every later one is handed to it on the
        loop until the returned unsubscribe function is called (follows module swaps)."""


if TYPE_CHECKING:
    from spacetimedb.control.hosted_database import HostedDatabase
    from spacetimedb.control.process_database import DatabaseProcess

    def _both_are_handles(in_process: HostedDatabase, own_process: DatabaseProcess) -> list[DatabaseHandle]:
        return [in_process, own_process]  # mypy checks each against the protocol


__all__ = ["DatabaseHandle"]
