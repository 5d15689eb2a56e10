"""`conn.reducers` and `conn.procedures` without generated bindings: methods looked up by name.

`conn.reducers.send_message("hi")` (or `text="hi"`) encodes the arguments in the order the module
declares them; the call returns what the connection's `call(name, args)` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from spacetimedb.client.bindings import ProcedureInfo, ReducerInfo
from spacetimedb.sats.algebraic_type import ProductType


def _params(args_type: Any) -> list[str] | None:
    if isinstance(args_type, ProductType):
        return [e.name or f"_{i}" for i, e in enumerate(args_type.elements)]
    return None


def _bind(what: str, name: str, args_type: Any, params: list[str] | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if params is None:  # a generated args class: pass through its constructor
        return args_type(*args, **kwargs)
    if not kwargs and len(args) == len(params):
        return args
    if len(args) > len(params):
        raise TypeError(f"{what} {name} takes {len(params)} arguments ({', '.join(params)}), got {len(args)}")
    values: dict[str, Any] = dict(zip(params, args, strict=False))
    for k, v in kwargs.items():
        if k not in params:
            raise TypeError(f"{what} {name} has no parameter {k!r} (it takes {', '.join(params) or 'none'})")
        if k in values:
            raise TypeError(f"{what} {name}: {k!r} given twice")
        values[k] = v
    missing = [p for p in params if p not in values]
    if missing:
        raise TypeError(f"{what} {name}: missing {', '.join(missing)}")
    return tuple(values[p] for p in params)


class _ByName:
    """Its state is name-mangled (`_ByName__...`), so any reducer name, `_call` included, is a method."""

    def __init__(
        self, call: Callable[[str, Any], Any], infos: Mapping[str, ReducerInfo] | Mapping[str, ProcedureInfo], what: str
    ) -> None:
        self.__send = call
        self.__infos = infos
        self.__what = what

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_ByName__"):  # not set yet
            raise AttributeError(name)
        info = self.__infos.get(name)
        if info is None:
            raise AttributeError(f"no {self.__what} {name!r}; there are: {', '.join(sorted(self.__infos)) or '(none)'}")

        what, args_type, params, send = self.__what, info.args_type, _params(info.args_type), self.__send

        def call(*args: Any, **kwargs: Any) -> Any:
            return send(name, _bind(what, name, args_type, params, args, kwargs))

        call.__name__ = name
        setattr(self, name, call)  # found directly from now on
        return call

    def __dir__(self) -> list[str]:
        return sorted(self.__infos)


class GenericReducers(_ByName):
    """`conn.reducers.<name>(*args, **kwargs)`: awaitable (async) or a Future (sync) of None."""

    def __init__(self, call: Callable[[str, Any], Any], infos: Mapping[str, ReducerInfo]) -> None:
        super().__init__(call, infos, "reducer")


class GenericProcedures(_ByName):
    """`conn.procedures.<name>(*args, **kwargs)`: resolves to the procedure's decoded return value."""

    def __init__(self, call: Callable[[str, Any], Any], infos: Mapping[str, ProcedureInfo]) -> None:
        super().__init__(call, infos, "procedure")
