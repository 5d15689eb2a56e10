"""`ModuleHost`: runs one loaded module over one engine `Database`.

Each reducer call is one transaction: decode the arguments, run the function with a fresh
`ReducerContext`, commit (or roll back on any exception), then tell the scheduler and the commit
listeners. The per-call path does no logging, no handle construction and no string formatting.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any, Literal

from spacetimedb.bsatn import compile as compile_codec
from spacetimedb.engine.database import Database
from spacetimedb.engine.delta import TxDelta
from spacetimedb.host.args import ArgDecoder
from spacetimedb.host.logs import DatabaseLog, LogRecord, install_logging_bridge
from spacetimedb.host.logs import _running as _running_thread
from spacetimedb.host.results import (
    LifecycleReducerCallError,
    ReducerArgumentsError,
    ReducerCallResult,
    ReducerStatus,
    UnknownReducerError,
)
from spacetimedb.host.scheduler import Job, Scheduler
from spacetimedb.host.time_limit import ReducerGuard, ReducerTimeLimit
from spacetimedb.module.context import ModuleLog, ReducerContext
from spacetimedb.module.db_view import DbView
from spacetimedb.module.errors import SenderError
from spacetimedb.module.handles import _NO_TX, TableHandle, TxSlot
from spacetimedb.module.module_def import ModuleDef, ReducerDef
from spacetimedb.sats.special import ConnectionId, Identity, ScheduleAt, TimeDuration, Timestamp

ArgsFormat = Literal["bsatn", "json", "python"]
CommitListener = Callable[[ReducerCallResult], None]

_COMMITTED = ReducerStatus.COMMITTED
_USER_ERROR = ReducerStatus.USER_ERROR
_INTERNAL_ERROR = ReducerStatus.INTERNAL_ERROR


class _Reducer:
    """A reducer ready to run: the function, its decoder, and how to call it."""

    __slots__ = ("decoder", "fn", "lifecycle", "name", "scheduled", "takes_args")

    def __init__(self, module: ModuleDef, rd: ReducerDef) -> None:
        self.name = rd.name
        self.fn = rd.fn
        self.lifecycle = rd.lifecycle
        self.takes_args = rd.takes_args
        #: Scheduled reducers are private (as upstream): only the owner may call them directly.
        self.scheduled = rd.schedule_table is not None
        self.decoder = ArgDecoder(module, rd)


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
        self._slot = TxSlot()
        self._handles = [TableHandle(t.schema, t.converter, self._slot) for t in module.tables]
        self.db_view = DbView(self._handles)
        self._converters = {t.schema.table_id: t.converter for t in module.tables}
        self._reducers = {rd.name: _Reducer(module, rd) for rd in module.reducers.values()}
        self._running: str | None = None
        self._running_ts: Timestamp = Timestamp(0)
        self._module_log = ModuleLog(self._log_from_reducer)
        self._ctx = ReducerContext(
            sender=self.identity,
            connection_id=None,
            timestamp=Timestamp(0),
            identity=self.identity,
            db=self.db_view,
            log=self._module_log,
            seed=0,
        )
        schedule_tables = [t.schema for t in module.tables if t.schema.schedule_reducer is not None]
        self.scheduler = Scheduler(schedule_tables)
        self._schedule_reducer = {t.table_id: t.schedule_reducer for t in schedule_tables}
        # A scheduled call's arguments are its row, in BSATN (as upstream passes them).
        self._schedule_row_codecs = {t.table_id: compile_codec(t.row_type, module.typespace) for t in schedule_tables}
        self._load_existing_schedules()
        install_logging_bridge(module.python_name)

    # ---- public API ----------------------------------------------------------------------------

    def call_reducer(
        self,
        name: str,
        args: Any = b"",
        *,
        caller: Identity,
        connection_id: ConnectionId | None = None,
        timestamp: Timestamp | None = None,
        args_format: ArgsFormat = "bsatn",
    ) -> ReducerCallResult:
        """Run a client-callable reducer. Raises ReducerCallError subclasses (database unchanged)
        for an unknown reducer, a lifecycle reducer, or arguments that do not fit."""
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
        if args_format == "bsatn":
            values = r.decoder.bsatn(args)
        elif args_format == "python":
            values = r.decoder.python(args)
        elif args_format == "json":
            values = r.decoder.json(args)
        else:
            raise ReducerArgumentsError(f"args_format must be 'bsatn', 'json' or 'python', not {args_format!r}")
        if not r.takes_args:
            values = ()
        return self._run(r, values, args, caller, connection_id, timestamp or self.clock(), None)

    def init(self, *, timestamp: Timestamp | None = None) -> ReducerCallResult:
        """Create the `@scheduled` job rows and run the init reducer, in one transaction."""
        ts = timestamp or self.clock()
        r = self._lifecycle("init")
        return self._run(r, (), b"", self.owner, None, ts, self._insert_init_schedules)

    def client_connected(
        self, identity: Identity, connection_id: ConnectionId | None, *, timestamp: Timestamp | None = None
    ) -> ReducerCallResult:
        """Run the client_connected reducer (if any); a failed result means: reject the client."""
        return self._run(self._lifecycle("client_connected"), (), b"", identity, connection_id, timestamp or self.clock(), None)

    def client_disconnected(
        self, identity: Identity, connection_id: ConnectionId | None, *, timestamp: Timestamp | None = None
    ) -> ReducerCallResult:
        return self._run(
            self._lifecycle("client_disconnected"), (), b"", identity, connection_id, timestamp or self.clock(), None
        )

    def run_transaction(
        self,
        fn: Callable[[ReducerContext], Any],
        *,
        caller: Identity | None = None,
        connection_id: ConnectionId | None = None,
        timestamp: Timestamp | None = None,
        label: str = "",
    ) -> ReducerCallResult:
        """Run `fn(ctx)` as an ad-hoc reducer: one transaction, committed unless it raises (then
        rolled back and reported like a reducer's error). For setup code, tools and tests."""
        return self._run(
            None, (), None, caller if caller is not None else self.owner, connection_id,
            timestamp or self.clock(), fn, label,
        )

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

    def remove_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.remove(listener)

    def set_commit_log(self, log: CommitListener | None) -> None:
        """Log every committed transaction through `log(result)`, before anything else sees it.

        If `log` raises (the record cannot be encoded, the log has failed), the transaction is
        undone in the engine and reported as a failed call: a commit is never visible unless it
        was handed to the log. `log` must raise only when it did not take the record.
        """
        self._commit_log = log

    def record_commit(
        self,
        delta: TxDelta,
        *,
        caller: Identity,
        timestamp: Timestamp,
        reducer: str = "",
        args: Any = None,
    ) -> ReducerCallResult:
        """Account for a transaction committed outside a reducer (e.g. owner SQL DML): give it the
        next tx offset, let the scheduler see schedule rows it changed, and tell the commit listeners."""
        offset = self._next_offset
        self._next_offset = offset + 1
        result = ReducerCallResult(
            reducer, _COMMITTED, None, delta, timestamp, offset, caller, None, args, 0, internal=True
        )
        self._after_commit(result, delta, timestamp)
        return result

    def client_reducers(self) -> list[str]:
        return [n for n, r in self._reducers.items() if r.lifecycle is None]

    @property
    def next_tx_offset(self) -> int:
        return self._next_offset

    # ---- running ---------------------------------------------------------------------------------

    def _run(
        self,
        r: _Reducer | None,
        values: tuple[Any, ...],
        raw_args: Any,
        caller: Identity,
        connection_id: ConnectionId | None,
        ts: Timestamp,
        before: Callable[[ReducerContext], Any] | None,
        label: str = "",
    ) -> ReducerCallResult:
        name = r.name if r is not None else label
        if r is None and before is None:
            # No lifecycle reducer declared: nothing to run, nothing to commit.
            return ReducerCallResult(name, _COMMITTED, None, TxDelta(), ts, None, caller, connection_id, raw_args, 0)
        start = perf_counter_ns()
        tx = self.db.begin()
        slot = self._slot
        slot.ds = tx
        # One context object per host, refilled per call: reducers run one at a time, and
        # building a fresh object costs more than a simple reducer's body.
        ctx = self._ctx
        ctx.sender = caller
        ctx.connection_id = connection_id
        ctx.timestamp = ts
        ctx._seed = ts.micros ^ (self._next_offset << 20)
        ctx._rng = None
        self._running = name
        self._running_ts = ts
        running = _running_thread
        running.sink = self._log_from_reducer
        error: str | None = None
        status = _COMMITTED
        guard = self._guard
        try:
            if guard is None:
                if before is not None:
                    before(ctx)
                if r is not None:
                    r.fn(ctx, *values)
            else:
                try:
                    guard.enter()
                    if before is not None:
                        before(ctx)
                    if r is not None:
                        r.fn(ctx, *values)
                finally:
                    # Inside the outer try: a time-limit exception still pending lands there.
                    fired = guard.leave()
                if fired:
                    raise ReducerTimeLimit
        except SenderError as e:
            status, error = _USER_ERROR, e.message
        except Exception as e:
            status, error = _INTERNAL_ERROR, f"{type(e).__name__}: {e}"
            self._host_log("error", f"reducer {name!r} failed:\n{traceback.format_exc()}", name, ts)
        except BaseException as e:
            # Module code cannot stop the server: SystemExit, KeyboardInterrupt, a time limit, any
            # BaseException fails this call only (rolled back below).
            if guard is not None:
                guard.leave()
            status, error = _INTERNAL_ERROR, self._base_exception_error(name, e)
            self._host_log("error", f"reducer {name!r} failed: {error}", name, ts)
        finally:
            slot.ds = _NO_TX
            running.sink = None
            self._running = None
        if status is _COMMITTED:
            delta: TxDelta | None = tx.commit()
            offset: int | None = self._next_offset
            self._next_offset = offset + 1  # type: ignore[operator]
        else:
            tx.rollback()
            delta = offset = None
        result = ReducerCallResult(
            name, status, error, delta, ts, offset, caller, connection_id, raw_args, (perf_counter_ns() - start) // 1000
        )
        if delta is not None and (self._listeners or self._schedule_reducer or self._commit_log is not None):
            self._after_commit(result, delta, ts)
        return result

    def _after_commit(self, result: ReducerCallResult, delta: TxDelta, ts: Timestamp) -> None:
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

    def _base_exception_error(self, name: str, e: BaseException) -> str:
        if isinstance(e, ReducerTimeLimit):
            limit = self._guard.limit_s if self._guard is not None else 0
            return (
                f"reducer {name!r} ran longer than the reducer time limit of {limit:g} s and was "
                f"interrupted; its changes were rolled back (server flag --reducer-time-limit)"
            )
        return (
            f"{type(e).__name__}({', '.join(map(repr, e.args))}) raised by module code: it fails this "
            f"call only (rolled back); module code cannot stop the server"
        )

    def _unlogged(self, result: ReducerCallResult, delta: TxDelta, error: Exception) -> None:
        """The log refused this commit: undo it before anyone saw it and turn it into a failure."""
        self.db.revert_delta(delta)
        self._next_offset = result.tx_offset  # type: ignore[assignment]  # the offset was never used
        result.status = _INTERNAL_ERROR
        result.error = (
            f"the transaction could not be written to the commit log and was rolled back: "
            f"{type(error).__name__}: {error}"
        )
        result.delta = None
        result.tx_offset = None
        self._host_log("error", f"{result.reducer or 'transaction'}: {result.error}", result.reducer, result.timestamp)

    def _fire(self, job: Job, now: Timestamp) -> list[ReducerCallResult]:
        rname = self._schedule_reducer[job.table_id]
        r = self._reducers.get(rname or "")
        ts = Timestamp(max(job.due_micros, now.micros))
        if r is None:  # validated at build; kept defensive for republished modules
            self.scheduler.forget(job)
            return []
        values = (self._converters[job.table_id].from_row(job.row),) if r.takes_args else ()
        raw_args = self._schedule_row_codecs[job.table_id].encode(job.row)
        res = self._run(r, values, raw_args, self.identity, None, ts, None)
        out = [res]
        if job.interval_micros is None:
            self.scheduler.forget(job)
            out.extend(self._delete_fired_row(job, ts))
        else:
            self.scheduler.reschedule(job, now)
        return out

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
        self._after_commit(result, delta, ts)
        return [result]

    def _insert_init_schedules(self, ctx: ReducerContext) -> None:
        for s in self.module.init_schedules:
            sugar = s.sugar
            if sugar.interval_micros is not None:
                at = ScheduleAt(TimeDuration(sugar.interval_micros))
            elif sugar.delay_micros is not None:
                at = ScheduleAt(Timestamp(ctx.timestamp.micros + sugar.delay_micros))
            else:
                at = ScheduleAt.time(sugar.at)
            handle = self.db_view.get_table(s.table)
            handle.insert(handle.row_class(scheduled_id=0, scheduled_at=at))

    def _lifecycle(self, kind: str) -> _Reducer | None:
        for r in self._reducers.values():
            if r.lifecycle == kind:
                return r
        return None

    def _load_existing_schedules(self) -> None:
        """After recovery the schedule tables may hold jobs: queue them (interval ones from now)."""
        now = self.clock()
        for tid in self.scheduler.table_ids:
            for row in self.db.scan(tid):
                self.scheduler.add_row(tid, row, now)

    # ---- logs ------------------------------------------------------------------------------------

    def _log_from_reducer(self, level: str, message: str) -> None:
        self.log.append(LogRecord(level, self._running_ts if self._running is not None else self.clock(), message, self._running))

    def _host_log(self, level: str, message: str, reducer: str | None, ts: Timestamp) -> None:
        self.log.append(LogRecord(level, ts, message, reducer))
