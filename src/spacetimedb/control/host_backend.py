"""`DatabaseBackend` over the real layers: module loading, ModuleHost, the query engine, durability.

    load_module(path) -> ModuleHost(engine) + DatabaseDurability(data_dir) + query Catalog

Subscription updates are evaluated in the host's commit listener, right after each commit, so
every transaction (reducer, lifecycle, scheduled, SQL DML) is evaluated against exactly its own
post-commit state, even when the host runs several scheduled jobs in one `run_due`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from spacetimedb.bsatn import compile as compile_codec
from spacetimedb.control.backend import (
    CallBudget,
    CallResult,
    CallStatus,
    Changes,
    CommitListener,
    DurableOffsetWaiter,
    FanOut,
    HttpCallOutcome,
    LogLine,
    ModuleSwapPlan,
    ProcedureOutcome,
    QueryRejected,
    Row,
    ServedTable,
    SqlStatementResult,
    SubscriptionQuery,
)
from spacetimedb.control.database_registry import BackendSpec
from spacetimedb.control.query_router import QueryRegistryRouter
from spacetimedb.control.republish import check_module_swap, finish_migration, load_under_new_module
from spacetimedb.control.views import ViewEvaluator, ViewPlan, ViewTablesStore
from spacetimedb.durability.database_durability import DatabaseDurability
from spacetimedb.durability.files import REAL_FILE_OPS, FileOps
from spacetimedb.durability.options import DurabilityOptions
from spacetimedb.durability.policy import FsyncPolicy
from spacetimedb.engine.database import Database as EngineDatabase
from spacetimedb.engine.delta import TxDelta
from spacetimedb.engine.transaction import MutTx
from spacetimedb.host import (
    LifecycleReducerCallError,
    ModuleHost,
    ReducerArgumentsError,
    ReducerCallResult,
    ReducerStatus,
    UnknownReducerError,
)
from spacetimedb.host.logs import LogRecord as HostLogRecord
from spacetimedb.host.time_limit import DEFAULT_REDUCER_TIME_LIMIT
from spacetimedb.module.auth import AuthCtx
from spacetimedb.module.http_client import HttpPolicy, HttpTransport
from spacetimedb.module.http_handler import Request
from spacetimedb.module.loader import load_module
from spacetimedb.query import (
    Catalog,
    SqlError,
    SqlPermissionError,
    compile_all_tables,
    compile_subscription,
    execute_sql,
    is_subscribe_all,
)
from spacetimedb.query.ast import SelectStmt
from spacetimedb.query.limits import MAX_SQL_LENGTH, RowBudget
from spacetimedb.query.parser import parse_sql
from spacetimedb.query.subscription import SingleTablePlan, SubscriptionPlan
from spacetimedb.sats.algebraic_type import ProductType
from spacetimedb.sats.json import to_json
from spacetimedb.sats.resolve_refs import resolve_refs
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

log = logging.getLogger("spacetimedb.server")

_STATUS = {
    ReducerStatus.COMMITTED: CallStatus.COMMITTED,
    ReducerStatus.USER_ERROR: CallStatus.FAILED_USER,
    ReducerStatus.INTERNAL_ERROR: CallStatus.FAILED_INTERNAL,
}
_LEVELS = {"trace": "Trace", "debug": "Debug", "info": "Info", "warn": "Warn", "error": "Error", "panic": "Panic"}


class NamedChanges(dict[str, Any]):
    """A commit's changes by table name, keeping the engine's by-id view for query plans."""

    __slots__ = ("by_id",)

    def __init__(self, by_name: dict[str, Any], by_id: Mapping[int, Any]) -> None:
        super().__init__(by_name)
        self.by_id = by_id


class _Plan:
    """A query-layer SubscriptionPlan seen through the control layer's SubscriptionQuery protocol."""

    __slots__ = ("_ids", "_plan", "_state", "is_owner", "key", "reads", "sender", "sql", "table_name")

    def __init__(
        self, plan: SubscriptionPlan, state: EngineDatabase, ids: Mapping[str, int], sender: Identity, is_owner: bool
    ) -> None:
        self._plan = plan
        self._state = state
        self._ids = ids
        #: What the plan was compiled from, so the QueryRegistryRouter can register it.
        self.sql: str = plan.sql
        self.sender = sender
        self.is_owner = is_owner
        self.key: Hashable = plan.key
        self.table_name: str = plan.return_table_name
        self.reads: frozenset[str] = plan.table_names_read

    def initial_rows(self, budget: RowBudget | None = None) -> Sequence[Row]:
        try:
            rows: Sequence[Row] = self._plan.initial_rows(self._state, budget)
        except SqlError as e:  # the row budget
            raise QueryRejected(str(e)) from e
        return rows

    def delta(self, changes: Changes) -> tuple[Sequence[Row], Sequence[Row]]:
        by_id = getattr(changes, "by_id", None)
        if by_id is None:
            by_id = {self._ids[name]: c for name, c in changes.items()}
        ins, dels = self._plan.eval_delta(self._state, by_id)
        return ins, dels


_NO_CHANGES = NamedChanges({}, {})
_NO_FANOUT: FanOut = {}


_new_object = object.__new__
_set_timestamp_micros = Timestamp.__dict__["micros"].__set__


def _identity(be: bytes) -> Identity:
    return Identity(int.from_bytes(be, "big"))


_K = TypeVar("_K")
_V = TypeVar("_V")
#: Value objects cached per caller (one per connection); emptied past this many, so a stream of
#: new callers cannot grow a cache without bound.
_CACHE_LIMIT = 50_000


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> _V:
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


class HostBackend:
    def __init__(
        self,
        spec: BackendSpec,
        *,
        fsync: FsyncPolicy | None = None,
        file_ops: FileOps = REAL_FILE_OPS,
        durability: DurabilityOptions | None = None,
        reducer_time_limit: float | None = DEFAULT_REDUCER_TIME_LIMIT,
    ) -> None:
        """`durability`: the server's settings for every database's log and snapshots; `fsync`
        overrides its policy; `file_ops`: the file layer under them (tests inject faults);
        `reducer_time_limit`: seconds a reducer may run before it is interrupted (None: no limit)."""
        self.spec = spec
        self.reducer_time_limit = reducer_time_limit
        self.module = load_module(spec.module_path)
        schemas = list(self.module.table_schemas)
        self.engine = EngineDatabase(schemas)
        codecs = {s.table_id: compile_codec(s.row_type, self.module.typespace) for s in schemas}
        self.durability: DatabaseDurability | None = None
        if spec.data_dir is not None:
            kwargs = (durability or DurabilityOptions()).open_kwargs()
            if fsync is not None:
                kwargs["policy"] = fsync
            self.durability = DatabaseDurability.open(str(spec.data_dir / "durability"), file_ops=file_ops, **kwargs)
        try:
            self._start(spec, schemas, codecs)
        except BaseException:
            # Release the data directory, so the previous module can be restarted on it.
            if self.durability is not None:
                self.durability.close()
            raise

    def _start(self, spec: BackendSpec, schemas: list[Any], codecs: dict[int, Any]) -> None:
        migrated = False
        next_offset = 0
        if self.durability is not None:
            if spec.previous_module_path is not None and not spec.fresh:
                previous = load_module(spec.previous_module_path)
                migrated = load_under_new_module(self.durability, self.engine, codecs, previous, self.module)
            else:
                self.durability.attach(self.engine, codecs)
            next_offset = self.durability.next_tx_offset
        self.host = ModuleHost(
            self.module,
            self.engine,
            identity=_identity(spec.info.identity),
            owner=_identity(spec.info.owner),
            next_tx_offset=next_offset,
            time_limit=self.reducer_time_limit,
        )
        #: When the next scheduled reducer is due (µs since the epoch), or None: the scheduler's own
        #: method, read by the worker after every turn (no call through the host, no Timestamp).
        self.next_due_us: Callable[[], int | None] = self.host.scheduler.next_due_us
        self._names = {s.table_id: s.name for s in schemas}
        self._ids = {s.name: s.table_id for s in schemas}
        self._tables = {
            s.name: ServedTable(s.name, s.public, s.is_event, codecs[s.table_id].encode) for s in schemas
        }
        self.catalog = Catalog(schemas, self.module.typespace)
        self._start_views(schemas)
        #: The hosted database's SubscriptionManager evaluates commits through this (only plans a commit can affect).
        self.plan_router = QueryRegistryRouter(self.catalog, self.engine, self._ids)
        #: Evaluates each commit's subscriptions inside the commit (`set_commit_listener`).
        self._listener: CommitListener | None = None
        #: The commits of the host call under way, in commit order, each with what it evaluated.
        self._commits: list[EvaluatedCommit] = []
        self._identity_cache: dict[bytes, Identity] = {}
        self._connection_cache: dict[int, ConnectionId] = {}
        if self.durability is not None:
            # Logged first: a commit the log cannot take is undone before anyone sees it.
            self.host.set_commit_log(self.durability.on_reducer_result)
        self.host.add_commit_listener(self._on_commit)
        if migrated and self.durability is not None:
            # One commit in the new layout, then a snapshot of it: recovery starts from there.
            marker = self.host.record_commit(
                TxDelta(), caller=self.host.owner, timestamp=Timestamp.now(), reducer="__migration__"
            )
            self._convert(marker)
            finish_migration(self.durability)
        if spec.fresh:
            init = self._convert(self.host.init())
            if not init.committed:
                raise RuntimeError(f"init reducer failed: {init.error}")
        if self.durability is not None:
            # A publish answers once the database would survive a power cut: init's rows included.
            self.durability.flush()

    def _start_views(self, schemas: list[Any]) -> None:
        """Views as tables to clients: each gets a table id after the real tables' (for SQL and
        subscriptions only; the engine never holds them) and a row codec for the wire."""
        ts = self.module.typespace
        views = list(getattr(self.module, "views", ()))
        first = max((s.table_id for s in schemas), default=-1) + 1
        self._view_by_tid = {first + i: v for i, v in enumerate(views)}
        self._view_by_name = {v.name: v for v in views}
        view_schemas = [v.table_schema(tid) for tid, v in self._view_by_tid.items()]
        #: The catalog SQL and subscriptions resolve names in: the tables, then the views.
        self.view_catalog = Catalog([*schemas, *view_schemas], ts) if views else self.catalog
        for v in views:
            self._tables[v.name] = ServedTable(v.name, v.public, False, compile_codec(v.row_product, ts).encode)
        self._table_names = frozenset(s.name for s in schemas)
        self.views = ViewEvaluator(self.host.runner, self.engine, schemas)
        #: The last failure `_check_views` reported (owner DML tells it apart from a log failure).
        self._view_failure: str | None = None
        if views:  # as upstream: a subscribed view a transaction affects is refreshed inside it
            self.host.set_commit_check(self._check_views)

    def _check_views(self, result: ReducerCallResult) -> str | None:
        """The host's commit check: the failure of a subscribed view this commit affects, if any."""
        delta = result.delta
        if delta is None or not delta.tables:
            return None
        try:
            error = self.views.check_commit(delta.tables)
        except Exception:  # our bug, not the module's: the fan-out evaluates the views itself
            log.exception("view commit check failed for %s", result.reducer)
            return None
        self._view_failure = error
        return error

    # ---- commits ----------------------------------------------------------------------------------

    def set_commit_listener(self, listener: CommitListener | None) -> None:
        self._listener = listener

    def _on_commit(self, result: ReducerCallResult) -> None:
        delta = result.delta
        if delta is None:
            return
        listener = self._listener
        if listener is None or not listener.listening():
            return  # nobody subscribed: nothing to evaluate, nothing to send
        names = self._names
        changes = NamedChanges({names[tid]: c for tid, c in delta.tables.items()}, delta.tables)
        fanout = None
        if changes:
            try:
                fanout = listener.evaluate(changes)
            except Exception:  # never let fan-out turn a commit into a failed call
                log.exception("subscription fan-out failed for %s", result.reducer)
        self._commits.append(EvaluatedCommit(result, changes, fanout))

    def _convert(self, result: ReducerCallResult) -> CallResult:
        """The CallResult of the host call just made, with what its commit evaluated (if it committed)."""
        commits = self._commits
        if not commits:  # no commit, or nobody subscribed (the common case: no allocation)
            return _unwatched_result(result)
        commit = commits[-1] if commits[-1].result is result else None
        commits.clear()
        return _call_result(result, commit)

    def _convert_all(self, results: list[ReducerCallResult]) -> list[CallResult]:
        """`_convert` for a host call that ran several transactions: commits pair with results in order."""
        commits, self._commits = self._commits, []
        out = []
        i = 0
        for result in results:
            commit = None
            if i < len(commits) and commits[i].result is result:
                commit = commits[i]
                i += 1
            out.append(_call_result(result, commit))
        return out

    # ---- per-call value objects, cached (callers repeat: one per connection) ------------------

    def _identity_of(self, be: bytes) -> Identity:
        ident = self._identity_cache.get(be)
        if ident is None:
            ident = _remember(self._identity_cache, be, _identity(be))
        return ident

    def _connection_of(self, value: int) -> ConnectionId:
        conn = self._connection_cache.get(value)
        if conn is None:
            conn = _remember(self._connection_cache, value, ConnectionId(value))
        return conn

    # ---- DatabaseBackend --------------------------------------------------------------------------

    def tables(self) -> Mapping[str, ServedTable]:
        return self._tables

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
        # The per-caller value objects, looked up here (the cache hit is the hot path; `is None`,
        # as a ConnectionId's truth is a Python call).
        ident = self._identity_cache.get(caller)
        if ident is None:
            ident = self._identity_of(caller)
        conn = None
        if connection_id is not None:
            conn = self._connection_cache.get(connection_id)
            if conn is None:
                conn = self._connection_of(connection_id)
        timestamp = _new_object(Timestamp)  # as `Timestamp.now`: a clock reading needs no range check
        _set_timestamp_micros(timestamp, timestamp_us)
        try:
            result = self.host.call_reducer(
                name,
                args,
                caller=ident,
                connection_id=conn,
                timestamp=timestamp,
                args_format=args_format,  # type: ignore[arg-type]
                auth=auth,
            )
        except UnknownReducerError:
            return CallResult(CallStatus.NO_SUCH_REDUCER, timestamp_us, "no such reducer")
        except LifecycleReducerCallError as e:
            return CallResult(CallStatus.LIFECYCLE, timestamp_us, str(e))
        except ReducerArgumentsError as e:
            return CallResult(CallStatus.BAD_ARGS, timestamp_us, f"invalid arguments for reducer {name}: {e}")
        except Exception as e:  # a host failure, not the reducer's: report it, keep serving
            log.exception("host failed calling reducer %s", name)
            return CallResult(CallStatus.FAILED_INTERNAL, timestamp_us, f"host error calling {name}: {type(e).__name__}: {e}")
        if not self._commits:  # `_convert`'s common case, without its call (this runs per call)
            return _unwatched_result(result)
        return self._convert(result)

    def call_budget(self) -> CallBudget | None:
        return self.host.guard

    def has_http_route(self, method: str, path: str) -> bool:
        return self.module.router.match(method, path) is not None

    def call_http_handler(self, request: Request, timestamp_us: int) -> HttpCallOutcome | None:
        try:
            result = self.host.call_http_handler(request, timestamp=Timestamp(timestamp_us))
        except Exception as e:  # a host failure, not the handler's: report it, keep serving
            log.exception("host failed calling the HTTP handler for %s %s", request.method, request.path)
            self._commits.clear()
            return HttpCallOutcome(None, f"host error: {type(e).__name__}", [])
        if result is None:
            return None
        return HttpCallOutcome(result.response, result.error, self._convert_all(result.commits))

    def set_procedure_launcher(self, launch: Callable[[str, bytes], None]) -> None:
        self.host.procedure_launcher = lambda name, args, _ts: launch(name, args)

    def has_procedure(self, name: str) -> bool:
        return name in self.host.runner.procedures

    def procedure_names(self) -> frozenset[str]:
        """The module's procedures (a database process tells the front once per module)."""
        return frozenset(self.host.runner.procedures)

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
        host = self.host

        def log_sink(level: str, message: str, name: str | None, ts: Timestamp | None) -> None:
            record = HostLogRecord(level, ts if ts is not None else Timestamp.now(), message, name)
            try:
                defer(lambda: host.log.append(record))
            except Exception:  # the database stopped meanwhile: the record has nowhere to go
                pass

        try:
            prepared = host.procedure(name)
            result = host.call_procedure(
                name,
                args,
                caller=_identity(caller),
                connection_id=None if connection_id is None else ConnectionId(connection_id),
                timestamp=Timestamp(timestamp_us),
                args_format=args_format,  # type: ignore[arg-type]
                auth=auth,
                run_tx=run_tx,
                http=http,
                http_policy=http_policy,
                log=log_sink,
            )
        except UnknownReducerError:
            return ProcedureOutcome(CallStatus.NO_SUCH_REDUCER, timestamp_us, error=f"no such procedure `{name}`")
        except ReducerArgumentsError as e:
            return ProcedureOutcome(CallStatus.BAD_ARGS, timestamp_us, error=f"invalid arguments for procedure {name}: {e}")
        except Exception as e:  # a host failure, not the procedure's
            log.exception("host failed calling procedure %s", name)
            return ProcedureOutcome(CallStatus.FAILED_INTERNAL, timestamp_us, error=f"host error calling {name}: {type(e).__name__}: {e}")
        if not result.ok:
            return ProcedureOutcome(CallStatus.FAILED_INTERNAL, timestamp_us, result.duration_micros, result.error or "")
        return ProcedureOutcome(
            CallStatus.COMMITTED,
            timestamp_us,
            result.duration_micros,
            ret_bsatn=result.bsatn,
            ret_json=to_json(prepared.bare(result.value), prepared.return_node),
        )

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
        return self.host.procedure_tx(
            fn,
            name,
            self._identity_of(caller),
            None if connection_id is None else self._connection_of(connection_id),
            auth,
            on_result=lambda r: results.append(self._convert(r)),
        )

    def client_connected(
        self, caller: bytes, connection_id: int, timestamp_us: int, auth: AuthCtx | None = None
    ) -> CallResult:
        return self._lifecycle(self.host.client_connected, caller, connection_id, timestamp_us, auth)

    def client_disconnected(
        self, caller: bytes, connection_id: int, timestamp_us: int, auth: AuthCtx | None = None
    ) -> CallResult:
        return self._lifecycle(self.host.client_disconnected, caller, connection_id, timestamp_us, auth)

    def _lifecycle(
        self,
        run: Callable[..., ReducerCallResult],
        caller: bytes,
        connection_id: int,
        timestamp_us: int,
        auth: AuthCtx | None,
    ) -> CallResult:
        try:
            result = run(
                self._identity_of(caller), self._connection_of(connection_id), timestamp=Timestamp(timestamp_us), auth=auth
            )
        except Exception as e:  # a host failure: refuse the connection rather than crash the request
            log.exception("host failed running a lifecycle reducer")
            return CallResult(CallStatus.FAILED_INTERNAL, timestamp_us, f"host error: {type(e).__name__}: {e}")
        return self._convert(result)

    def compile_subscription(self, sql: str, caller: bytes, is_owner: bool) -> list[SubscriptionQuery]:
        sender = _identity(caller)
        try:
            if is_subscribe_all(sql):
                plans = compile_all_tables(self.catalog, sender=sender, is_owner=is_owner)
            else:
                plans = [compile_subscription(sql, self.view_catalog, sender=sender, is_owner=is_owner)]
        except SqlError as e:
            raise QueryRejected(str(e)) from e
        except RecursionError:  # a nesting no limit foresaw: still an answer, not a crash
            raise QueryRejected("SQL nested too deeply: simplify the query") from None
        return [self._subscription_plan(p, sender, is_owner) for p in plans]

    def _subscription_plan(self, plan: Any, sender: Identity, is_owner: bool) -> Any:
        """A table query as a `_Plan`; a query on a view (`SELECT * FROM v [WHERE ...]`) as a ViewPlan."""
        views = self._view_by_name
        if not views or plan.table_names_read.isdisjoint(views):
            return _Plan(plan, self.engine, self._ids, sender, is_owner)
        if not isinstance(plan, SingleTablePlan):
            raise QueryRejected("a view cannot be joined in a subscription: subscribe to the view on its own")
        view = views[plan.return_table_name]
        return ViewPlan(self.views, view, sender, plan.filter_rows, plan.key, self._table_names, sql=plan.sql)

    def run_sql(
        self, sql: str, caller: bytes, is_owner: bool, timestamp_us: int, *, row_budget: int | None = None
    ) -> tuple[list[SqlStatementResult], CallResult | None]:
        sender = _identity(caller)
        tx = self.engine.begin()
        try:
            # The owner's SQL may be long (bulk INSERTs); everyone else's is bounded like a subscription's.
            catalog, store = self.catalog, cast(Any, tx)
            if self._view_by_tid and _is_select(sql):  # views are read, never written
                catalog, store = self.view_catalog, ViewTablesStore(tx, self.views, self._view_by_tid, sender)
            results = execute_sql(
                sql,
                catalog,
                store,
                sender=sender,
                is_owner=is_owner,
                row_budget=row_budget,
                max_length=None if is_owner else MAX_SQL_LENGTH,
            )
        except SqlPermissionError as e:
            tx.rollback()
            raise PermissionError(str(e)) from e
        except SqlError as e:
            tx.rollback()
            raise QueryRejected(str(e)) from e
        except RecursionError:
            tx.rollback()
            raise QueryRejected("SQL nested too deeply: simplify the query") from None
        except Exception:
            tx.rollback()
            raise
        call: CallResult | None = None
        if any(r.is_dml for r in results):
            call = self._commit_sql(tx, sql, sender, timestamp_us)
        else:
            tx.rollback()
        ts = self.module.typespace
        return [
            SqlStatementResult(
                # Refs inlined, as upstream's column schemas hold none: clients read it without the typespace.
                to_json(resolve_refs(r.schema, ts), ProductType),
                [_row_json(row, r.schema, ts) for row in r.rows],
                r.total_duration_micros,
                r.stats.rows_inserted,
                r.stats.rows_deleted,
                r.stats.rows_updated,
            )
            for r in results
        ], call

    def _commit_sql(self, tx: MutTx, sql: str, sender: Identity, timestamp_us: int) -> CallResult:
        """Commit owner DML like a reducer's transaction: next tx offset, commit listeners, fan-out."""
        delta = tx.commit()
        self._view_failure = None
        result = self.host.record_commit(delta, caller=sender, timestamp=Timestamp(timestamp_us), args=sql)
        if not result.ok and result.error is not None and result.error == self._view_failure:
            # A view the DML made stale failed (as upstream: rolled back, the statement fails).
            self._convert(result)
            raise QueryRejected(result.error)
        return self._convert(result)

    def module_def_json(self, version: int) -> dict[str, Any]:
        export = getattr(self.module, "raw_module_def_json", None)
        if export is None:
            raise NotImplementedError("this module layer cannot export its definition yet")
        try:
            doc: dict[str, Any] = export(version=version)
        except TypeError:
            if version != 10:
                raise NotImplementedError("only version=10 is exported") from None
            doc = export()
        return doc

    def run_due(self, now_us: int) -> list[CallResult]:
        return self._convert_all(self.host.run_due(Timestamp(now_us)))

    def logs(self, num_lines: int | None) -> list[LogLine]:
        records = self.host.log.tail(num_lines) if num_lines is not None else self.host.log.records()
        return [_log_record(r) for r in records]

    def subscribe_logs(self, listener: Callable[[LogLine], None]) -> Callable[[], None]:
        def forward(record: HostLogRecord) -> None:
            listener(_log_record(record))

        self.host.log.add_listener(forward)
        return lambda: self.host.log.remove_listener(forward)

    def durable_offset_waiter(self) -> DurableOffsetWaiter | None:
        return None if self.durability is None else self.durability.durable_waiter()

    def durable_offset_now(self) -> int | None:
        """The highest tx offset on disk now (None: no durability); read on the loop."""
        return None if self.durability is None else self.durability.durable_offset

    def request_snapshot(self) -> int | None:
        if self.durability is None:
            raise NotImplementedError("this database keeps no durable state, so it has no snapshots")
        return self.durability.request_snapshot()

    def wait_snapshot(self, tx_offset: int, timeout: float | None = None) -> None:
        if self.durability is not None:
            self.durability.wait_snapshot(tx_offset, timeout)

    def check_module_swap(self, module_path: Path) -> ModuleSwapPlan:
        return check_module_swap(self.module, self.engine, module_path)

    def on_log_failure(self, callback: Callable[[str], None]) -> None:
        if self.durability is not None:
            self.durability.add_failure_listener(lambda error: callback(str(error)))

    def close(self) -> None:
        if self.durability is not None:
            self.durability.close()


@dataclass(slots=True)
class EvaluatedCommit:
    """One commit as the commit listener saw it: the host's result, its changes by table name, and
    the subscription updates evaluated against exactly its state (None if evaluation failed)."""

    result: ReducerCallResult
    changes: Changes
    fanout: FanOut | None


def _unwatched_result(result: ReducerCallResult) -> CallResult:
    """The CallResult of a call whose commit nobody watches (or that did not commit): no changes."""
    status = result.status
    # Positional (a dataclass built from keywords costs twice as much); an enum's hash is a Python
    # call, so the usual status is compared instead.
    return CallResult(
        CallStatus.COMMITTED if status is ReducerStatus.COMMITTED else _STATUS[status],
        result.timestamp.micros,
        result.error or "",
        _NO_CHANGES,
        b"",
        result.tx_offset,
    )


def _call_result(result: ReducerCallResult, commit: EvaluatedCommit | None) -> CallResult:
    return CallResult(
        status=_STATUS[result.status],
        timestamp_us=result.timestamp.micros,
        error=result.error or "",
        changes=_NO_CHANGES if commit is None else commit.changes,
        tx_offset=result.tx_offset,
        fanout=None if commit is None else commit.fanout,
    )


def _is_select(sql: str) -> bool:
    """Whether `sql` is one SELECT (a text that does not parse is left to execute_sql to report)."""
    try:
        return isinstance(parse_sql(sql, "sql", max_length=None), SelectStmt)
    except Exception:
        return False


def _row_json(row: Row, schema: ProductType, typespace: Any) -> list[Any]:
    """One /sql result row: each column in positional SATS-JSON (u256 as "0x..." hex, as upstream)."""
    return [to_json(v, e.algebraic_type, positional=True, typespace=typespace) for v, e in zip(row, schema.elements, strict=False)]


def _log_record(r: HostLogRecord) -> LogLine:
    return LogLine(_LEVELS.get(r.level, r.level.capitalize()), r.timestamp.micros, r.message, function=r.reducer)


def host_backend_factory(spec: BackendSpec) -> HostBackend:
    return HostBackend(spec)


@dataclass(frozen=True, slots=True)
class HostBackendFactory:
    """A backend factory applying the server's durability settings and reducer time limit to every
    database (data, so a database process can be started with the same settings)."""

    durability: DurabilityOptions | None = None
    reducer_time_limit: float | None = DEFAULT_REDUCER_TIME_LIMIT

    def __call__(self, spec: BackendSpec) -> HostBackend:
        return HostBackend(spec, durability=self.durability, reducer_time_limit=self.reducer_time_limit)


def host_backend_factory_with(
    durability: DurabilityOptions | None = None, reducer_time_limit: float | None = DEFAULT_REDUCER_TIME_LIMIT
) -> Callable[[BackendSpec], HostBackend]:
    """A backend factory applying the server's durability settings and reducer time limit to every database."""
    return HostBackendFactory(durability, reducer_time_limit)


__all__ = ["HostBackend", "HostBackendFactory", "host_backend_factory", "host_backend_factory_with"]
