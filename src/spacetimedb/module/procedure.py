"""`@procedure`: a function that runs outside any transaction and returns a value.

    @procedure
    def fetch_price(ctx: ProcedureContext, symbol: str) -> u64:
        resp = ctx.http.get(f"https://prices.example/{symbol}")
        cents = int(resp.text())
        ctx.with_tx(lambda tx: tx.db.price.insert(Price(symbol=symbol, cents=cents)))
        return cents

As upstream's `#[procedure]`: the arguments and the return value are SATS types (the return
annotation is required; `-> None` is the unit type), it may reach the network through
`ctx.http`, and it touches tables only inside `ctx.with_tx(fn)`. Clients call it like a
reducer and get its return value back.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from spacetimedb.module import declarations
from spacetimedb.module.naming import check_identifier, snake_case
from spacetimedb.module.reducer import REDUCER_ATTR, ParamDecl, _params_of
from spacetimedb.sats.errors import SchemaError

F = TypeVar("F", bound=Callable[..., Any])

PROCEDURE_ATTR = "__spacetimedb_procedure__"


@dataclass(slots=True)
class ProcedureDecl:
    fn: Callable[..., Any]
    name: str
    param_names: list[str]
    params: list[ParamDecl] | None = None
    #: The return annotation (None: not resolvable yet, resolved at module build).
    returns: Any = None
    returns_resolved: bool = False

    def resolve(self, extra_names: dict[str, Any] | None = None) -> tuple[list[ParamDecl], Any]:
        """Parameter and return types; `extra_names` resolve forward references to tables."""
        if self.params is None:
            self.params = (
                _params_of(self.fn, self.name, self.param_names, strict=True, localns=extra_names) or []
            )
        if not self.returns_resolved:
            self.returns = _return_of(self.fn, self.name, strict=True, localns=extra_names)
            self.returns_resolved = True
        return self.params, self.returns


@overload
def procedure(fn: F, /) -> F: ...
@overload
def procedure(*, name: str | None = None) -> Callable[[F], F]: ...


def procedure(fn: Any = None, /, *, name: str | None = None) -> Any:
    """Declare a procedure: `def f(ctx: ProcedureContext, arg: T, ...) -> R`."""

    def wrap(f: F) -> F:
        _declare(f, name)
        return f

    if fn is not None:
        if not callable(fn):
            raise SchemaError("@procedure decorates a function")
        return wrap(fn)
    return wrap


def _declare(fn: Callable[..., Any], name: str | None) -> ProcedureDecl:
    if not callable(fn) or isinstance(fn, type):
        raise SchemaError("@procedure applies to functions")
    if hasattr(fn, PROCEDURE_ATTR) or hasattr(fn, REDUCER_ATTR):
        raise SchemaError(f"{fn.__name__!r} is already declared as a reducer or procedure; use one decorator")
    if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise SchemaError(f"procedure {fn.__name__!r} must be a plain function (not async, not a generator)")
    pname = check_identifier(name if name is not None else snake_case(fn.__name__), "procedure")
    ps = list(inspect.signature(fn).parameters.values())
    if not ps or ps[0].kind not in (ps[0].POSITIONAL_ONLY, ps[0].POSITIONAL_OR_KEYWORD):
        raise SchemaError(f"procedure {pname!r} must take a ProcedureContext as its first parameter")
    for p in ps[1:]:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            raise SchemaError(
                f"procedure {pname!r}: parameter {p.name!r} must be positional (no *args/**kwargs)"
            )
    if "return" not in getattr(fn, "__annotations__", {}):
        raise SchemaError(f"procedure {pname!r} needs a return annotation (e.g. `-> u64`, or `-> None`)")
    decl = ProcedureDecl(fn=fn, name=pname, param_names=[p.name for p in ps[1:]])
    decl.params = _params_of(fn, pname, decl.param_names, strict=False)
    try:
        decl.returns = _return_of(fn, pname, strict=False)
        decl.returns_resolved = True
    except NameError:
        pass
    setattr(fn, PROCEDURE_ATTR, decl)
    declarations.record(decl)
    return decl


def _return_of(
    fn: Callable[..., Any], pname: str, *, strict: bool, localns: dict[str, Any] | None = None
) -> Any:
    try:
        hints = typing.get_type_hints(fn, localns=localns, include_extras=True)
    except NameError as e:
        if not strict:
            raise
        raise SchemaError(f"procedure {pname!r}: cannot resolve an annotation ({e})") from e
    r = hints.get("return", type(None))
    return type(None) if r is None else r


def procedure_decl(fn: Callable[..., Any]) -> ProcedureDecl:
    decl = getattr(fn, PROCEDURE_ATTR, None)
    if not isinstance(decl, ProcedureDecl):
        raise SchemaError(f"{getattr(fn, '__name__', fn)!r} is not a @procedure function")
    return decl
