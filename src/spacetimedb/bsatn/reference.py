"""The reference BSATN codec: walks the type nodes per value, checking everything.

It is slow and exact. The compiled codec (`compiler.py`) runs unchecked fast paths and calls
this one only to explain a failure, so every error message comes from here: what is wrong,
where (`Player.inventory[3]`, byte offset), and how to fix it.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from spacetimedb.bsatn.compiler import MAX_ZERO_SIZE_ELEMENTS, min_size
from spacetimedb.sats.algebraic_type import INT_KINDS, Primitive, int_range
from spacetimedb.sats.errors import ConversionError
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
from spacetimedb.sats.values import Some, SumValue

_FLOAT_FMT = {Primitive.F32: "<f", Primitive.F64: "<d"}
_U32 = struct.Struct("<I")
_U32_MAX = 0xFFFFFFFF


def _tname(v: Any) -> str:
    return type(v).__name__


def type_name(node: Node) -> str:
    """A short human name of a node's type for messages."""
    if isinstance(node, PrimNode):
        return {Primitive.String: "str", Primitive.Bool: "bool"}.get(node.kind, node.kind.name.lower())
    if isinstance(node, BytesNode):
        return "bytes"
    if isinstance(node, ArrayNode):
        return f"list[{type_name(node.elem)}]"
    if isinstance(node, OptionNode):
        return f"{type_name(node.inner)} | None"
    if isinstance(node, ProductNode | SumNode):
        if node.name:
            return node.name
        return "tuple" if isinstance(node, ProductNode) else "SumValue"
    if isinstance(node, RefNode):
        return node.name or type_name(node.resolved())
    return type(node).__name__


# ---- encoding ----------------------------------------------------------------------------------


def encode(node: Node, value: Any, path: str, buf: bytearray) -> None:
    if isinstance(node, RefNode):
        encode(node.resolved(), value, path, buf)
    elif isinstance(node, PrimNode):
        _encode_prim(node.kind, value, path, buf)
    elif isinstance(node, BytesNode):
        if not isinstance(value, bytes | bytearray | memoryview):
            raise ConversionError(f"expected bytes, got {_tname(value)}; pass bytes(...)", path=path)
        _encode_len(len(value), path, buf)
        buf += value
    elif isinstance(node, ArrayNode):
        if not isinstance(value, list | tuple):
            raise ConversionError(
                f"expected a list of {type_name(node.elem)}, got {_tname(value)}; pass a list", path=path
            )
        _encode_len(len(value), path, buf)
        for i, item in enumerate(value):
            encode(node.elem, item, f"{path}[{i}]", buf)
    elif isinstance(node, OptionNode):
        if value is None:
            buf.append(1)
        else:
            buf.append(0)
            encode(node.inner, value.value if type(value) is Some else value, path, buf)
    elif isinstance(node, ProductNode):
        _encode_product(node, value, path, buf)
    elif isinstance(node, SumNode):
        _encode_sum(node, value, path, buf)
    else:
        raise TypeError(f"unknown node {node!r}")


def _encode_len(n: int, path: str, buf: bytearray) -> None:
    if n > _U32_MAX:
        raise ConversionError(f"length {n} exceeds the u32 maximum of BSATN", path=path)
    buf += _U32.pack(n)


def _encode_prim(kind: Primitive, v: Any, path: str, buf: bytearray) -> None:
    if kind is Primitive.String:
        if type(v) is not str:
            raise ConversionError(f"expected str, got {_tname(v)}; convert it with str()", path=path)
        try:
            data = v.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ConversionError(f"string is not valid Unicode ({e.reason}); remove lone surrogates", path=path) from None
        _encode_len(len(data), path, buf)
        buf += data
    elif kind is Primitive.Bool:
        if type(v) is not bool:
            raise ConversionError(f"expected bool, got {_tname(v)}; pass True or False", path=path)
        buf.append(1 if v else 0)
    elif kind in _FLOAT_FMT:
        if not isinstance(v, int | float):
            raise ConversionError(f"expected float, got {_tname(v)}; convert it with float()", path=path)
        try:
            buf += struct.pack(_FLOAT_FMT[kind], v)
        except (OverflowError, struct.error):
            raise ConversionError(f"{v} does not fit in f32 (max about 3.4e38)", path=path) from None
    else:
        if not isinstance(v, int):
            hint = "; round it first with int()" if isinstance(v, float) and math.isfinite(v) else ""
            raise ConversionError(f"expected int ({kind.name.lower()}), got {_tname(v)}{hint}", path=path)
        lo, hi = int_range(kind)
        if not lo <= v <= hi:
            raise ConversionError(
                f"{v} is out of range for {kind.name.lower()} [{lo}, {hi}]; use a wider type", path=path
            )
        bits, signed = INT_KINDS[kind]
        buf += int(v).to_bytes(bits // 8, "little", signed=signed)


def _encode_product(node: ProductNode, v: Any, path: str, buf: bytearray) -> None:
    if node.repr == CLASS:
        assert node.cls is not None
        if not isinstance(v, node.cls):
            raise ConversionError(
                f"expected {node.cls.__name__}, got {_tname(v)}; construct a {node.cls.__name__}(...)", path=path
            )
        for f in node.fields:
            assert f.attr is not None
            try:
                item = getattr(v, f.attr)
            except AttributeError:
                raise ConversionError(f"missing field {f.attr!r}; set it before encoding", path=path) from None
            encode(f.node, item, f"{path}.{f.attr}", buf)
        return
    if not isinstance(v, tuple | list):
        raise ConversionError(
            f"expected a tuple of {len(node.fields)} fields, got {_tname(v)}; rows are tuples in column order",
            path=path,
        )
    if len(v) != len(node.fields):
        raise ConversionError(
            f"expected {len(node.fields)} fields, got {len(v)}; rows are tuples in column order", path=path
        )
    for i, (f, item) in enumerate(zip(node.fields, v, strict=True)):
        encode(f.node, item, f"{path}.{f.name}" if f.name else f"{path}[{i}]", buf)


def _encode_sum(node: SumNode, v: Any, path: str, buf: bytearray) -> None:
    tag: int
    payload: Any
    if node.repr == SUM_VALUE:
        if type(v) is not SumValue:
            raise ConversionError(f"expected SumValue(tag, value), got {_tname(v)}", path=path)
        tag, payload = v.tag, v.value
    elif node.repr == UNION:
        for i, cls in enumerate(node.classes):
            if type(v) is cls:
                tag = i
                break
        else:
            names = " | ".join(c.__name__ for c in node.classes)
            raise ConversionError(f"expected one of {names}, got {_tname(v)}", path=path)
        payload = v
    elif node.repr == ENUM:
        try:
            tag = node.members.index(v)
        except ValueError:
            raise ConversionError(f"expected a member of {node.name}, got {v!r}", path=path) from None
        payload = ()
    elif node.repr == SUM_CLASS:
        assert node.cls is not None
        if type(v) is not node.cls:
            raise ConversionError(f"expected {node.name}, got {_tname(v)}; build it as {node.name}.<Variant>(...)", path=path)
        sv: Any = v
        tag, payload = sv.tag_index, sv.value
    elif node.repr == CUSTOM:
        assert node.tag_of is not None
        try:
            tag, payload = node.tag_of(v)
        except (TypeError, AttributeError) as e:
            raise ConversionError(f"expected {node.name}: {e}", path=path) from None
    else:
        raise TypeError(node.repr)
    if type(tag) is not int or not 0 <= tag < len(node.variants):
        raise ConversionError(f"sum tag {tag!r} is not one of 0..{len(node.variants) - 1}", path=path)
    variant = node.variants[tag]
    buf.append(tag)
    if not variant.is_unit or node.repr == SUM_VALUE:
        encode(variant.node, payload, f"{path}.{variant.name}" if variant.name else f"{path}({tag})", buf)


# ---- decoding ----------------------------------------------------------------------------------


class BsatnReader:
    __slots__ = ("data", "end")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.data = bytes(data)
        self.end = len(self.data)

    def take(self, off: int, n: int, path: str, what: str) -> bytes:
        if off + n > self.end:
            raise ConversionError(
                f"input ends early: {what} needs {n} byte(s), {self.end - off} left; the data is truncated",
                path=path,
                offset=off,
            )
        return self.data[off : off + n]


def decode(node: Node, r: BsatnReader, off: int, path: str) -> tuple[Any, int]:
    if isinstance(node, RefNode):
        return decode(node.resolved(), r, off, path)
    if isinstance(node, PrimNode):
        return _decode_prim(node.kind, r, off, path)
    if isinstance(node, BytesNode):
        n = _U32.unpack(r.take(off, 4, path, "a length"))[0]
        return r.take(off + 4, n, path, f"bytes of length {n}"), off + 4 + n
    if isinstance(node, ArrayNode):
        n = _U32.unpack(r.take(off, 4, path, "an array length"))[0]
        smallest = min_size(node.elem)
        if (off + 4 + n * smallest > r.end) if smallest else n > MAX_ZERO_SIZE_ELEMENTS:
            raise ConversionError(
                f"array length {n} needs at least {n * smallest} byte(s), {r.end - off - 4} left; "
                "the data is truncated or the length is wrong"
                if smallest
                else f"array of {n} zero-size elements exceeds the limit of {MAX_ZERO_SIZE_ELEMENTS}",
                path=path,
                offset=off,
            )
        off += 4
        items = []
        for i in range(n):
            item, off = decode(node.elem, r, off, f"{path}[{i}]")
            items.append(item)
        return (tuple(items) if node.as_tuple else items), off
    if isinstance(node, OptionNode):
        tag = r.take(off, 1, path, "an option tag")[0]
        if tag == 1:
            return None, off + 1
        if tag != 0:
            raise ConversionError(f"invalid option tag {tag} (0 = some, 1 = none)", path=path, offset=off)
        inner, off = decode(node.inner, r, off + 1, path)
        if inner is None or type(inner) is Some:
            inner = Some(inner)
        return inner, off
    if isinstance(node, ProductNode):
        values = []
        for i, f in enumerate(node.fields):
            item, off = decode(f.node, r, off, f"{path}.{f.name}" if f.name else f"{path}[{i}]")
            values.append(item)
        return _make_product(node, values), off
    if isinstance(node, SumNode):
        tag = r.take(off, 1, path, "a sum tag")[0]
        if tag >= len(node.variants):
            raise ConversionError(
                f"unknown sum tag {tag} for {type_name(node)} (it has {len(node.variants)} variants)",
                path=path,
                offset=off,
            )
        variant = node.variants[tag]
        payload, off = decode(variant.node, r, off + 1, f"{path}.{variant.name}" if variant.name else f"{path}({tag})")
        return _make_sum(node, tag, payload), off
    raise TypeError(f"unknown node {node!r}")


def _decode_prim(kind: Primitive, r: BsatnReader, off: int, path: str) -> tuple[Any, int]:
    if kind is Primitive.String:
        n = _U32.unpack(r.take(off, 4, path, "a string length"))[0]
        raw = r.take(off + 4, n, path, f"a string of {n} bytes")
        try:
            return raw.decode("utf-8"), off + 4 + n
        except UnicodeDecodeError as e:
            raise ConversionError(f"string is not valid UTF-8 ({e.reason})", path=path, offset=off + 4 + e.start) from None
    if kind is Primitive.Bool:
        b = r.take(off, 1, path, "a bool")[0]
        if b > 1:
            raise ConversionError(f"invalid bool byte {b:#04x} (only 0 and 1 are valid)", path=path, offset=off)
        return b == 1, off + 1
    if kind in _FLOAT_FMT:
        fmt = _FLOAT_FMT[kind]
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, r.take(off, size, path, kind.name.lower()))[0], off + size
    bits, signed = INT_KINDS[kind]
    raw = r.take(off, bits // 8, path, kind.name.lower())
    return int.from_bytes(raw, "little", signed=signed), off + bits // 8


def _make_product(node: ProductNode, values: list[Any]) -> Any:
    if node.repr == CLASS:
        cls = node.cls
        assert cls is not None
        if node.positional_init:
            return cls(*values)
        obj: Any = object.__new__(cls)
        for f, v in zip(node.fields, values, strict=True):
            object.__setattr__(obj, f.attr or "", v)
        return obj
    return tuple(values)


def _make_sum(node: SumNode, tag: int, payload: Any) -> Any:
    if node.repr == SUM_VALUE:
        return SumValue(tag, payload)
    if node.repr == UNION:
        return payload if not node.variants[tag].is_unit else node.classes[tag]()
    if node.repr == ENUM:
        return node.members[tag]
    if node.repr == SUM_CLASS:
        assert node.cls is not None
        return node.cls(node.variants[tag].name, None if node.variants[tag].is_unit else payload)
    assert node.make is not None
    return node.make(tag, payload)
