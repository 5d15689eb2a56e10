"""`ModuleRunner`: the rules of a call into module code, the same for every host.

A host owns the transaction; the runner owns everything that happens inside it:

    runner = ModuleRunner(module, identity=database_identity, log=sink)
    r = runner.reducers["transfer"]                 # a PreparedReducer
    values = r.decode_bsatn(args_bytes)             # ReducerArgumentsError: nothing has started
    tx = ...                                        # the host begins a transaction (a Datastore)
    failure = runner.run_reducer(tx, r.fn, values, r.name, sender, connection_id, timestamp, auth=auth)
    if failure is None: ...                         # the host commits
    else: ...                                       # it rolls back and reports failure.kind/message

So a host without our engine (an adapter inside SpacetimeDB's own host, whose transactions are
its own) drives a module exactly as `spacetimedb.host.ModuleHost` does over our engine. The
runner fills the one `ReducerContext` (sender, connection id, timestamp, the database identity,
a deterministic rng seed), points the table handles at the transaction, runs the function,
tells a `SenderError` (the caller's fault) from any other exception (the module's fault, logged
with its traceback), and sends `ctx.log` and stdlib `logging` to the host's log sink.

Nested calls: a reducer calling another reducer function with its `ctx` is a plain Python call
inside the same transaction; the runner does nothing for it, and an error in the inner call is
the outer call's error.

Views: `run_view(view, store, sender=..., timestamp=...)` runs a `@view` over any
`DatastoreReads` (a transaction, or committed state), wrapped read-only, and returns its rows as tuples
in column order (`[]` or `[row]` for a `T | None` view); a failing view raises `ViewError` carrying
the `CallFailure` (a write attempt is an internal error naming the view).

Procedures: `run_procedure` runs a `@procedure` outside any transaction: the host passes how to
run one (`ctx.with_tx`) and the HTTP client; the runner encodes its return value.
"""

from __future__ import annotations

import enum
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from spacetimedb.bsatn.codec import compile_node
from spacetimedb.module.args import ArgDecoder, ArgsFormat, ReducerArgs
from spacetimedb.module.auth import AuthCtx
from spacetimedb.module.call_errors import ReducerArgumentsError
from spacetimedb.module.context import ModuleLog, ReducerContext
from spacetimedb.module.datastore import Datastore, DatastoreReads, Row
from spacetimedb.module.db_view import DbView
from spacetimedb.module.errors import SenderError
from spacetimedb.module.handles import _NO_TX, TableHandle, TxSlot
from spacetimedb.module.http_client import HttpClient, HttpPolicy, HttpTransport
from spacetimedb.module.http_handler import HandlerContext, Request, Response, Transactions
from spacetimedb.module.log_bridge import install_logging_bridge
from spacetimedb.module.log_bridge import running as _bridge
from spacetimedb.module.module_def import ModuleDef, ProcedureDef, ReducerDef, ViewDef
from spacetimedb.module.procedure_context import ProcedureContext, TxRunner
from spacetimedb.module.raw_def import LifecycleName
from spacetimedb.module.value_conv import value_converters
from spacetimedb.module.view_context import AnonymousViewContext, ReadOnlyDatastore, ViewContext
from spacetimedb.sats.algebraic_type import UNIT
from spacetimedb.sats.errors import ConversionError, SpacetimeError
from spacetimedb.sats.special import ConnectionId, Identity, ScheduleAt, TimeDuration, Timestamp

#: Receives module code's log messages: (level, message, the running call's name, its timestamp).
#: Name and timestamp are None for a message outside any call (module code that kept its `ctx`
#: past the call); the host stamps those with its clock.
CallLogSink = Callable[[str, str, str | None, Timestamp | None], None]


class FailureKind(enum.Enum):
    #: The module raised `SenderError`: the caller's fault (`Err` with the message on the wire).
    SENDER_ERROR = "sender_error"
    #: Any other exception, or a guard interrupting the call: the module's fault.
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class CallFailure:
    """Module code failed: the host rolls the transaction back and reports `message`."""

    kind: FailureKind
    message: str


class ViewError(SpacetimeError):
    """A view failed (raised, wrote, or returned something not its declared rows); `failure`
    says how, as for a reducer (`SENDER_ERROR` for `SenderError`, else `INTERNAL_ERROR`)."""

    def __init__(self, failure: CallFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


_INTERNAL_AUTH = AuthCtx.INTERNAL
_EPOCH = Timestamp(0)
_NO_JWT = AuthCtx.NO_JWT
_SENDER_ERROR = FailureKind.SENDER_ERROR
_INTERNAL_ERROR = FailureKind.INTERNAL_ERROR


class CallGuard(Protocol):
    """Bounds module code (the native host's wall-time limit); the runner brackets each call.

    `enter` runs just before module code, `leave` just after (inside the same `try` that turns
    the guard's `interrupt` into a failed call, so an interrupt still pending lands there).
    """

    #: The exception the guard raises inside module code to stop it.
    interrupt: type[BaseException]

    def enter(self) -> None: ...

    def leave(self) -> bool:
        """Module code ended (or raised); True if the guard interrupted it during this call."""
        ...

    def interrupted_message(self, name: str) -> str:
        """What the caller is told about a call the guard interrupted."""
        ...


_R = TypeVar("_R")


def _under_guard(guard: CallGuard | None, call: Callable[[], _R]) -> _R:
    """`call()` bracketed by the guard: a call it interrupted raises the guard's `interrupt`.
    Call it inside the `try` that turns that interrupt into a failed call (an interrupt still
    pending when `leave` runs lands there)."""
    if guard is None:
        return call()
    try:
        guard.enter()
        result = call()
    finally:
        fired = guard.leave()
    if fired:
        raise guard.interrupt
    return result


class _DecodesArgs:
    """What reducers and procedures share: their three argument decoders, and `decode` by format."""

    __slots__ = ()
    decode_bsatn: Callable[[Any], tuple[Any, ...]]
    decode_python: Callable[[Any], tuple[Any, ...]]
    decode_json: Callable[[Any], tuple[Any, ...]]

    def decode(self, args: ReducerArgs, args_format: ArgsFormat = "bsatn") -> tuple[Any, ...]:
        """The arguments in `args_format` as the function takes them (ReducerArgumentsError when
        they do not fit)."""
        if args_format == "bsatn":
            return self.decode_bsatn(args)
        if args_format == "python":
            return self.decode_python(args)
        if args_format == "json":
            return self.decode_json(args)
        raise ReducerArgumentsError(f"args_format must be 'bsatn', 'json' or 'python', not {args_format!r}")


class PreparedReducer(_DecodesArgs):
    """A reducer ready to run: its function, its argument decoders, and its kind.

    `decode_bsatn(data)`, `decode_python(values)` and `decode_json(value)` return the arguments as
    the function takes them, or raise ReducerArgumentsError when they do not fit. (Three
    attributes, not one method taking the format: the host picks one per call without an extra
    Python frame on the per-call path.)
    """

    __slots__ = (
        "bsatn_fast", "decode_bsatn", "decode_json", "decode_python", "decoder", "fn", "lifecycle", "name", "scheduled",
        "takes_args",
    )  # fmt: skip

    def __init__(self, module: ModuleDef, rd: ReducerDef) -> None:
        self.name = rd.name
        self.fn = rd.fn
        self.lifecycle = rd.lifecycle
        #: False for `@scheduled` reducers: their schedule row is not passed to the function.
        self.takes_args = rd.takes_args
        #: Fired by a schedule table. Upstream makes such reducers private to the database owner;
        #: enforcing that is the host's part (it knows who the owner is).
        self.scheduled = rd.schedule_table is not None
        self.decoder = d = ArgDecoder(module, rd)
        self.decode_bsatn: Callable[[Any], tuple[Any, ...]] = d.bsatn if rd.takes_args else _checked_only(d.bsatn)
        self.decode_python: Callable[[Any], tuple[Any, ...]] = d.python if rd.takes_args else _checked_only(d.python)
        self.decode_json: Callable[[Any], tuple[Any, ...]] = d.json if rd.takes_args else _checked_only(d.json)
        #: The compiled BSATN decoder itself (None for a reducer not passed its arguments): a host
        #: may call it first and, on `ConversionError`, call `decode_bsatn` for the explained
        #: `ReducerArgumentsError` (one Python frame less per call than `decode_bsatn`).
        self.bsatn_fast: Callable[[Any], tuple[Any, ...]] | None = d.bsatn_codec if rd.takes_args else None


class PreparedProcedure(_DecodesArgs):
    """A procedure ready to run: its function, argument decoders and return value encoders."""

    __slots__ = (
        "_codec",
        "_to_bare",
        "_unit",
        "decode_bsatn",
        "decode_json",
        "decode_python",
        "decoder",
        "fn",
        "name",
        "return_node",
        "return_type",
        "scheduled",
    )

    def __init__(self, module: ModuleDef, pd: ProcedureDef) -> None:
        self.name = pd.name
        self.fn = pd.fn
        #: Fired by a schedule table: private to the database owner, as a scheduled reducer.
        self.scheduled = pd.schedule_table is not None
        self.decoder = d = ArgDecoder(module, pd)
        self.decode_bsatn: Callable[[Any], tuple[Any, ...]] = d.bsatn
        self.decode_python: Callable[[Any], tuple[Any, ...]] = d.python
        self.decode_json: Callable[[Any], tuple[Any, ...]] = d.json
        self.return_type = pd.return_type
        self.return_node = module.node_of(pd.return_annotation)
        self._codec = compile_node(self.return_node)
        self._to_bare = value_converters(self.return_node)[0]
        #: `-> None` is the unit type: the function's None is its one value.
        self._unit = pd.return_type == UNIT


    def bare(self, value: Any) -> Any:
        """The return value checked against the return type, as the codecs take it (ConversionError)."""
        if value is None and self._unit:
            value = ()
        return self._to_bare(value, "return value")

    def encode(self, value: Any) -> bytes:
        """BSATN of the return value (ConversionError when it does not fit the return type)."""
        return self._codec.encode(self.bare(value))


@dataclass(frozen=True, slots=True)
class ProcedureReturn:
    """What a procedure returned: `value` as written, `bsatn` its encoding; or `failure`."""

    value: Any = None
    bsatn: bytes = b""
    failure: CallFailure | None = None


def _checked_only(decode: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], tuple[Any, ...]]:
    """For a reducer that is not passed its arguments: still check them, then pass none."""

    def check(args: Any) -> tuple[Any, ...]:
        decode(args)
        return ()

    return check


class ModuleRunner:
    """Runs calls into one loaded module, one at a time, for one database.

    `identity` is the database's own identity (`ctx.identity`); `log` receives what module code
    logs and the tracebacks of its internal errors; `guard` (optional) bounds each call.
    """

    def __init__(
        self, module: ModuleDef, *, identity: Identity, log: CallLogSink, guard: CallGuard | None = None
    ) -> None:
        self.module = module
        self.identity = identity
        self._log = log
        self._guard = guard
        self._slot = TxSlot()
        self.db_view = DbView([TableHandle(t.schema, t.converter, self._slot) for t in module.tables])
        self.reducers: dict[str, PreparedReducer] = {rd.name: PreparedReducer(module, rd) for rd in module.reducers.values()}
        self.procedures: dict[str, PreparedProcedure] = {
            pd.name: PreparedProcedure(module, pd) for pd in module.procedures.values()
        }
        init = self.lifecycle("init")
        #: The name init results carry ("" when the module declares no init reducer).
        self.init_name = init.name if init is not None else ""
        self._init_fn = init.fn if init is not None else None
        self._running: str | None = None
        self._running_ts: Timestamp = Timestamp(0)
        # Bound once: the logging bridge's sink is set on every call.
        self._module_sink = self._log_from_module
        # One context object, refilled per call: calls run one at a time, and building a fresh
        # object costs more than a simple reducer's body.
        self._ctx = ReducerContext(
            sender=identity,
            connection_id=None,
            timestamp=Timestamp(0),
            identity=identity,
            db=self.db_view,
            log=ModuleLog(self._module_sink),
            seed=0,
        )
        install_logging_bridge(module.python_name)

    def set_identity(self, identity: Identity) -> None:
        """Set the database identity (`ctx.identity`) after construction: a host that learns it
        only at the first call (SpacetimeDB's, through `spacetimedb build`'s bundle) builds the
        runner, and so compiles every decoder, before then."""
        self.identity = identity
        self._ctx.identity = identity

    def lifecycle(self, kind: LifecycleName) -> PreparedReducer | None:
        """The module's init/client_connected/client_disconnected reducer, if it declares one."""
        for r in self.reducers.values():
            if r.lifecycle == kind:
                return r
        return None

    @property
    def running(self) -> str | None:
        """The name of the call running now, or None."""
        return self._running

    def run_reducer(
        self,
        tx: Datastore,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        name: str,
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp,
        salt: int = 0,
        auth: AuthCtx | None = None,
    ) -> CallFailure | None:
        """Run `fn(ctx, *args)` inside the open transaction `tx`; None when it returned normally
        (the host commits), else why it failed (the host rolls back).

        `salt` tells apart calls that share a timestamp in the rng seed (our host passes the
        transaction offset the call would commit as). Nothing module code raises escapes, not
        even a BaseException (SystemExit, KeyboardInterrupt): it fails this call only.

        `auth` is `ctx.sender_auth`, shared, not copied (the host keeps one per connection);
        None means a call without a client: internal when there is no connection id (init,
        scheduled reducers), else a client without a token.
        """
        slot = self._slot
        slot.ds = tx
        ctx = self._ctx
        ctx.sender = sender
        ctx.connection_id = connection_id
        ctx.timestamp = timestamp
        ctx.sender_auth = auth if auth is not None else (_INTERNAL_AUTH if connection_id is None else _NO_JWT)
        ctx._seed = timestamp.micros ^ (salt << 20)
        ctx._rng = None
        self._running = name
        self._running_ts = timestamp
        bridge = _bridge
        bridge.sink = self._module_sink
        guard = self._guard
        try:
            # `_under_guard`, inlined: this is the per-call path of every reducer.
            if guard is None:
                fn(ctx, *args)
            else:
                try:
                    guard.enter()
                    # By arity: a plain call is inlined by CPython 3.11, a `*args` call is not.
                    n = len(args)
                    if n == 3:
                        fn(ctx, args[0], args[1], args[2])
                    elif n == 0:
                        fn(ctx)
                    elif n == 1:
                        fn(ctx, args[0])
                    elif n == 2:
                        fn(ctx, args[0], args[1])
                    else:
                        fn(ctx, *args)
                finally:
                    # Inside the outer try: an interrupt still pending lands there.
                    fired = guard.leave()
                if fired:
                    raise guard.interrupt
        except BaseException as e:
            return self._failure(e, "reducer", name, timestamp, "this call only (rolled back)", guard)
        finally:
            slot.ds = _NO_TX
            bridge.sink = None
            self._running = None
        return None

    def run_view(
        self,
        view: ViewDef,
        store: DatastoreReads,
        *,
        sender: Identity | None,
        timestamp: Timestamp = _EPOCH,
    ) -> list[Row]:
        """Run `view` over `store` (read-only to it) and return its rows as tuples in column order.

        `sender` is the caller for a `ViewContext` view (required) and ignored for an anonymous
        one; `timestamp` only tags what the view logs. Raises `ViewError` when the view fails.
        """
        if view.anonymous:
            ctx: ViewContext | AnonymousViewContext = AnonymousViewContext(self.db_view)
        else:
            if sender is None:
                raise ValueError(f"view {view.name!r} is evaluated per caller: pass sender=")
            ctx = ViewContext(sender, self.db_view)
        name = view.name
        slot = self._slot
        slot.ds = ReadOnlyDatastore(store, name)
        self._running = name
        self._running_ts = timestamp
        bridge = _bridge
        bridge.sink = self._module_sink
        guard = self._guard
        try:
            rows = _under_guard(guard, lambda: self._view_rows(view, view.func(ctx)))
        except BaseException as e:
            raise ViewError(self._failure(e, "view", name, timestamp, "this view only", guard)) from None
        finally:
            slot.ds = _NO_TX
            bridge.sink = None
            self._running = None
        return rows

    @staticmethod
    def _view_rows(view: ViewDef, result: Any) -> list[Row]:
        to_row = view.converter.to_row
        cls = view.row_type
        if not view.returns_list:
            if result is None:
                return []
            if not isinstance(result, cls):
                raise ConversionError(
                    f"view {view.name!r} must return a {cls.__name__} or None, not {type(result).__name__}"
                )
            return [to_row(result)]
        if isinstance(result, (cls, str, bytes)) or result is None or not hasattr(result, "__iter__"):
            raise ConversionError(
                f"view {view.name!r} must return a list of {cls.__name__}, not {type(result).__name__}"
            )
        return [to_row(r) for r in result]

    def run_procedure(
        self,
        p: PreparedProcedure,
        args: tuple[Any, ...],
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp,
        *,
        run_tx: TxRunner,
        http: HttpTransport,
        http_policy: HttpPolicy,
        auth: AuthCtx | None = None,
        salt: int = 0,
        log: CallLogSink | None = None,
    ) -> ProcedureReturn:
        """Run procedure `p` outside any transaction (it may call `ctx.with_tx`, which `run_tx`
        serves). May run on a thread of its own: it shares no state with `run_reducer` but the
        log sink, and `run_tx` is the host's to serialize. No guard: a procedure waits on the
        network by design; its HTTP requests carry their own timeouts. `log` replaces the runner's
        log sink for this call (a host running procedures off its own thread hands records over)."""
        name = p.name
        holder: list[ProcedureContext] = []
        client = HttpClient(http, http_policy, lambda: holder[0].in_transaction)
        sink = log if log is not None else self._log
        module_log = ModuleLog(lambda level, message: sink(level, message, name, timestamp))
        ctx = ProcedureContext(
            sender=sender,
            connection_id=connection_id,
            timestamp=timestamp,
            identity=self.identity,
            sender_auth=auth if auth is not None else (_INTERNAL_AUTH if connection_id is None else _NO_JWT),
            log=module_log,
            http=client,
            run_tx=run_tx,
            seed=timestamp.micros ^ (salt << 20),
        )
        holder.append(ctx)
        try:
            value = p.fn(ctx, *args)
            return ProcedureReturn(value, p.encode(value))
        except BaseException as e:
            return ProcedureReturn(failure=self._failure(e, "procedure", name, timestamp, "this call only", log=sink))

    def run_http_handler(
        self,
        fn: Callable[..., Any],
        request: Request,
        name: str,
        timestamp: Timestamp,
        transactions: Transactions,
        salt: int = 0,
    ) -> Response | CallFailure:
        """Run the HTTP handler `fn(ctx, request)` outside any transaction; its `ctx.with_tx`
        borrows transactions from `transactions` (the host commits each as it ends). Returns the
        handler's `Response`, or a failure (an exception, a wrong return value, the guard): the
        host answers 500 with the message; the traceback is in the log."""
        slot = self._slot

        def with_tx(body: Callable[[ReducerContext], Any]) -> Any:
            if slot.ds is not _NO_TX:
                raise RuntimeError("with_tx cannot nest: the handler already runs a transaction")
            tx = transactions.begin()
            slot.ds = tx
            tx_ctx = ReducerContext(
                sender=self.identity,
                connection_id=None,
                timestamp=timestamp,
                identity=self.identity,
                db=self.db_view,
                log=ModuleLog(self._module_sink),
                seed=timestamp.micros ^ (salt << 20) ^ 0x5A5A,
            )
            try:
                value = body(tx_ctx)
            except BaseException:
                slot.ds = _NO_TX
                transactions.rollback(tx)
                raise
            slot.ds = _NO_TX
            transactions.commit(tx)
            return value

        ctx = HandlerContext(
            identity=self.identity,
            timestamp=timestamp,
            log=ModuleLog(self._module_sink),
            seed=timestamp.micros ^ (salt << 20),
            with_tx=with_tx,
        )
        self._running = name
        self._running_ts = timestamp
        bridge = _bridge
        bridge.sink = self._module_sink
        guard = self._guard
        try:
            response = _under_guard(guard, lambda: fn(ctx, request))
            if not isinstance(response, Response):
                raise TypeError(f"an HTTP handler must return a Response, not {type(response).__name__}")
            return response
        except Exception as e:
            self._log("error", f"HTTP handler {name!r} failed:\n{traceback.format_exc()}", name, timestamp)
            return CallFailure(_INTERNAL_ERROR, f"{type(e).__name__}: {e}")
        except BaseException as e:
            if guard is not None:
                guard.leave()
            if guard is not None and isinstance(e, guard.interrupt):
                message = guard.interrupted_message(name)
            else:
                message = f"{type(e).__name__} raised by module code: it fails this request only"
            self._log("error", f"HTTP handler {name!r} failed: {message}", name, timestamp)
            return CallFailure(_INTERNAL_ERROR, message)
        finally:
            if slot.ds is not _NO_TX:  # interrupted between with_tx's body and its commit
                slot.ds = _NO_TX
            bridge.sink = None
            self._running = None

    def init_function(self, ctx: ReducerContext) -> None:
        """What init runs (pass it to `run_reducer` as init's `fn`): create the `@scheduled` job
        rows, then run the module's init reducer if it declares one, all in init's transaction."""
        for s in self.module.init_schedules:
            sugar = s.sugar
            if sugar.interval_micros is not None:
                at = ScheduleAt(TimeDuration(sugar.interval_micros))
            elif sugar.delay_micros is not None:
                at = ScheduleAt(Timestamp(ctx.timestamp.micros + sugar.delay_micros))
            else:
                assert sugar.at is not None  # @scheduled sets exactly one of the three
                at = ScheduleAt.time(sugar.at)
            handle = self.db_view.get_table(s.table)
            handle.insert(handle.row_class(scheduled_id=0, scheduled_at=at))
        if self._init_fn is not None:
            self._init_fn(ctx)

    # ---- internals -------------------------------------------------------------------------------

    def _failure(
        self,
        e: BaseException,
        kind: str,
        name: str,
        timestamp: Timestamp,
        scope: str,
        guard: CallGuard | None = None,
        log: CallLogSink | None = None,
    ) -> CallFailure:
        """Why a call into module code failed, from what it raised: a `SenderError` is the caller's
        error; anything else is internal, logged (with the traceback: call this in the `except`
        clause). `scope` ends "it fails ..." for a BaseException that is not the guard's interrupt."""
        sink = log if log is not None else self._log
        if isinstance(e, SenderError):
            return CallFailure(_SENDER_ERROR, e.message)
        if isinstance(e, Exception):
            sink("error", f"{kind} {name!r} failed:\n{traceback.format_exc()}", name, timestamp)
            return CallFailure(_INTERNAL_ERROR, f"{type(e).__name__}: {e}")
        # Module code cannot stop its host: SystemExit, KeyboardInterrupt, an interrupt by the
        # guard, any BaseException fails this call only.
        if guard is not None:
            guard.leave()
        if guard is not None and isinstance(e, guard.interrupt):
            message = guard.interrupted_message(name)
        else:
            message = (
                f"{type(e).__name__}({', '.join(map(repr, e.args))}) raised by module code: it fails {scope}; "
                "module code cannot stop the server"
            )
        sink("error", f"{kind} {name!r} failed: {message}", name, timestamp)
        return CallFailure(_INTERNAL_ERROR, message)

    def _log_from_module(self, level: str, message: str) -> None:
        if self._running is None:
            self._log(level, message, None, None)
        else:
            self._log(level, message, self._running, self._running_ts)
