"""Typed SATS-JSON over type nodes: module definitions out, reducer arguments in.

An adapter in the module layer until the sats layer has its own (see the report): products are
objects keyed by field name, sums `{"Variant": payload}`, unit `[]`, Option `{"some": v}` /
`{"none": []}`, byte arrays lowercase hex. Reading is lenient where SpacetimeDB's deserializer is
(products as arrays or objects, sums by name or `[tag, payload]`), and also accepts `null`/a bare
value for an Option and plain numbers or hex strings for the special types.
"""

from __future__ import annotations

import math
from typing import Any

from spacetimedb.sats.algebraic_type import INT_KINDS, Primitive, int_range
from spacetimedb.sats.builtin_nodes import SPECIAL_CLASS_NODES
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
    SumNode,
    resolve,
)
from spacetimedb.sats.special import ConnectionId, Identity, ScheduleAt, TimeDuration, Timestamp, Uuid
from spacetimedb.sats.values import Some, SumValue

_SPECIAL = {id(n): cls for cls, n in SPECIAL_CLASS_NODES.items()}


# ---- writing ----------------------------------------------------------------------------------


def to_json(value: Any, node: Node) -> Any:
    """The typed SATS-JSON of `value` (a value in the node's Python representation)."""
    node = resolve(node)
    special = _SPECIAL.get(id(node))
    if special is not None and special is not ScheduleAt:
        return {_special_field(node): _special_int(value)}
    if isinstance(node, PrimNode):
        if isinstance(value, float) and not math.isfinite(value):
            return None if math.isnan(value) else (1e999 if value > 0 else -1e999)
        return value
    if isinstance(node, BytesNode):
        return bytes(value).hex()
    if isinstance(node, ArrayNode):
        return [to_json(v, node.elem) for v in value]
    if isinstance(node, OptionNode):
        if value is None:
            return {"none": []}
        return {"some": to_json(value.value if isinstance(value, Some) else value, node.inner)}
    if isinstance(node, ProductNode):
        if node.repr == CLASS:
            items = [getattr(value, f.attr or f.name or "") for f in node.fields]
        else:
            items = list(value)
        return {
            (f.name if f.name is not None else str(i)): to_json(v, f.node)
            for i, (f, v) in enumerate(zip(node.fields, items, strict=True))
        }
    if isinstance(node, SumNode):
        tag, payload = _tag_payload(value, node)
        variant = node.variants[tag]
        body = [] if variant.is_unit else to_json(payload, variant.node)
        return {variant.name: body} if variant.name is not None else [tag, body]
    raise ConversionError(f"cannot write {value!r} as SATS-JSON")


def _tag_payload(value: Any, node: SumNode) -> tuple[int, Any]:
    if node.repr == CUSTOM and node.tag_of is not None:
        return node.tag_of(value)
    if node.repr == ENUM:
        return node.members.index(value), ()
    if node.repr == SUM_CLASS:
        return [v.name for v in node.variants].index(value.tag), value.value
    if node.repr == UNION:
        return node.classes.index(type(value)), value
    return value.tag, value.value


def _special_field(node: Node) -> str:
    assert isinstance(node, ProductNode)
    return node.fields[0].name or ""


def _special_int(value: Any) -> int:
    return value.micros if isinstance(value, (Timestamp, TimeDuration)) else int(value.value)


# ---- reading ----------------------------------------------------------------------------------


def from_json(data: Any, node: Node, path: str = "") -> Any:
    """The Python value (the node's representation) of SATS-JSON `data`; ConversionError if it does not fit."""
    node = resolve(node)
    special = _SPECIAL.get(id(node))
    if special is not None:
        return _special_from_json(data, special, path)
    if isinstance(node, PrimNode):
        return _prim(data, node.kind, path)
    if isinstance(node, BytesNode):
        if not isinstance(data, str):
            raise ConversionError("expected a hex string", path=path)
        try:
            return bytes.fromhex(data[2:] if data.startswith("0x") else data)
        except ValueError:
            raise ConversionError(f"invalid hex {data!r}", path=path) from None
    if isinstance(node, ArrayNode):
        if not isinstance(data, list):
            raise ConversionError(f"expected an array, got {data!r}", path=path)
        items = [from_json(v, node.elem, f"{path}[{i}]") for i, v in enumerate(data)]
        return tuple(items) if node.as_tuple else items
    if isinstance(node, OptionNode):
        if data is None:
            return None
        if isinstance(data, dict) and len(data) == 1 and ("some" in data or "none" in data):
            return None if "none" in data else from_json(data["some"], node.inner, path)
        return from_json(data, node.inner, path)
    if isinstance(node, ProductNode):
        return _product(data, node, path)
    if isinstance(node, SumNode):
        return _sum(data, node, path)
    raise ConversionError(f"unsupported type node {node!r}", path=path)


def _prim(data: Any, kind: Primitive, path: str) -> Any:
    if kind in INT_KINDS:
        if isinstance(data, str):
            try:
                data = int(data, 0)
            except ValueError:
                raise ConversionError(f"expected an integer, got {data!r}", path=path) from None
        if type(data) is float and data.is_integer():
            data = int(data)
        if type(data) is not int:
            raise ConversionError(f"expected an integer, got {data!r}", path=path)
        lo, hi = int_range(kind)
        if not lo <= data <= hi:
            raise ConversionError(f"{data} is out of range for {kind.name.lower()}", path=path)
        return data
    if kind in (Primitive.F32, Primitive.F64):
        if data is None:
            return math.nan
        if type(data) not in (int, float):
            raise ConversionError(f"expected a number, got {data!r}", path=path)
        return float(data)
    if kind == Primitive.String:
        if not isinstance(data, str):
            raise ConversionError(f"expected a string, got {data!r}", path=path)
        return data
    if not isinstance(data, bool):
        raise ConversionError(f"expected true or false, got {data!r}", path=path)
    return data


def _product(data: Any, node: ProductNode, path: str) -> Any:
    fields = node.fields
    if isinstance(data, dict):
        names = [f.name for f in fields]
        unknown = [k for k in data if k not in names]
        missing = [n for n in names if n not in data]
        if unknown or missing:
            raise ConversionError(f"expected fields {names}; missing {missing}, unexpected {unknown}", path=path)
        items = [data[f.name] for f in fields]
    elif isinstance(data, list):
        if len(data) != len(fields):
            raise ConversionError(f"expected {len(fields)} values, got {len(data)}", path=path)
        items = data
    else:
        raise ConversionError(f"expected an object or array, got {data!r}", path=path)
    values = [from_json(v, f.node, f"{path}.{f.name}" if f.name else f"{path}[{i}]") for i, (f, v) in enumerate(zip(fields, items, strict=True))]
    if node.repr != CLASS:
        return tuple(values)
    cls: Any = node.cls
    if node.positional_init:
        return cls(*values)
    obj = object.__new__(cls)
    for f, v in zip(fields, values, strict=True):
        object.__setattr__(obj, f.attr or f.name or "", v)
    return obj


def _sum(data: Any, node: SumNode, path: str) -> Any:
    names = [v.name for v in node.variants]
    if isinstance(data, dict) and len(data) == 1:
        ((key, payload),) = data.items()
        if key not in names:
            raise ConversionError(f"no variant {key!r}; variants are {names}", path=path)
        tag = names.index(key)
    elif isinstance(data, list) and len(data) == 2 and isinstance(data[0], int):
        tag, payload = data
        if not 0 <= tag < len(names):
            raise ConversionError(f"variant tag {tag} out of range", path=path)
    elif isinstance(data, str):
        if data not in names or not node.variants[names.index(data)].is_unit:
            raise ConversionError(f"no unit variant {data!r}; variants are {names}", path=path)
        tag, payload = names.index(data), []
    else:
        raise ConversionError(f"expected {{\"<variant>\": payload}}, got {data!r}", path=path)
    variant = node.variants[tag]
    value = None if variant.is_unit else from_json(payload, variant.node, f"{path}.{variant.name}")
    if node.repr == ENUM:
        return node.members[tag]
    if node.repr == SUM_CLASS:
        return node.cls(variant.name, value)  # type: ignore[misc]
    if node.repr == UNION:
        return value if not variant.is_unit else node.classes[tag]()
    if node.repr == CUSTOM and node.make is not None:
        return node.make(tag, () if variant.is_unit else value)
    if node.repr == SUM_VALUE:
        return SumValue(tag, () if variant.is_unit else value)
    raise ConversionError(f"unsupported sum {node.name}", path=path)


def _special_from_json(data: Any, cls: type, path: str) -> Any:
    if cls is ScheduleAt:
        if isinstance(data, dict) and len(data) == 1:
            ((key, payload),) = data.items()
            if key == "Interval":
                return ScheduleAt(_special_from_json(payload, TimeDuration, path))
            if key == "Time":
                return ScheduleAt(_special_from_json(payload, Timestamp, path))
        raise ConversionError(f"expected {{\"Interval\": micros}} or {{\"Time\": micros}}, got {data!r}", path=path)
    if isinstance(data, dict) and len(data) == 1:
        (data,) = data.values()
    if isinstance(data, list) and len(data) == 1:
        (data,) = data
    try:
        if cls is Timestamp:
            return Timestamp.parse(data) if isinstance(data, str) else Timestamp(int(data))
        if cls is TimeDuration:
            return TimeDuration(int(data))
        if cls is Uuid and isinstance(data, str) and "-" in data:
            return Uuid.parse(data)
        if isinstance(data, str):
            return cls.from_hex(data) if cls in (Identity, ConnectionId) else cls(int(data, 16))
        return cls(int(data))
    except (TypeError, ValueError) as e:
        raise ConversionError(f"invalid {cls.__name__} {data!r}: {e}", path=path) from None
