"""Compiled conversions between the author's row objects and the engine's row tuples.

Below the module layer a row is a tuple in column order holding *bare* values (what the BSATN
codec yields for a bare AlgebraicType): nested products are tuples, sums are `SumValue`s, arrays
lists, Array<u8> bytes, Option None-or-value, and the special types (Identity, Timestamp, ...,
ScheduleAt) their own immutable classes. Row objects hold the author's classes instead
(`Position`, a `Sum` subclass, an Enum member).

Both directions are compiled once per table. `to_row` validates (ConversionError naming the
field) and copies mutable values; `from_row` builds a fresh object, copying lists, so a row
handed to a reducer never aliases stored state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spacetimedb.module.datastore import Row
from spacetimedb.module.value_conv import (
    SPECIAL_BY_NODE,
    SPECIAL_NODES,
    Conv,
    ValueCompiler,
    prim_check,
    same_value,
)
from spacetimedb.sats.algebraic_type import INT_KINDS, Primitive, int_range
from spacetimedb.sats.errors import ConversionError
from spacetimedb.sats.nodes import Node, PrimNode, RefNode
from spacetimedb.sats.text import is_valid_text

__all__ = ["compile_row_converter", "is_exact"]


def is_exact(columns: list[tuple[str, Node]]) -> bool:
    """True when storing a row keeps every attribute value as is (ints, strings, bools, special
    types only: no float coercion, no nested conversion)."""
    for _, node in columns:
        n = node.resolved() if isinstance(node, RefNode) else node
        if id(n) in SPECIAL_NODES and SPECIAL_BY_NODE[id(n)].__name__ != "ScheduleAt":
            continue
        if isinstance(n, PrimNode) and n.kind not in (Primitive.F32, Primitive.F64):
            continue
        return False
    return True


def compile_row_converter(
    cls: type, columns: list[tuple[str, Node]]
) -> tuple[Callable[[Any], Row], Callable[[Row], Any], dict[int, Callable[[Any], Any]]]:
    """(to_row, from_row, key converters by column) for a table class with these (name, node) columns.

    The row-level functions are generated source so a table of plain columns costs one attribute
    read and one type check per column.
    """
    comp = ValueCompiler()
    env: dict[str, Any] = {"_ok": is_valid_text, "_cls": cls, "_new": object.__new__, "_err": _wrong_class, "_CE": ConversionError}
    to_lines = [
        "def to_row(o):",
        "    if o.__class__ is not _cls:",
        "        _err(_cls, o)",
    ]
    from_items: list[tuple[str, str]] = []
    key_convs: dict[int, Callable[[Any], Any]] = {}
    for i, (name, node) in enumerate(columns):
        path = f"{cls.__name__}.{name}"
        to_lines.append(f"    v{i} = o.{name}")
        resolved = node.resolved() if isinstance(node, RefNode) else node
        if isinstance(resolved, PrimNode) and resolved.kind in INT_KINDS:
            lo, hi = int_range(resolved.kind)
            env[f"_c{i}"] = prim_check(resolved.kind)
            to_lines.append(f"    if v{i}.__class__ is not int or not ({lo} <= v{i} <= {hi}): _c{i}(v{i}, {path!r})")
        elif isinstance(resolved, PrimNode) and resolved.kind == Primitive.String:
            env[f"_c{i}"] = prim_check(resolved.kind)
            # Non-ASCII strings are also checked for lone surrogates (no UTF-8 form: never loggable).
            to_lines.append(f"    if v{i}.__class__ is not str or not (v{i}.isascii() or _ok(v{i})): _c{i}(v{i}, {path!r})")
        elif isinstance(resolved, PrimNode) and resolved.kind == Primitive.Bool:
            env[f"_c{i}"] = prim_check(resolved.kind)
            to_lines.append(f"    if v{i} is not True and v{i} is not False: _c{i}(v{i}, {path!r})")
        else:
            conv = comp.to_bare(node)
            env[f"_c{i}"] = conv
            to_lines.append(f"    v{i} = _c{i}(v{i}, {path!r})")
            if not (isinstance(resolved, PrimNode) or id(resolved) in SPECIAL_NODES):
                key_convs[i] = _key_converter(conv, path)
        back = comp.from_bare(node)
        if back is same_value:
            from_items.append((name, f"r[{i}]"))
        else:
            env[f"_f{i}"] = back
            from_items.append((name, f"_f{i}(r[{i}])"))
    to_lines.append(f"    return ({''.join(f'v{i}, ' for i in range(len(columns)))})")
    # Plain attribute stores are the fastest way to fill a new instance (faster than replacing or
    # updating its __dict__), and keep CPython's shared-key instance dicts. Classes that forbid
    # assignment (frozen dataclasses, a custom __setattr__) go through object.__setattr__.
    env["_set"] = object.__setattr__
    direct = getattr(cls, "__setattr__", object.__setattr__) is object.__setattr__
    body = "".join(
        f"    o.{name} = {expr}\n" if direct else f"    _set(o, {name!r}, {expr})\n" for name, expr in from_items
    )
    from_src = "def from_row(r):\n    o = _new(_cls)\n" + body + "    return o"
    exec("\n".join(to_lines), env)
    exec(from_src, env)
    return env["to_row"], env["from_row"], key_convs


def _key_converter(conv: Conv, path: str) -> Callable[[Any], Any]:
    return lambda v: conv(v, path)


def _wrong_class(cls: type, o: Any) -> None:
    raise ConversionError(
        f"expected a {cls.__name__} row, got {type(o).__name__}; build the row with {cls.__name__}(...)"
    )


