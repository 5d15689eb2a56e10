"""`@reducer` and the lifecycle and scheduling sugar.

    @reducer
    def add(ctx: ReducerContext, name: str, age: u32) -> None: ...

    @init                      # == @reducer(lifecycle="init")
    @client_connected          # == @reducer(lifecycle="client_connected")
    @client_disconnected       # == @reducer(lifecycle="client_disconnected")
    @scheduled(interval_ms=30_000)   # a reducer taking only ctx, fired every 30 s

The decorated function is returned unchanged, so calling another reducer function with your
`ctx` is a plain call inside the caller's transaction.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from spacetimedb.module import declarations
from spacetimedb.module.naming import check_identifier, snake_case
from spacetimedb.module.raw_def import LIFECYCLES, LifecycleName
from spacetimedb.module.types import column_type
from spacetimedb.sats.algebraic_type import AlgebraicType
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.special import Timestamp

F = TypeVar("F", bound=Callable[..., Any])

REDUCER_ATTR = "__spacetimedb_reducer__"


@dataclass(slots=True)
class ScheduleSugar:
    """What `@scheduled(...)` asked for: an interval, or one firing at a time/after a delay."""

    interval_micros: int | None = None
    at: Timestamp | _dt.datetime | None = None  # absolute
    delay_micros: int | None = None  # one-time, relative to init


@dataclass(slots=True)
class ParamDecl:
    name: str
    annotation: Any
    algebraic_type: AlgebraicType


@dataclass(slots=True)
class ReducerDecl:
    fn: Callable[..., Any]
    name: str
    lifecycle: LifecycleName | None = None
    schedule: ScheduleSugar | None = None
    #: Filled by `resolve_params` (at decoration if the annotations resolve, else at module build).
    params: list[ParamDecl] | None = None
    param_names: list[str] = field(default_factory=list)

    def resolve_params(self, extra_names: dict[str, Any] | None = None) -> list[ParamDecl]:
        """Parameter types; `extra_names` (e.g. the module's table classes) resolve forward references."""
        if self.params is None:
            self.params = _params_of(self.fn, self.name, self.param_names, strict=True, localns=extra_names) or []
        return self.params


def reducer_decl(fn: Callable[..., Any]) -> ReducerDecl:
    decl = getattr(fn, REDUCER_ATTR, None)
    if not isinstance(decl, ReducerDecl):
        raise SchemaError(f"{getattr(fn, '__name__', fn)!r} is not a @reducer function")
    return decl


@overload
def reducer(fn: F, /) -> F: ...
@overload
def reducer(*, name: str | None = None, lifecycle: LifecycleName | None = None) -> Callable[[F], F]: ...


def reducer(fn: Any = None, /, *, name: str | None = None, lifecycle: LifecycleName | None = None) -> Any:
    """Declare a reducer: `def f(ctx: ReducerContext, arg: T, ...)`. It runs in one transaction.

    Raise `SenderError("why")` to reject the call; any exception rolls back every write.
    """
    if lifecycle is not None and lifecycle not in LIFECYCLES:
        raise SchemaError(f"lifecycle must be one of {LIFECYCLES}, not {lifecycle!r}")

    def wrap(f: F) -> F:
        _declare(f, name=name, lifecycle=lifecycle, schedule=None)
        return f

    if fn is not None:
        if not callable(fn):
            raise SchemaError("@reducer decorates a function")
        return wrap(fn)
    return wrap


def init(fn: F) -> F:
    """The reducer run once when the database is created (sender = the owner)."""
    _declare(fn, name=None, lifecycle="init", schedule=None)
    return fn


def client_connected(fn: F) -> F:
    """Runs when a client connects; raising rejects the connection."""
    _declare(fn, name=None, lifecycle="client_connected", schedule=None)
    return fn


def client_disconnected(fn: F) -> F:
    """Runs when a client disconnects."""
    _declare(fn, name=None, lifecycle="client_disconnected", schedule=None)
    return fn


def scheduled(
    interval_ms: int | None = None,
    *,
    interval: _dt.timedelta | None = None,
    at: Timestamp | _dt.datetime | None = None,
    delay_ms: int | None = None,
    delay: _dt.timedelta | None = None,
    name: str | None = None,
) -> Callable[[F], F]:
    """A reducer taking only `ctx`, fired on a schedule the module creates at init.

    `interval_ms=`/`interval=` repeat; `at=` (a Timestamp or aware datetime) fires once then;
    `delay_ms=`/`delay=` fire once that long after init. A schedule table named
    `<reducer>_schedule` holds the job row; delete it to cancel.
    """
    given = [x is not None for x in (interval_ms, interval, at, delay_ms, delay)]
    if sum(given) != 1:
        raise SchemaError("@scheduled needs exactly one of interval_ms=, interval=, at=, delay_ms=, delay=")
    sugar = ScheduleSugar()
    if interval_ms is not None or interval is not None:
        micros = interval_ms * 1000 if interval_ms is not None else _td_micros(interval)  # type: ignore[arg-type]
        if micros <= 0:
            raise SchemaError("@scheduled interval must be positive")
        sugar.interval_micros = micros
    elif at is not None:
        sugar.at = at
    else:
        micros = delay_ms * 1000 if delay_ms is not None else _td_micros(delay)  # type: ignore[arg-type]
        if micros < 0:
            raise SchemaError("@scheduled delay must not be negative")
        sugar.delay_micros = micros

    def wrap(f: F) -> F:
        decl = _declare(f, name=name, lifecycle=None, schedule=sugar)
        if decl.param_names:
            raise SchemaError(
                f"@scheduled reducer {decl.name!r} must take only ctx (it has {decl.param_names}); "
                "for a reducer that receives the schedule row use @table(scheduled=...)"
            )
        return f

    return wrap


def _td_micros(td: _dt.timedelta) -> int:
    return (td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds


def _declare(
    fn: Callable[..., Any], *, name: str | None, lifecycle: LifecycleName | None, schedule: ScheduleSugar | None
) -> ReducerDecl:
    if not callable(fn) or isinstance(fn, type):
        raise SchemaError("reducer decorators apply to functions")
    if hasattr(fn, REDUCER_ATTR):
        raise SchemaError(f"{fn.__name__!r} is declared as a reducer twice; use one decorator")
    if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise SchemaError(
            f"reducer {fn.__name__!r} must be a plain function (not async, not a generator): "
            "a reducer runs to completion inside one transaction"
        )
    rname = check_identifier(name if name is not None else snake_case(fn.__name__), "reducer")
    sig = inspect.signature(fn)
    ps = list(sig.parameters.values())
    if not ps or ps[0].kind not in (ps[0].POSITIONAL_ONLY, ps[0].POSITIONAL_OR_KEYWORD):
        raise SchemaError(f"reducer {rname!r} must take a ReducerContext as its first parameter")
    rest = ps[1:]
    for p in rest:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            raise SchemaError(f"reducer {rname!r}: parameter {p.name!r} must be positional (no *args/**kwargs)")
    if lifecycle is not None and rest:
        raise SchemaError(f"lifecycle reducer {rname!r} ({lifecycle}) must take only ctx")
    decl = ReducerDecl(fn=fn, name=rname, lifecycle=lifecycle, schedule=schedule)
    decl.param_names = [p.name for p in rest]
    decl.params = _params_of(fn, rname, decl.param_names, strict=False)
    setattr(fn, REDUCER_ATTR, decl)
    declarations.record(decl)
    return decl


def _params_of(
    fn: Callable[..., Any], rname: str, names: list[str], *, strict: bool, localns: dict[str, Any] | None = None
) -> list[ParamDecl] | None:
    """Parameter types; None (when not strict) if an annotation names something not defined yet."""
    try:
        hints = typing.get_type_hints(fn, localns=localns, include_extras=True)
    except NameError as e:
        if not strict:
            return None
        raise SchemaError(f"reducer {rname!r}: cannot resolve a parameter annotation ({e})") from e
    out = []
    for n in names:
        if n not in hints:
            raise SchemaError(f"reducer {rname!r}: parameter {n!r} needs a type annotation (e.g. `{n}: u32`)")
        out.append(ParamDecl(n, hints[n], column_type(hints[n], f"{rname}({n})")))
    return out
