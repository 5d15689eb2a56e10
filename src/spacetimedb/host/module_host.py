"""`ModuleHost`: runs one loaded module over one engine `Database` (the native host).

Each reducer call is one transaction: the module's `ModuleRunner` decodes the arguments and runs
the function (context, error classification, logging: the module layer's call rules, shared
with any other host); the host begins the transaction before, commits it (or rolls it back when
the runner reports a failure) after, then tells the commit log, the scheduler and the commit
listeners. The host adds the rules of this server: who may call what (lifecycle reducers run on
their event only, scheduled reducers are the owner's), tx offsets, the wall-time limit, the
scheduler. The per-call path does no logging, no handle construction and no string formatting.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

from spacetimedb.bsatn import compile as compile_codec
from spacetimedb.engine.database import Database
from spacetimedb.engine.delta import TxDelta
from spacetimedb.host.http_calls import HostTransactions, HttpHandlerResult, TransactionFailed
from spacetimedb.host.logs import DatabaseLog, LogRecord
from spacetimedb.host.results import (
    LifecycleReducerCallError,
    ProcedureCallResult,
    ReducerCallResult,
    ReducerStatus,
    UnknownReducerError,
)
from spacetimedb.host.scheduler import Job, Scheduler
from spacetimedb.host.time_limit import ReducerGuard
from spacetimedb.module.args import ArgsFormat, ReducerArgs
from spacetimedb.module.auth import AuthCtx
from spacetimedb.module.context import ReducerContext
from spacetimedb.module.http_client import HttpPolicy, HttpTransport, UrllibTransport
from spacetimedb.module.http_handler import Request, Response
from spacetimedb.module.module_def import ModuleDef, handler_name
from spacetimedb.module.runner import (
    CallLogSink,
    FailureKind,
    ModuleRunner,
    PreparedProcedure,
    PreparedReducer,
)
from spacetimedb.sats.errors import ConversionError
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

CommitListener = Callable[[ReducerCallResult], None]
#: A commit's last check before it is seen (`set_commit_check`): an error message undoes it.
CommitCheck = Callable[[ReducerCallResult], "str | None"]

_COMMITTED = ReducerStatus.COMMITTED
_INTERNAL_ERROR = ReducerStatus.INTERNAL_ERROR
#: How a failure the module runner reports shows in the call's result.
_FAILED_STATUS = {FailureKind.SENDER_ERROR: ReducerStatus.USER_ERROR, FailureKind.INTERNAL_ERROR: _INTERNAL_ERROR}


class ModuleHost:
    """One module running on one database.

    `identity` is the database's own identity (`ctx.identity`, and the sender of scheduled
    calls); `owner` is the identity that published it (the sender of `init`). `clock` gives "now"
    for calls without an explicit timestamp (the testing harness passes a fake clock).
    """

    def __init__(
        self,
        module: ModuleDef,
        db: Database | None = None,
        *,
        identity: Identity | None = None,
        owner: Identity | None = None,
        clock: Callable[[], Timestamp] = Timestamp.now,
        log: DatabaseLog | None = None,
        next_tx_offset: int = 0,
        time_limit: float | None = None,
    ) -> None:
        self.module = module
        self.db = db if db is not None else Database(module.table_schemas)
        self.identity = identity if identity is not None else Identity(0)
        self.owner = owner if owner is not None else self.identity
        self.clock = clock
        self.log = log if log is not None else DatabaseLog()
        self._next_offset = next_tx_offset
        #: Interrupts module code running longer than `time_limit` seconds (None: no limit).
        self._guard = ReducerGuard(time_limit) if time_limit is not None else None
        self._listeners: list[CommitListener] = []
        self._commit_log: CommitListener | None = None
        self._commit_check: CommitCheck | None = None
        #: What a commit must go through after the engine (see `_observe`): 0 nothing, 1 only the
        #: log and the listeners (inlined in `_run`), 2 `_after_commit`.
        self._observers = 0
        #: The module layer's call rules; this host supplies transactions, clock, log and guard.
        self.runner = ModuleRunner(module, identity=self.identity, log=self._log_from_module, guard=self._guard)
        self.db_view = self.runner.db_view
        self._run_reducer = self.runner.run_reducer
        self._converters = {t.schema.table_id: t.converter for t in module.tables}
        self._reducers = self.runner.reducers
        self._connected = self.runner.lifecycle("client_connected")
        self._disconnected = self.runner.lifecycle("client_disconnected")
        schedule_tables = [t.schema for t in module.tables if t.schema.schedule_reducer is not None]
        self.scheduler = Scheduler(schedule_tables)
        self._schedule_reducer = {t.table_id: t.schedule_reducer for t in schedule_tables}
        self._observe()
        # A scheduled call's arguments are its row, in BSATN (as upstream passes them).
        self._schedule_row_codecs = {t.table_id: compile_codec(t.row_type, module.typespace) for t in schedule_tables}
        #: Starts a scheduled procedure (name, BSATN args, timestamp); default: run it to its end
        #: right here, as the database (its HTTP through the stdlib transport).
        self.procedure_launcher: Callable[[str, bytes, Timestamp], None] = self._run_scheduled_procedure
        self._load_existing_schedules()

    # ---- public API ----------------------------------------------------------------------------

    @property
    def guard(self) -> ReducerGuard | None:
        """The wall-time limit of this host's module code (None: unlimited)."""
        return self._guard

    def call_reducer(
        self,
        name: str,
        args: ReducerArgs = b"",
        *,
        caller: Identity,
        connection_id: ConnectionId | None = None,
        timestamp: Timestamp | None = None,
        args_format: ArgsFormat = "bsatn",
        auth: AuthCtx | None = None,
    ) -> ReducerCallResult:
        """Run a client-callable reducer. Raises ReducerCallError subclasses (database unchanged)
        for an unknown reducer, a lifecycle reducer, or arguments that do not fit.

        `auth` is the caller's `ctx.sender_auth` (its verified token's claims), one object per
        connection passed by reference; None: a caller without a token."""
        r = self._reducers.get(name)
        if r is None:
            raise UnknownReducerError(f"no reducer named {name!r}; reducers are {self.client_reducers()}")
        if r.lifecycle is not None:
            raise LifecycleReducerCallError(
                f"{name!r} is the {r.lifecycle} lifecycle reducer; it runs on its event and cannot be called"
            )
        if r.scheduled and caller != self.owner:
            # Upstream answers "no such reducer" to anyone but the owner: a client must not be
            # able to run a game tick or a payout early.
            raise UnknownReducerError(f"{name!r} is a scheduled reducer; only the database owner can call it")
        # The format dispatch inline (not `r.decode`): one Python frame less per call.
        if args_format == "bsatn":
            fast = r.bsatn_fast
            if fast is None:
                values = r.decode_bsatn(args)
            else:
                try:
                    values = fast(args)
                except ConversionError:
                    values = r.decode_bsatn(args)  # raises ReducerArgumentsError, explaining why
        elif args_format == "python":
            values = r.decode_python(args)
        else:
            values = r.decode(args, args_format)
        return self._run(r.fn, values, args, name, caller, connection_id, timestamp or self.clock(), auth)

    def procedure(self, name: str) -> PreparedProcedure:
        """The procedure named `name` (UnknownReducerError when there is none)."""
        p = self.runner.procedures.get(name)
        if p is None:
            raise UnknownReducerError(
                f"no procedure named {name!r}; procedures are {sorted(self.runner.procedures)}"
            )
        return p

    def call_procedure(
        self,
        name: str,
        args: ReducerArgs = b"",
        *,
        caller: Identity,
        connection_id: ConnectionId | None = None,
        timestamp: Timestamp | None = None,
        args_format: ArgsFormat = "bsatn",
        auth: AuthCtx | None = None,
        run_tx: Callable[[Callable[[ReducerContext], Any]], Any] | None = None,
        http: HttpTransport | None = None,
        http_policy: HttpPolicy | None = None,
        log: CallLogSink | None = None,
    ) -> ProcedureCallResult:
        """Run a procedure to its end on this thread. Its `ctx.with_tx` runs `procedure_tx` here
        unless `run_tx` says otherwise (the hosted database passes one that queues the transaction
        on its worker, so the procedure may wait on HTTP on a thread of its own). Raises
        ReducerCallError subclasses for an unknown procedure or arguments that do not fit. `log`
        receives what the procedure logs (default: this host's log, written on the calling thread).

        Off the host's thread, only `procedure`, argument decoding and the procedure body run
        here; everything touching the database goes through `run_tx`."""
        p = self.procedure(name)
        if p.scheduled and caller not in (self.owner, self.identity):
            raise UnknownReducerError(f"{name!r} is a scheduled procedure; only the database owner can call it")
        values = p.decode(args, args_format)
        ts = timestamp or self.clock()
        start = perf_counter_ns()
        if run_tx is None:

            def run_tx(fn: Callable[[ReducerContext], Any]) -> Any:
                return self.procedure_tx(fn, name, caller, connection_id, auth)

        out = self.runner.run_procedure(
            p,
            values,
            caller,
            connection_id,
            ts,
            run_tx=run_tx,
            http=http if http is not None else UrllibTransport(),
            http_policy=http_policy if http_policy is not None else HttpPolicy(),
            auth=auth,
            salt=self._next_offset,
            log=log,
        )
        f = out.failure
        return ProcedureCallResult(
            procedure=name,
            status=_COMMITTED if f is None else _FAILED_STATUS[f.kind],
            error=None if f is None else f.message,
            value=out.value,
            bsatn=out.bsatn,
            timestamp=ts,
            duration_micros=(perf_counter_ns() - start) // 1000,
        )

    def procedure_tx(
        self,
        fn: Callable[[ReducerContext], Any],
        name: str,
        caller: Identity,
        connection_id: ConnectionId | None,
        auth: AuthCtx | None = None,
        on_result: Callable[[ReducerCallResult], None] | None = None,
    ) -> Any:
        """One `ctx.with_tx(fn)` of procedure `name`: `fn(tx)` in one transaction, committed (and
        logged and fanned out like a reducer's) when it returns, rolled back when it raises; then
        the exception is raised again to the procedure. Returns `fn`'s value."""
        box: list[Any] = []
        raised: list[BaseException] = []

        def body(ctx: ReducerContext) -> None:
            try:
                box.append(fn(ctx))
            except BaseException as e:
                raised.append(e)
                raise

        result = self._run(body, (), b"", name, caller, connection_id, self.clock(), auth)
        if on_result is not None:
            on_result(result)
        if raised:
            raise raised[0]
        if not result.committed:
            # The commit log refused the commit: the procedure learns its transaction did not happen.
            raise TransactionFailed(result.error or "the transaction was rolled back")
        return box[0] if box else None

    def init(self, *, timestamp: Timestamp | None = None) -> ReducerCallResult:
        """Create the `@scheduled` job rows and run the init reducer, in one transaction."""
        ts = timestamp or self.clock()
        return self._run(self.runner.init_function, (), b"", self.runner.init_name, self.owner, None, ts)

    def client_connected(
        self,
        identity: Identity,
        connection_id: ConnectionId | None,
        *,
        timestamp: Timestamp | None = None,
        auth: AuthCtx | None = None,
    ) -> ReducerCallResult:
        """Run the client_connected reducer (if any); a failed result means: reject the client.
        `auth`: the connecting client's credentials (`ctx.sender_auth`), as for `call_reducer`."""
        return self._run_lifecycle(self._connected, identity, connection_id, timestamp, auth)

    def client_disconnected(
        self,
        identity: Identity,
        connection_id: ConnectionId | None,
        *,
        timestamp: Timestamp | None = None,
        auth: AuthCtx | None = None,
    ) -> ReducerCallResult:
        return self._run_lifecycle(self._disconnected, identity, connection_id, timestamp, auth)

    def run_transaction(
        self,
        fn: Callable[[ReducerContext], object],
        *,
        caller: Identity | None = None,
        connection_id: ConnectionId | None = None,
        timestamp: Timestamp | None = None,
        label: str = "",
    ) -> ReducerCallResult:
        """Run `fn(ctx)` as an ad-hoc reducer: one transaction, committed unless it raises (then
        rolled back and reported like a reducer's error). For setup code, tools and tests."""
        return self._run(
            fn, (), None, label, caller if caller is not None else self.owner, connection_id, timestamp or self.clock()
        )

    def call_http_handler(self, request: Request, *, timestamp: Timestamp | None = None) -> HttpHandlerResult | None:
        """Run the HTTP handler the module routes `request.method request.path` to; None when no
        route matches (the server answers 404). The handler runs outside a transaction, bounded
        by the time limit; each `ctx.with_tx` commits as its own transaction."""
        route = self.module.router.match(request.method, request.path)
        if route is None:
            return None
        name = handler_name(self.module, route.handler)
        ts = timestamp or self.clock()
        txs = HostTransactions(self.db, self.record_commit, name, ts, self.identity)
        outcome = self.runner.run_http_handler(route.handler, request, name, ts, txs, self._next_offset)
        if isinstance(outcome, Response):
            return HttpHandlerResult(name, outcome, None, txs.commits)
        return HttpHandlerResult(name, None, outcome.message, txs.commits)

    def next_due(self) -> Timestamp | None:
        """When the earliest scheduled reducer falls due (None if nothing is scheduled)."""
        return self.scheduler.next_due()

    def run_due(self, now: Timestamp | None = None, *, limit: int = 10_000) -> list[ReducerCallResult]:
        """Run every scheduled reducer due at or before `now`, earliest first; returns their results,
        plus the internal deletes of fired one-time rows.

        Each runs with `ctx.timestamp = max(its intended time, now)` (as upstream). Interval jobs
        are then due on their next tick after `now`; ticks already missed are skipped. A caller
        simulating time (the testing harness) steps `now` through each due time instead.
        """
        now = now or self.clock()
        out: list[ReducerCallResult] = []
        for _ in range(limit):
            job = self.scheduler.pop_due(now)
            if job is None:
                break
            out.extend(self._fire(job, now))
        return out

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call `listener(result)` after every committed transaction, in commit order."""
        self._listeners.append(listener)
        self._observe()

    def remove_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.remove(listener)
        self._observe()

    def set_commit_log(self, log: CommitListener | None) -> None:
        """Log every committed transaction through `log(result)`, before anything else sees it.

        If `log` raises (the record cannot be encoded, the log has failed), the transaction is
        undone in the engine and reported as a failed call: a commit is never visible unless it
        was handed to the log. `log` must raise only when it did not take the record.
        """
        self._commit_log = log
        self._observe()

    def set_commit_check(self, check: CommitCheck | None) -> None:
        """Run `check(result)` on every committed transaction before anything else sees it (before
        the log): if it returns an error message, the transaction is undone in the engine and the
        call reported as failed with that message (upstream: a view the transaction made stale
        failed while being refreshed inside it). The engine state `check` reads is the
        transaction's."""
        self._commit_check = check
        self._observe()

    def _observe(self) -> None:
        """Recompute what `_run` does after a commit, once, when the observers change."""
        if self._commit_check is not None or self._schedule_reducer:
            self._observers = 2
        elif self._commit_log is not None or self._listeners:
            self._observers = 1
        else:
            self._observers = 0

    def record_commit(
        self,
        delta: TxDelta,
        *,
        caller: Identity,
        timestamp: Timestamp,
        reducer: str = "",
        args: ReducerArgs = None,
    ) -> ReducerCallResult:
        """Account for a transaction committed outside a reducer (e.g. owner SQL DML): give it the
        next tx offset, let the scheduler see schedule rows it changed, and tell the commit listeners."""
        offset = self._next_offset
        self._next_offset = offset + 1
        result = ReducerCallResult(
            reducer=reducer,
            status=_COMMITTED,
            error=None,
            delta=delta,
            timestamp=timestamp,
            tx_offset=offset,
            caller=caller,
            connection_id=None,
            args=args,
            duration_micros=0,
            internal=True,
        )
        self._after_commit(result, delta, timestamp)
        return result

    def client_reducers(self) -> list[str]:
        return [n for n, r in self._reducers.items() if r.lifecycle is None]

    @property
    def next_tx_offset(self) -> int:
        return self._next_offset

    # ---- running ---------------------------------------------------------------------------------

    def _run_lifecycle(
        self,
        r: PreparedReducer | None,
        caller: Identity,
        connection_id: ConnectionId | None,
        ts: Timestamp | None,
        auth: AuthCtx | None,
    ) -> ReducerCallResult:
        if r is None:
            # No such lifecycle reducer declared: nothing to run, nothing to commit.
            return ReducerCallResult(
                reducer="",
                status=_COMMITTED,
                error=None,
                delta=TxDelta(),
                timestamp=ts or self.clock(),
                tx_offset=None,
                caller=caller,
                connection_id=connection_id,
                args=b"",
                duration_micros=0,
            )
        return self._run(r.fn, (), b"", r.name, caller, connection_id, ts or self.clock(), auth)

    def _run(
        self,
        fn: Callable[..., Any],
        values: tuple[Any, ...],
        raw_args: ReducerArgs,
        name: str,
        caller: Identity,
        connection_id: ConnectionId | None,
        ts: Timestamp,
        auth: AuthCtx | None = None,
    ) -> ReducerCallResult:
        """One transaction around one call: the runner runs `fn(ctx, *values)`, this commits or
        rolls back on what it reports. `auth` None: internal without a connection id (init,
        scheduled calls), a caller without a token with one."""
        start = perf_counter_ns()
        tx = self.db.begin()
        offset = self._next_offset
        # Positional: this is the per-call path.
        failure = self._run_reducer(tx, fn, values, name, caller, connection_id, ts, offset, auth)
        if failure is not None:
            tx.rollback()
            # Positional, in field order (pinned by tests/host/test_results.py): the only
            # constructions on the per-call path, where keywords cost ~0.27 us more per call
            # (CPython 3.11 builds a kwargs dict to call a class); everywhere else with keywords.
            return ReducerCallResult(
                name, _FAILED_STATUS[failure.kind], failure.message, None, ts, None, caller, connection_id,
                raw_args, (perf_counter_ns() - start) // 1000,
            )  # fmt: skip
        delta = tx.commit()
        self._next_offset = offset + 1
        result = ReducerCallResult(
            name, _COMMITTED, None, delta, ts, offset, caller, connection_id, raw_args, (perf_counter_ns() - start) // 1000
        )
        observers = self._observers
        if observers == 1:
            # `_after_commit` inlined for the usual observers (the commit log, the listeners).
            log = self._commit_log
            if log is not None:
                try:
                    log(result)
                except Exception as e:
                    self._unlogged(result, delta, e)
                    return result
            for listener in self._listeners:
                listener(result)
        elif observers:
            self._after_commit(result, delta, ts)
        return result

    def _after_commit(self, result: ReducerCallResult, delta: TxDelta, ts: Timestamp, *, check: bool = True) -> None:
        if check and self._commit_check is not None:
            error = self._commit_check(result)
            if error is not None:
                self._undo(result, delta, error)
                return
        if self._commit_log is not None:
            try:
                self._commit_log(result)
            except Exception as e:
                self._unlogged(result, delta, e)
                return
        if self._schedule_reducer and delta.tables:
            self.scheduler.observe(delta, ts)
        for listener in self._listeners:
            listener(result)

    def _unlogged(self, result: ReducerCallResult, delta: TxDelta, error: Exception) -> None:
        """The log refused this commit: undo it before anyone saw it and turn it into a failure."""
        self._undo(
            result,
            delta,
            f"the transaction could not be written to the commit log and was rolled back: "
            f"{type(error).__name__}: {error}",
        )

    def _undo(self, result: ReducerCallResult, delta: TxDelta, error: str) -> None:
        """Revert a commit nobody has seen yet and report it as a failed call with `error`."""
        self.db.revert_delta(delta)
        self._next_offset = result.tx_offset  # type: ignore[assignment]  # the offset was never used
        result.status = _INTERNAL_ERROR
        result.error = error
        result.delta = None
        result.tx_offset = None
        self._host_log("error", f"{result.reducer or 'transaction'}: {result.error}", result.reducer, result.timestamp)

    def _fire(self, job: Job, now: Timestamp) -> list[ReducerCallResult]:
        rname = self._schedule_reducer[job.table_id]
        r = self._reducers.get(rname or "")
        ts = Timestamp(max(job.due_micros, now.micros))
        if r is None and rname in self.runner.procedures:
            # A scheduled procedure: started with the row as its argument (BSATN), by the launcher
            # (the hosted database runs it on its procedure pool); it commits only in its with_tx.
            self.procedure_launcher(rname, self._schedule_row_codecs[job.table_id].encode(job.row), ts)
            if job.interval_micros is None:
                self.scheduler.forget(job)
                return self._delete_fired_row(job, ts)
            self.scheduler.reschedule(job, now)
            return []
        if r is None:  # validated at build; kept defensive for republished modules
            self.scheduler.forget(job)
            return []
        values = (self._converters[job.table_id].from_row(job.row),) if r.takes_args else ()
        raw_args = self._schedule_row_codecs[job.table_id].encode(job.row)
        res = self._run(r.fn, values, raw_args, r.name, self.identity, None, ts)
        out = [res]
        if job.interval_micros is None:
            self.scheduler.forget(job)
            out.extend(self._delete_fired_row(job, ts))
        else:
            self.scheduler.reschedule(job, now)
        return out

    def _run_scheduled_procedure(self, name: str, args: bytes, ts: Timestamp) -> None:
        result = self.call_procedure(name, args, caller=self.identity, timestamp=ts)
        if not result.ok:
            self._host_log("error", f"scheduled procedure {name!r} failed: {result.error}", name, ts)

    def _delete_fired_row(self, job: Job, ts: Timestamp) -> list[ReducerCallResult]:
        """One-time rows are deleted after they fire, success or failure, in their own transaction."""
        tx = self.db.begin()
        start = perf_counter_ns()
        if not tx.delete(job.table_id, job.row):
            tx.rollback()
            return []
        delta = tx.commit()
        offset = self._next_offset
        self._next_offset += 1
        result = ReducerCallResult(
            reducer=self._schedule_reducer[job.table_id] or "",
            status=_COMMITTED,
            error=None,
            delta=delta,
            timestamp=ts,
            tx_offset=offset,
            caller=self.identity,
            connection_id=None,
            args=None,
            duration_micros=(perf_counter_ns() - start) // 1000,
            internal=True,
        )
        # Not checked: undoing the deletion would fire the one-time row again and again.
        self._after_commit(result, delta, ts, check=False)
        return [result]

    def _load_existing_schedules(self) -> None:
        """After recovery the schedule tables may hold jobs: queue them (interval ones from now)."""
        now = self.clock()
        for tid in self.scheduler.table_ids:
            for row in self.db.scan(tid):
                self.scheduler.add_row(tid, row, now)

    # ---- logs ------------------------------------------------------------------------------------

    def _log_from_module(self, level: str, message: str, reducer: str | None, ts: Timestamp | None) -> None:
        self.log.append(LogRecord(level, ts if ts is not None else self.clock(), message, reducer))

    def _host_log(self, level: str, message: str, reducer: str | None, ts: Timestamp) -> None:
        self.log.append(LogRecord(level, ts, message, reducer))
