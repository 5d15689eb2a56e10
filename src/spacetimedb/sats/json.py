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
from spacetimedb.sats.nodes import (
    CLASS,
    CUSTOM,
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
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp, Uuid
from spacetimedb.sats.values import Some, SumValue

P = at.Primitive
_F32 = struct.Struct("<f")


def to_json(value: Any, t: Any, *, positional: bool = False, typespace: at.Typespace | None = None) -> Any:
    """SATS-JSON data for `value` of type `t` (an annotation, an AlgebraicType or a type Node)."""
    return _Writer(positional).write(node_of(t, typespace), value, _root(t))


def from_json(data: Any, t: Any, *, typespace: at.Typespace | None = None) -> Any:
    """The value of type `t` described by SATS-JSON `data` (typed or positional)."""
    return _Reader().read(node_of(t, typespace), data, _root(t))


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
        if _F32.pack(candidate) == bits:
            return candidate
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


# ---- reading ------------------------------------------------------------------------------------

_SPECIAL_FROM_STRING = {Identity: Identity.from_hex, ConnectionId: ConnectionId.from_hex, Uuid: Uuid.parse, Timestamp: Timestamp.parse}


class _Reader:
    def read(self, node: Node, j: Any, path: str) -> Any:
        if isinstance(node, RefNode):
            return self.read(node.resolved(), j, path)
        if isinstance(node, PrimNode):
            return _read_prim(node.kind, j, path)
        if isinstance(node, BytesNode):
            if isinstance(j, str):
                s = j[2:] if j.startswith(("0x", "0X")) else j
                try:
                    return bytes.fromhex(s)
                except ValueError:
                    raise ConversionError(f"invalid hex for bytes: {j!r}", path=path) from None
            if isinstance(j, list) and all(type(b) is int and 0 <= b <= 255 for b in j):
                return bytes(j)
            raise ConversionError(f"expected a hex string for bytes, got {_jtype(j)}", path=path)
        if isinstance(node, ArrayNode):
            if not isinstance(j, list):
                raise ConversionError(f"expected a JSON array, got {_jtype(j)}", path=path)
            items = [self.read(node.elem, x, f"{path}[{i}]") for i, x in enumerate(j)]
            return tuple(items) if node.as_tuple else items
        if isinstance(node, OptionNode):
            return self._option(node, j, path)
        if isinstance(node, ProductNode):
            return self._product(node, j, path)
        if isinstance(node, SumNode):
            return self._sum(node, j, path)
        raise TypeError(node)

    def _option(self, node: OptionNode, j: Any, path: str) -> Any:
        if j is None:
            return None
        try:
            tag, payload = _sum_entry(j, ("some", "none"), path)
        except ConversionError:  # a bare payload means some(payload)
            tag, payload = 0, j
        if tag == 1:
            return None
        inner = self.read(node.inner, payload, path)
        return Some(inner) if inner is None or type(inner) is Some else inner

    def _product(self, node: ProductNode, j: Any, path: str) -> Any:
        if node.repr == CLASS and node.cls in _SPECIAL_FROM_STRING and isinstance(j, str):
            try:
                return _SPECIAL_FROM_STRING[node.cls](j)
            except ConversionError as e:
                raise ConversionError(e.message, path=path) from None
        n = len(node.fields)
        if isinstance(j, list):
            if len(j) != n:
                raise ConversionError(f"expected {n} fields, got an array of {len(j)}", path=path)
            raw = j
        elif isinstance(j, dict):
            raw = []
            for i, f in enumerate(node.fields):
                key = f.name if f.name is not None else str(i)
                if key not in j:
                    raise ConversionError(f"missing field {key!r}", path=path)
                raw.append(j[key])
            extra = set(j) - {f.name if f.name is not None else str(i) for i, f in enumerate(node.fields)}
            if extra:
                raise ConversionError(f"unknown field(s) {sorted(extra)}", path=path)
        else:
            raise ConversionError(f"expected a JSON object or array for a product, got {_jtype(j)}", path=path)
        values = [self.read(f.node, x, _fpath(path, f.name, i)) for i, (f, x) in enumerate(zip(node.fields, raw, strict=True))]
        if node.repr != CLASS:
            return tuple(values)
        cls = node.cls
        assert cls is not None
        if node.positional_init:
            return cls(*values)
        obj: Any = object.__new__(cls)
        for f, x in zip(node.fields, values, strict=True):
            object.__setattr__(obj, f.attr or "", x)
        return obj

    def _sum(self, node: SumNode, j: Any, path: str) -> Any:
        names = tuple(v.name for v in node.variants)
        tag, payload = _sum_entry(j, names, path)
        variant = node.variants[tag]
        value = () if variant.is_unit and node.repr != UNION else self.read(variant.node, payload, f"{path}.{variant.name or tag}")
        if node.repr == SUM_VALUE:
            return SumValue(tag, value)
        if node.repr == UNION:
            return value
        if node.repr == ENUM:
            return node.members[tag]
        if node.repr == SUM_CLASS:
            assert node.cls is not None
            return node.cls(variant.name, None if variant.is_unit else value)
        assert node.repr == CUSTOM and node.make is not None
        return node.make(tag, value)


def _sum_entry(j: Any, names: tuple[str | None, ...], path: str) -> tuple[int, Any]:
    if isinstance(j, dict) and len(j) == 1:
        ((key, payload),) = j.items()
        if key in names:
            return names.index(key), payload
        raise ConversionError(f"unknown variant {key!r}; expected one of {[n for n in names if n]}", path=path)
    if isinstance(j, list) and len(j) == 2 and type(j[0]) is int:
        if not 0 <= j[0] < len(names):
            raise ConversionError(f"unknown sum tag {j[0]} (it has {len(names)} variants)", path=path)
        return j[0], j[1]
    if isinstance(j, str) and j in names:  # a bare variant name for a unit variant
        return names.index(j), []
    raise ConversionError(f'expected a sum as {{"variant": payload}} or [tag, payload], got {_jtype(j)}', path=path)


def _jtype(j: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(j), type(j).__name__)


def _read_prim(kind: at.Primitive, j: Any, path: str) -> Any:
    if kind is P.String:
        if not isinstance(j, str):
            raise ConversionError(f"expected a string, got {_jtype(j)}", path=path)
        return j
    if kind is P.Bool:
        if not isinstance(j, bool):
            raise ConversionError(f"expected true or false, got {_jtype(j)}", path=path)
        return j
    if kind in (P.F32, P.F64):
        if j is None:
            return math.nan
        if isinstance(j, str) and j in ("NaN", "Infinity", "-Infinity", "inf", "-inf", "nan"):
            return float(j.replace("Infinity", "inf"))
        if isinstance(j, bool) or not isinstance(j, int | float):
            raise ConversionError(f"expected a number, got {_jtype(j)}", path=path)
        return float(j)
    v: int
    if isinstance(j, bool):
        raise ConversionError("expected an integer, got boolean", path=path)
    if isinstance(j, int):
        v = j
    elif isinstance(j, float) and j.is_integer():
        v = int(j)
    elif isinstance(j, str):
        try:
            neg = j.startswith("-")
            body = j[1:] if neg else j
            v = int(body, 16) if body[:2] in ("0x", "0X") else int(body, 10)
            v = -v if neg else v
        except ValueError:
            raise ConversionError(f"expected an integer, got the string {j!r}", path=path) from None
    else:
        raise ConversionError(f"expected an integer, got {_jtype(j)}", path=path)
    lo, hi = at.int_range(kind)
    if not lo <= v <= hi:
        raise ConversionError(f"{v} is out of range for {kind.name.lower()} [{lo}, {hi}]", path=path)
    return v
