"""SATS-JSON: values as the HTTP API writes them (`crates/sats/src/ser/serde.rs`), and reading them back.

`to_json(value, T)` returns plain JSON data (dict/list/str/int/float/bool/None) for `json.dumps`:

* typed (default; module definitions, `/schema`): products are objects keyed by field name,
  sums are `{"<variant>": payload}` (`[tag, payload]` for an unnamed variant), unit is `[]`.
* `positional=True` (untyped `ProductValue`s: `/sql` rows, `/call` return values): products are
  arrays in element order and every sum, options included, is `[tag, payload]`.

Leaves, both modes: u8..u64 and i8..i64 are numbers; u128/i128 are numbers too (serde_json's
native 128-bit support), u256/i256 are `"0x..."` hex strings without leading zeros and with a
`-` for negatives (ethnum's serde); f32 is printed in its shortest f32 form; NaN and infinities
become `null` (serde_json); Array<U8> is lowercase hex without `0x`. The special types have no
special JSON upstream: Identity is `{"__identity__": "0x..."}` (typed) or `["0x..."]` (positional).

`from_json(data, T)` accepts all of the above and more: products as objects or arrays, sums by
name or as `[tag, payload]`, `null` for an Option's none and a bare payload for its some (when it
is not itself in sum form), ints as numbers or decimal/hex strings,
and a bare string for Identity/ConnectionId (hex), Uuid (canonical) and Timestamp (RFC 3339).
"""

from __future__ import annotations

import math
import struct
from typing import Any

from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.errors import ConversionError
from spacetimedb.sats.infer import node_of
from spacetimedb.sats.json_reader import JsonReader
from spacetimedb.sats.nodes import (
    CLASS,
    ENUM,
    SUM_CLASS,
    SUM_VALUE,
    UNION,
    ArrayNode,
    BytesNode,
    Node,
    OptionNode,
    PrimNode,
    ProductNode,
    RefNode,
    SumNode,
)
from spacetimedb.sats.values import Some, SumValue

P = at.Primitive
_F32 = struct.Struct("<f")


def to_json(value: Any, t: Any, *, positional: bool = False, typespace: at.Typespace | None = None) -> Any:
    """SATS-JSON data for `value` of type `t` (an annotation, an AlgebraicType or a type Node)."""
    return _Writer(positional).write(node_of(t, typespace), value, _root(t))


def from_json(data: Any, t: Any, *, typespace: at.Typespace | None = None) -> Any:
    """The value of type `t` described by SATS-JSON `data` (typed or positional)."""
    return JsonReader().read(node_of(t, typespace), data, _root(t))


def _root(t: Any) -> str:
    name = getattr(t, "__name__", None) or getattr(t, "name", None)
    return name if isinstance(name, str) else "value"


def f32_shortest(x: float) -> float:
    """The shortest decimal that reads back as the same f32 (what Rust prints for an f32)."""
    if not math.isfinite(x) or x == 0:
        return x
    bits = _F32.pack(x)
    for digits in range(1, 10):
        candidate = float(f"{x:.{digits}g}")
        try:
            if _F32.pack(candidate) == bits:
                return candidate
        except OverflowError:
            # Past the f32 range (e.g. 3.403e38 for f32 max): as an f32 it reads as infinity, not x.
            continue
    return x


def _hex256(v: int) -> str:
    return f"-{-v:#x}" if v < 0 else f"{v:#x}"


class _Writer:
    def __init__(self, positional: bool) -> None:
        self.positional = positional

    def write(self, node: Node, v: Any, path: str) -> Any:
        try:
            return self._write(node, v, path)
        except ConversionError:
            raise
        except (TypeError, AttributeError, ValueError, KeyError, IndexError) as e:
            raise ConversionError(f"cannot write as SATS-JSON: {e}", path=path) from None

    def _write(self, node: Node, v: Any, path: str) -> Any:
        if isinstance(node, RefNode):
            return self._write(node.resolved(), v, path)
        if isinstance(node, PrimNode):
            return self._prim(node.kind, v, path)
        if isinstance(node, BytesNode):
            if not isinstance(v, bytes | bytearray | memoryview):
                raise ConversionError(f"expected bytes, got {type(v).__name__}", path=path)
            return bytes(v).hex()
        if isinstance(node, ArrayNode):
            if not isinstance(v, list | tuple):
                raise ConversionError(f"expected a list, got {type(v).__name__}", path=path)
            return [self._write(node.elem, x, f"{path}[{i}]") for i, x in enumerate(v)]
        if isinstance(node, OptionNode):
            if v is None:
                return [1, []] if self.positional else {"none": []}
            inner = self._write(node.inner, v.value if type(v) is Some else v, path)
            return [0, inner] if self.positional else {"some": inner}
        if isinstance(node, ProductNode):
            values = self._fields(node, v, path)
            if self.positional or not node.fields:
                return [self._write(f.node, x, _fpath(path, f.name, i)) for i, (f, x) in enumerate(zip(node.fields, values, strict=True))]
            out: dict[str, Any] = {}
            for i, (f, x) in enumerate(zip(node.fields, values, strict=True)):
                out[f.name if f.name is not None else str(i)] = self._write(f.node, x, _fpath(path, f.name, i))
            return out
        if isinstance(node, SumNode):
            tag, payload = _sum_parts(node, v, path)
            variant = node.variants[tag]
            body = [] if variant.is_unit else self._write(variant.node, payload, f"{path}.{variant.name or tag}")
            if self.positional or variant.name is None:
                return [tag, body]
            return {variant.name: body}
        raise TypeError(node)

    def _fields(self, node: ProductNode, v: Any, path: str) -> list[Any]:
        if node.repr == CLASS:
            assert node.cls is not None
            if not isinstance(v, node.cls):
                raise ConversionError(f"expected {node.cls.__name__}, got {type(v).__name__}", path=path)
            return [getattr(v, f.attr or "") for f in node.fields]
        if not isinstance(v, tuple | list) or len(v) != len(node.fields):
            raise ConversionError(f"expected a tuple of {len(node.fields)} fields, got {v!r}", path=path)
        return list(v)

    def _prim(self, kind: at.Primitive, v: Any, path: str) -> Any:
        if kind is P.String:
            if type(v) is not str:
                raise ConversionError(f"expected str, got {type(v).__name__}", path=path)
            return v
        if kind is P.Bool:
            if type(v) is not bool:
                raise ConversionError(f"expected bool, got {type(v).__name__}", path=path)
            return v
        if kind in (P.F32, P.F64):
            if not isinstance(v, int | float):
                raise ConversionError(f"expected float, got {type(v).__name__}", path=path)
            f = float(v)
            if not math.isfinite(f):
                return None
            return f32_shortest(f) if kind is P.F32 else f
        if not isinstance(v, int):
            raise ConversionError(f"expected int, got {type(v).__name__}", path=path)
        lo, hi = at.int_range(kind)
        if not lo <= v <= hi:
            raise ConversionError(f"{v} is out of range for {kind.name.lower()}", path=path)
        if kind in (P.U256, P.I256):
            return _hex256(int(v))
        return int(v)


def _fpath(path: str, name: str | None, i: int) -> str:
    return f"{path}.{name}" if name else f"{path}[{i}]"


def _sum_parts(node: SumNode, v: Any, path: str) -> tuple[int, Any]:
    if node.repr == SUM_VALUE:
        if type(v) is not SumValue or not 0 <= v.tag < len(node.variants):
            raise ConversionError(f"expected SumValue(tag, value), got {v!r}", path=path)
        return v.tag, v.value
    if node.repr == UNION:
        for i, cls in enumerate(node.classes):
            if type(v) is cls:
                return i, v
        raise ConversionError(f"expected one of {[c.__name__ for c in node.classes]}, got {type(v).__name__}", path=path)
    if node.repr == ENUM:
        if v not in node.members:
            raise ConversionError(f"expected a member of {node.name}, got {v!r}", path=path)
        return node.members.index(v), ()
    if node.repr == SUM_CLASS:
        if type(v) is not node.cls:
            raise ConversionError(f"expected {node.name}, got {type(v).__name__}", path=path)
        sv: Any = v
        return int(sv.tag_index), sv.value
    assert node.tag_of is not None
    return node.tag_of(v)
