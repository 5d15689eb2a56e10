"""Reading SATS-JSON (see `json.py` for the forms accepted)."""

from __future__ import annotations

import math
import struct
from typing import Any

from spacetimedb.sats import algebraic_type as at
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
from spacetimedb.sats.special import ConnectionId, Identity, TimeDuration, Timestamp, Uuid
from spacetimedb.sats.text import check_text
from spacetimedb.sats.values import Some, SumValue

P = at.Primitive
_F32 = struct.Struct("<f")


def _fpath(path: str, name: str | None, i: int) -> str:
    return f"{path}.{name}" if name else f"{path}[{i}]"


_SPECIAL_FROM_STRING = {Identity: Identity.from_hex, ConnectionId: ConnectionId.from_hex, Uuid: Uuid.parse, Timestamp: Timestamp.parse}
#: Special types that also read from their bare inner integer (micros for times, the u128/u256 for ids).
_SPECIAL_FROM_INT = (Identity, ConnectionId, Uuid, Timestamp, TimeDuration)


class JsonReader:
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
        if node.repr == CLASS and node.cls in _SPECIAL_FROM_INT and type(j) is int:
            j = [j]
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
    if isinstance(j, str):  # a bare variant name for a unit variant
        if j in names:
            return names.index(j), []
        raise ConversionError(f"no unit variant {j!r}; expected one of {[n for n in names if n]}", path=path)
    raise ConversionError(f'expected a sum as {{"variant": payload}} or [tag, payload], got {_jtype(j)}', path=path)


def _jtype(j: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(j), type(j).__name__)


def _read_prim(kind: at.Primitive, j: Any, path: str) -> Any:
    if kind is P.String:
        if not isinstance(j, str):
            raise ConversionError(f"expected a string, got {_jtype(j)}", path=path)
        return check_text(j, path)
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
        name = kind.name.lower()
        try:
            x = float(j)
            if kind is P.F32:
                _F32.pack(x)  # refuses exactly the finite values that would round past f32's range
        except OverflowError:
            if isinstance(j, int):
                message = f"an integer of {len(str(abs(j)))} digits is too large for {name}"
            else:
                message = f"{j} does not fit in {name} (max about 3.4e38)"
            raise ConversionError(message, path=path) from None
        return x
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
