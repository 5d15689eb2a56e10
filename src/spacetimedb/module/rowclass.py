"""Dataclass-like methods for `@table` classes that the author did not make a `@dataclass`.

Mutable defaults (`inventory: list[str] = []`) are deep-copied for every new row, so rows never
share a list. When a field without a default follows one with a default, the fields from the
first default on become keyword-only (a positional signature would be impossible).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

_MISSING = object()
_IMMUTABLE = (int, float, str, bytes, bool, type(None), tuple, frozenset)


def install_dataclass_methods(cls: type, fields: Sequence[tuple[str, Any]]) -> None:
    """Give `cls` an `__init__`, `__eq__` and `__repr__` over `fields` [(name, default or _MISSING)]."""
    names = [n for n, _ in fields]
    params: list[str] = []
    body: list[str] = []
    env: dict[str, Any] = {"_deepcopy": copy.deepcopy}
    seen_default = False
    kw_only_started = False
    has_late_required = any(d is _MISSING for _, d in fields[_first_default(fields) :])
    for name, default in fields:
        if default is not _MISSING:
            if not seen_default and has_late_required and not kw_only_started:
                params.append("*")
                kw_only_started = True
            seen_default = True
            env[f"_d_{name}"] = default
            params.append(f"{name}=_d_{name}")
            if isinstance(default, _IMMUTABLE) and not isinstance(default, tuple):
                body.append(f"    _stdb_self.{name} = {name}")
            else:
                # Mutable (or possibly mutable) default: each row gets its own copy.
                body.append(f"    _stdb_self.{name} = _deepcopy({name}) if {name} is _d_{name} else {name}")
        else:
            params.append(name)
            body.append(f"    _stdb_self.{name} = {name}")
    src = f"def __init__(_stdb_self, {', '.join(params)}) -> None:\n" + ("\n".join(body) or "    pass")
    if not names:
        src = "def __init__(_stdb_self) -> None:\n    pass"
    exec(src, env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[misc]

    attrs = tuple(names)

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, a) == getattr(other, a) for a in attrs)

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{a}={getattr(self, a)!r}" for a in attrs)
        return f"{type(self).__name__}({inner})"

    cls.__eq__ = __eq__  # type: ignore[method-assign,assignment]
    cls.__repr__ = __repr__  # type: ignore[method-assign,assignment]
    cls.__hash__ = None  # type: ignore[assignment]  # mutable rows are unhashable, as dataclasses
    cls.__match_args__ = attrs  # type: ignore[misc,attr-defined]


def _first_default(fields: Sequence[tuple[str, Any]]) -> int:
    for i, (_, d) in enumerate(fields):
        if d is not _MISSING:
            return i
    return len(fields)


MISSING = _MISSING
