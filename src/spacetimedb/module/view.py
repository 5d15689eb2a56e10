"""`@view`: a read-only function whose rows clients subscribe to like a table's.

    @view(public=True)
    def my_account(ctx: ViewContext) -> Account | None:
        return ctx.db.account.identity.find(ctx.sender)

    @view(public=True)
    def top_players(ctx: AnonymousViewContext) -> list[Player]:
        return sorted(ctx.db.player.iter(), key=lambda p: -p.score)[:10]

As upstream: a view takes only its context (no parameters), must be declared `public=True`,
and returns `T | None` or `list[T]` where `T` is a table's row class or any product type (a
class with annotated fields). The context annotation decides its kind: `ViewContext` (evaluated
per caller, `ctx.sender`) or `AnonymousViewContext` (the same rows for everyone). The function
is returned unchanged.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from spacetimedb.module import declarations
from spacetimedb.module.naming import check_identifier, snake_case
from spacetimedb.module.view_context import AnonymousViewContext, ViewContext
from spacetimedb.sats.errors import SchemaError

F = TypeVar("F", bound=Callable[..., Any])

VIEW_ATTR = "__spacetimedb_view__"


@dataclass(slots=True)
class ViewDecl:
    fn: Callable[..., Any]
    name: str
    public: bool
    #: The explicitly named primary-key column (`@view(primary_key="id")`), if any.
    primary_key: str | None = None
    #: Filled by `resolve` (at module build: annotations may name classes declared later).
    anonymous: bool | None = None
    returns_list: bool | None = None
    row_type: type | None = None

    def resolve(self, extra_names: dict[str, Any] | None = None) -> tuple[bool, bool, type]:
        """(anonymous, returns_list, row class) from the function's annotations."""
        if self.row_type is None:
            self.anonymous, self.returns_list, self.row_type = _signature(self.fn, self.name, extra_names)
        assert self.anonymous is not None and self.returns_list is not None
        return self.anonymous, self.returns_list, self.row_type


@overload
def view(fn: F, /) -> F: ...
@overload
def view(*, name: str | None = None, public: bool = False, primary_key: str | None = None) -> Callable[[F], F]: ...


def view(fn: Any = None, /, *, name: str | None = None, public: bool = False, primary_key: str | None = None) -> Any:
    """Declare a view: `def f(ctx: ViewContext) -> T | None` or `-> list[T]`; `public=True` is required.

    `name=` sets the view's name (default: the function's name, snake_case). `primary_key=` names
    the returned row's primary-key column (default: the table's primary key when `T` is a table's
    row class), so clients see a changed row as an update.
    """

    def wrap(f: F) -> F:
        _declare(f, name=name, public=public, primary_key=primary_key)
        return f

    if fn is not None:
        if not callable(fn):
            raise SchemaError("@view decorates a function")
        return wrap(fn)
    return wrap


def _declare(fn: Callable[..., Any], *, name: str | None, public: bool, primary_key: str | None) -> ViewDecl:
    if not callable(fn) or isinstance(fn, type):
        raise SchemaError("@view applies to functions")
    fname = getattr(fn, "__name__", repr(fn))
    if hasattr(fn, VIEW_ATTR) or hasattr(fn, "__spacetimedb_reducer__"):
        raise SchemaError(f"{fname!r} is declared twice (as a view, or as a view and a reducer); use one decorator")
    if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise SchemaError(f"view {fname!r} must be a plain function (not async, not a generator)")
    vname = check_identifier(name if name is not None else snake_case(fname), "view")
    if public is not True:
        raise SchemaError(f"views must be public (as upstream): write @view(public=True) on {vname!r}")
    ps = list(inspect.signature(fn).parameters.values())
    if not ps or ps[0].kind not in (ps[0].POSITIONAL_ONLY, ps[0].POSITIONAL_OR_KEYWORD):
        raise SchemaError(f"view {vname!r} must take a ViewContext or AnonymousViewContext as its first parameter")
    if len(ps) > 1:
        raise SchemaError(f"view {vname!r}: views take no parameters other than ctx (as upstream)")
    decl = ViewDecl(fn=fn, name=vname, public=True, primary_key=primary_key)
    setattr(fn, VIEW_ATTR, decl)
    declarations.record(decl)
    return decl


def view_decl(fn: Callable[..., Any]) -> ViewDecl:
    decl = getattr(fn, VIEW_ATTR, None)
    if not isinstance(decl, ViewDecl):
        raise SchemaError(f"{getattr(fn, '__name__', fn)!r} is not a @view function")
    return decl


def _signature(fn: Callable[..., Any], vname: str, localns: dict[str, Any] | None) -> tuple[bool, bool, type]:
    try:
        hints = typing.get_type_hints(fn, localns=localns)
    except NameError as e:
        raise SchemaError(f"view {vname!r}: cannot resolve an annotation ({e})") from e
    first = next(iter(inspect.signature(fn).parameters))
    ctx_t = hints.get(first)
    if ctx_t is ViewContext:
        anonymous = False
    elif ctx_t is AnonymousViewContext:
        anonymous = True
    else:
        raise SchemaError(
            f"view {vname!r}: annotate its first parameter `{first}: ViewContext` (per caller) or "
            f"`{first}: AnonymousViewContext` (the same rows for everyone)"
        )
    ret = hints.get("return")
    want = f"view {vname!r} must be annotated `-> T | None` or `-> list[T]` with T a table row class or product type"
    if ret is None:
        raise SchemaError(want)
    origin = typing.get_origin(ret)
    if origin is list:
        (row,) = typing.get_args(ret) or (None,)
        returns_list = True
    elif origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ret) if a is not type(None)]
        if len(args) != 1 or len(typing.get_args(ret)) != 2:
            raise SchemaError(want)
        row, returns_list = args[0], False
    else:
        raise SchemaError(want)
    if not isinstance(row, type) or not getattr(row, "__annotations__", None):
        raise SchemaError(f"{want}; {row!r} is not a class with annotated fields")
    return anonymous, returns_list, row
