"""What the control layer needs from one hosted database: the swap point between it and the host
(`spacetimedb.host`) plus query engine (`spacetimedb.query`).

The control layer only ever talks to a `DatabaseBackend`. `spacetimedb.control.host_backend` implements it
over the real ModuleHost and query plans; tests implement it with small fakes. Every method is
synchronous and called from the database's worker thread, one at a time.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from spacetimedb.module.auth import AuthCtx
from spacetimedb.module.datastore import Row
from spacetimedb.module.http_client import HttpPolicy, HttpTransport
from spacetimedb.module.http_handler import Request, Response
from spacetimedb.query.limits import RowBudget


@dataclass(frozen=True, slots=True)
class TableChanges:
    """One table's rows inserted and deleted by one transaction (set semantics, already netted)."""

    inserts: Sequence[Row] = ()
    deletes: Sequence[Row] = ()


#: A transaction's effect, by canonical table name.
Changes = Mapping[str, TableChanges]

#: Returns once the given tx offset is durable (raises if it never will be: the log failed or closed).
DurableOffsetWaiter = Callable[[int], Awaitable[object]]

#: Per subscriber: its encoded QuerySetUpdates for one transaction, in query-set order.
FanOut = dict[object, list[bytes]]


class CallStatus(enum.Enum):
    COMMITTED = "committed"
    #: The reducer returned an error or raised SenderError: rolled back, the text goes to the caller.
    FAILED_USER = "failed_user"
    #: The reducer crashed (any other exception) or the host failed: rolled back.
    FAILED_INTERNAL = "failed_internal"
    #: Rejected before running (the request itself is wrong).
    NO_SUCH_REDUCER = "no_such_reducer"
    BAD_ARGS = "bad_args"
    LIFECYCLE = "lifecycle"


@dataclass(frozen=True, slots=True)
class ProcedureOutcome:
    """How a procedure call ended. `status` COMMITTED: it returned `ret_bsatn` (`ret_json` the
    same value in SATS-JSON); FAILED_INTERNAL: it raised (`error`); NO_SUCH_REDUCER / BAD_ARGS:
    it never started."""

    status: CallStatus
    timestamp_us: int
    duration_us: int = 0
    error: str = ""
    ret_bsatn: bytes = b""
    ret_json: Any = None


@dataclass(slots=True)
class HttpCallOutcome:
    """What an HTTP handler call produced: its response, or why it failed, and its commits."""

    response: Response | None
    error: str | None
    commits: list[CallResult]


@dataclass(slots=True)
class CallResult:
    status: CallStatus
    timestamp_us: int
    error: str = ""
    changes: Changes = field(default_factory=dict)
    #: BSATN of the reducer's ok value (unit: empty).
    ret_value: bytes = b""
    #: Commit log offset of the transaction, if it committed and durability is on.
    tx_offset: int | None = None
    #: What the commit listener evaluated inside this transaction's commit (`set_commit_listener`):
    #: each subscriber's encoded query-set updates. None when nothing was evaluated.
    fanout: FanOut | None = None

    @property
    def committed(self) -> bool:
        return self.status is CallStatus.COMMITTED


@dataclass(frozen=True, slots=True)
class ServedTable:
    """A table as the backend serves it to clients: who may see it, and how its rows go on the wire."""

    name: str
    public: bool
    is_event: bool
    #: BSATN of one row tuple (the table's row product).
    encode_row: Callable[[Row], bytes]


class QueryRejected(Exception):
    """A subscription or SQL query that does not parse, type-check or plan; the text goes to the client."""


class SubscriptionQuery(Protocol):
    """One compiled subscription query whose result is the rows of one table."""

    @property
    def key(self) -> Hashable:
        """Equal keys evaluate identically for every subscriber (includes :sender if it is used)."""
        ...

    @property
    def table_name(self) -> str: ...

    @property
    def sql(self) -> str:
        """The query text this plan was compiled from; one table's for `SELECT * FROM *`."""
        ...

    @property
    def reads(self) -> frozenset[str]:
        """Canonical names of every table the query reads."""
        ...

    def initial_rows(self, budget: RowBudget | None = None) -> Sequence[Row]:
        """The current result (a bag). With a `budget`, every row read is charged to it; past it
        the plan raises QueryRejected (the text says which limit)."""
        ...

    def delta(self, changes: Changes) -> tuple[Sequence[Row], Sequence[Row]]:
        """(inserts, deletes) of the result caused by one committed transaction (a bag)."""
        ...


class PlanRouter(Protocol):
    """Evaluates a commit for only the registered plans it can affect."""

    def register(self, plan: Any) -> Hashable:
        """Register one distinct query; returns the handle `evaluate` reports it by."""
        ...

    def unregister(self, handle: Any) -> None: ...

    def evaluate(self, changes: Changes) -> Mapping[Any, tuple[Sequence[Row], Sequence[Row]]]:
        """{handle: (inserts, deletes)} of every plan whose result the commit changed."""
        ...


class CommitListener(Protocol):
    """Told of every commit inside it, against exactly that commit's state (a hosted database's
    subscriptions): a backend that runs several transactions in one call (scheduled reducers)
    evaluates each one before the next begins."""

    def listening(self) -> bool:
        """False while nothing is subscribed: commits then skip evaluation entirely."""
        ...

    def evaluate(self, changes: Changes) -> FanOut:
        """Every affected subscriber's encoded updates for one committed transaction."""
        ...


@dataclass(frozen=True, slots=True)
class SqlStatementResult:
    """One statement's answer in the /sql JSON shape (`SqlStmtResult` upstream)."""

    schema: dict[str, Any]
    rows: list[list[Any]]
    total_duration_micros: int = 0
    rows_inserted: int = 0
    rows_deleted: int = 0
    rows_updated: int = 0


@dataclass(frozen=True, slots=True)
class LogLine:
    """One module log record as `/logs` serves it (upstream's JSON record); the host's own
    `spacetimedb.host.LogRecord` is converted to it."""

    level: str  # Error | Warn | Info | Debug | Trace | Panic
    ts_us: int
    message: str
    target: str | None = None
    filename: str | None = None
    line_number: int | None = None
    function: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"level": self.level, "ts": self.ts_us}
        for key in ("target", "filename", "line_number", "function"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["message"] = self.message
        return out


class CallBudget(Protocol):
    """A shorter wall-time limit for module code, for calls run where a long one would stall
    every database (the event loop). The host's reducer guard implements it. Plain attributes
    rather than methods: the worker sets and reads them around every turn it runs on the loop."""

    #: The full wall-time limit of a call, in seconds.
    limit_s: float
    #: The limit applied to the calls from now on: set shorter than `limit_s` to interrupt (and
    #: roll back) calls running past it, back to `limit_s` for the full reducer time limit.
    limit_now: float
    #: Set when a call was interrupted under a shorter limit: its result is to be discarded and the
    #: call run again on the worker. Whoever reads it true clears it.
    overrun: bool


class DatabaseBackend(Protocol):
    """One database running one module. Identities are 32 big-endian bytes."""

    def tables(self) -> Mapping[str, ServedTable]: ...

    @property
    def plan_router(self) -> PlanRouter | None:
        """Routes commits to only the subscription plans they can affect, or None (evaluate each)."""
        ...

    def set_commit_listener(self, listener: CommitListener | None) -> None:
        """Evaluate every commit through `listener` from now on, inside the commit; each committed
        CallResult carries what its commit evaluated in `fanout` (None: no listener, or nothing
        was listening)."""
        ...

    def call_reducer(
        self,
        name: str,
        args: bytes | Any,
        *,
        caller: bytes,
        connection_id: int | None,
        timestamp_us: int,
        args_format: str = "bsatn",
        is_owner: bool = False,
        auth: AuthCtx | None = None,
    ) -> CallResult:
        """Run a client-callable reducer; `args` is BSATN bytes or decoded JSON (args_format 'json').
        `auth`: the caller's verified credentials, passed by reference to `ctx.sender_auth`."""
        ...

    def call_budget(self) -> CallBudget | None:
        """The budget that lets reducer calls run on the event loop (`worker.py`), or None: every
        call runs on the worker thread (no time limit to bound what the loop would wait)."""
        ...

    def has_http_route(self, method: str, path: str) -> bool:
        """Whether the module routes `method path` (asked on the event loop, before a request's
        body is read: the module's routes are immutable data)."""
        ...

    def call_http_handler(self, request: Request, timestamp_us: int) -> HttpCallOutcome | None:
        """Run the module's HTTP handler routed to `request.method request.path` (None: no route
        matches). Its `with_tx` commits are in the outcome, each with its fan-out."""
        ...

    def set_procedure_launcher(self, launch: Callable[[str, bytes], None]) -> None:
        """How a schedule table's procedure is started (name, BSATN args), called on the worker:
        the hosted database hands it to its procedure pool."""
        ...

    def has_procedure(self, name: str) -> bool:
        """True if the module declares a procedure named `name`."""
        ...

    def call_procedure(
        self,
        name: str,
        args: bytes | Any,
        *,
        caller: bytes,
        connection_id: int | None,
        timestamp_us: int,
        args_format: str,
        auth: AuthCtx | None,
        run_tx: Callable[[Callable[..., Any]], Any],
        http: HttpTransport,
        http_policy: HttpPolicy,
        defer: Callable[[Callable[[], None]], None],
    ) -> ProcedureOutcome:
        """Run a procedure to its end on the calling thread (not the worker): its `ctx.with_tx`
        calls `run_tx`, which runs `procedure_tx` on the worker; `defer` hands work (log records)
        to the worker."""
        ...

    def procedure_tx(
        self,
        fn: Callable[..., Any],
        name: str,
        *,
        caller: bytes,
        connection_id: int | None,
        auth: AuthCtx | None,
        results: list[CallResult],
    ) -> Any:
        """On the worker: one `ctx.with_tx(fn)` transaction of procedure `name`; appends its
        CallResult to `results` (to fan out), returns `fn`'s value or raises what `fn` raised."""
        ...

    def client_connected(
        self, caller: bytes, connection_id: int, timestamp_us: int, auth: AuthCtx | None = None
    ) -> CallResult: ...

    def client_disconnected(
        self, caller: bytes, connection_id: int, timestamp_us: int, auth: AuthCtx | None = None
    ) -> CallResult: ...

    def compile_subscription(self, sql: str, caller: bytes, is_owner: bool) -> list[SubscriptionQuery]:
        """Plans for one subscription query string (`SELECT * FROM *` gives one per readable table)."""
        ...

    def run_sql(
        self, sql: str, caller: bytes, is_owner: bool, timestamp_us: int, *, row_budget: int | None = None
    ) -> tuple[list[SqlStatementResult], CallResult | None]:
        """Ad-hoc SQL; DML also returns the committed transaction's CallResult for fan-out.
        `row_budget`: rows a SELECT may read or produce (None: unbounded); past it, QueryRejected."""
        ...

    def module_def_json(self, version: int) -> dict[str, Any]:
        """SATS-JSON of RawModuleDefV9 or V10, unwrapped."""
        ...

    def next_due_us(self) -> int | None:
        """When the next scheduled reducer is due (µs since the epoch), or None."""
        ...

    def run_due(self, now_us: int) -> list[CallResult]:
        """Run every scheduled reducer due at `now_us`; each committed transaction's result."""
        ...

    def logs(self, num_lines: int | None) -> list[LogLine]: ...

    def subscribe_logs(self, listener: Callable[[LogLine], None]) -> Callable[[], None]:
        """Call `listener` for each new log record; returns an unsubscribe function."""
        ...

    def durable_offset_waiter(self) -> DurableOffsetWaiter | None:
        """An async function that returns once the given tx offset is durable, or None (no durability)."""
        ...

    def durable_offset_now(self) -> int | None:
        """The highest tx offset on disk now (None: no durability, or the backend cannot say); read
        on the event loop, so confirmed reads can release every commit already durable at once."""
        ...

    def request_snapshot(self) -> int | None:
        """Start a snapshot as of the last commit (runs on the worker, between transactions); returns
        its tx offset (None: nothing committed). NotImplementedError without durability."""
        ...

    def wait_snapshot(self, tx_offset: int, timeout: float | None = None) -> None:
        """Block (off the worker) until the snapshot of `tx_offset` or newer is on disk; raises if
        it could not be written, TimeoutError after `timeout` seconds."""
        ...

    def check_module_swap(self, module_path: Path) -> ModuleSwapPlan:
        """Load the module at `module_path` and plan the migration of the live data to it; raises
        (PublishRefused for a change needing a manual migration, anything else when it fails to
        load) without changing the running database. Runs on the database's worker."""
        ...

    def on_log_failure(self, callback: Callable[[str], None]) -> None:
        """Call `callback(error text)` once when the commit log fails (from any thread; also at once
        if it already has). A backend without durability never calls it."""
        ...

    def close(self) -> None:
        """Flush and release resources (durability, files)."""
        ...


@dataclass(frozen=True, slots=True)
class ModuleSwapPlan:
    """What a republish will do to a running database, decided before anything is touched."""

    #: True when connected clients cannot keep their row caches (a table's columns changed).
    disconnect_clients: bool = False
    #: The migration's steps, for logs.
    steps: tuple[str, ...] = ()
