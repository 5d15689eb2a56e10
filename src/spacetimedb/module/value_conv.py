"""Converters between the author's values and bare values, one pair per type node.

`to_bare(value, path)` validates (ConversionError naming the path) and converts class instances
to the bare form the engine stores (tuples, `SumValue`s, lists, `bytes` for any Array<U8> such as
`list[u8]`); `from_bare(value)` builds fresh objects back in the annotation's container (a list of
ints for `list[u8]`, a tuple for `tuple[T, ...]`), so nothing aliases stored state. Recursive types work through
memoised RefNodes. Row-level code generation lives in `row_converters.py`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from spacetimedb.sats.algebraic_type import INT_KINDS, Primitive, int_range
from spacetimedb.sats.builtin_nodes import SPECIAL_CLASS_NODES
from spacetimedb.sats.errors import ConversionError
from spacetimedb.sats.nodes import (
    CLASS,
    ENUM,
    SUM_CLASS,
    SUM_VALUE,
    TUPLE,
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
from spacetimedb.sats.text import check_text
from spacetimedb.sats.values import Some, SumValue

Conv = Callable[[Any, str], Any]  # (value, path) -> converted value
SPECIAL_NODES = {id(n) for n in SPECIAL_CLASS_NODES.values()}
SPECIAL_BY_NODE = {id(n): cls for cls, n in SPECIAL_CLASS_NODES.items()}


def _type_name(v: Any) -> str:
    return type(v).__name__


class ValueCompiler:
    """Builds (to_bare, from_bare) converter pairs per node; memoised so recursive types work."""

    def __init__(self) -> None:
        self.to: dict[int, Conv] = {}
        self.frm: dict[int, Callable[[Any], Any]] = {}

    def to_bare(self, node: Node) -> Conv:
        key = id(node)
        if key in self.to:
            return self.to[key]
        if isinstance(node, RefNode):
            cell: list[Conv] = []
            self.to[key] = lambda v, p: cell[0](v, p)
            cell.append(self.to_bare(node.resolved()))
            return self.to[key]
        conv = self._to_bare(node)
        self.to[key] = conv
        return conv

    def from_bare(self, node: Node) -> Callable[[Any], Any]:
        key = id(node)
        if key in self.frm:
            return self.frm[key]
        if isinstance(node, RefNode):
            cell: list[Callable[[Any], Any]] = []
            self.frm[key] = lambda v: cell[0](v)
            cell.append(self.from_bare(node.resolved()))
            return self.frm[key]
        conv = self._from_bare(node)
        self.frm[key] = conv
        return conv

    def _to_bare(self, node: Node) -> Conv:
        if isinstance(node, PrimNode):
            return prim_check(node.kind)
        if isinstance(node, BytesNode):

            def to_bytes(v: Any, p: str) -> Any:
                if isinstance(v, (bytes, bytearray, memoryview)):
                    return bytes(v)
                raise ConversionError(f"expected bytes, got {_type_name(v)}", path=p)

            return to_bytes
        if id(node) in SPECIAL_NODES:
            cls = SPECIAL_BY_NODE[id(node)]

            def special(v: Any, p: str) -> Any:
                if v.__class__ is not cls:
                    raise ConversionError(f"expected {cls.__name__}, got {_type_name(v)}", path=p)
                return v

            return special
        if isinstance(node, OptionNode):
            inner = self.to_bare(node.inner)

            def opt(v: Any, p: str) -> Any:
                if v is None:
                    return None
                if isinstance(v, Some):
                    return Some(inner(v.value, p))
                return inner(v, p)

            return opt
        if isinstance(node, ArrayNode):
            elem = self.to_bare(node.elem)
            if _is_u8(node.elem):
                return _u8_array_to_bytes(elem)

            def arr(v: Any, p: str) -> Any:
                if not isinstance(v, (list, tuple)):
                    raise ConversionError(f"expected a list, got {_type_name(v)}", path=p)
                return [elem(x, f"{p}[{i}]") for i, x in enumerate(v)]

            return arr
        if isinstance(node, ProductNode):
            return self._product_to(node)
        if isinstance(node, SumNode):
            return self._sum_to(node)
        raise ConversionError(f"unsupported type node {node!r}")

    def _product_to(self, node: ProductNode) -> Conv:
        convs = [(f.attr or f.name or str(i), self.to_bare(f.node)) for i, f in enumerate(node.fields)]
        if node.repr == CLASS:
            cls = node.cls

            def obj(v: Any, p: str) -> Any:
                if not isinstance(v, cls):  # type: ignore[arg-type]
                    raise ConversionError(f"expected {node.name}, got {_type_name(v)}", path=p)
                return tuple(c(getattr(v, a), f"{p}.{a}") for a, c in convs)

            return obj

        def tup(v: Any, p: str) -> Any:
            if not isinstance(v, (tuple, list)) or len(v) != len(convs):
                raise ConversionError(f"expected a tuple of {len(convs)} values, got {v!r}", path=p)
            return tuple(c(x, f"{p}[{i}]") for i, ((_, c), x) in enumerate(zip(convs, v, strict=True)))

        return tup

    def _sum_to(self, node: SumNode) -> Conv:
        convs = [self.to_bare(v.node) for v in node.variants]
        units = [v.is_unit for v in node.variants]
        names = [v.name for v in node.variants]
        if node.repr == ENUM:
            index = {m: i for i, m in enumerate(node.members)}

            def enum_(v: Any, p: str) -> Any:
                i = index.get(v)
                if i is None:
                    raise ConversionError(f"expected a {node.name} member, got {v!r}", path=p)
                return SumValue(i, ())

            return enum_
        if node.repr == SUM_CLASS:
            cls: Any = node.cls
            tag_index = {n: i for i, n in enumerate(names)}

            def sumcls(v: Any, p: str) -> Any:
                if not isinstance(v, cls):
                    raise ConversionError(f"expected {node.name}, got {_type_name(v)}", path=p)
                i = tag_index[v.tag]
                return SumValue(i, () if units[i] else convs[i](v.value, f"{p}.{v.tag}"))

            return sumcls
        if node.repr == UNION:
            classes = node.classes

            def union(v: Any, p: str) -> Any:
                for i, c in enumerate(classes):
                    if type(v) is c:
                        return SumValue(i, convs[i](v, p))
                raise ConversionError(f"expected one of {[c.__name__ for c in classes]}, got {_type_name(v)}", path=p)

            return union
        if node.repr == SUM_VALUE:

            def sv(v: Any, p: str) -> Any:
                if not isinstance(v, SumValue) or not 0 <= v.tag < len(convs):
                    raise ConversionError(f"expected a SumValue with tag < {len(convs)}, got {v!r}", path=p)
                return SumValue(v.tag, () if units[v.tag] else convs[v.tag](v.value, f"{p}.{v.tag}"))

            return sv
        # CUSTOM sums other than the special ones keep their own values.
        return lambda v, p: v

    def _from_bare(self, node: Node) -> Callable[[Any], Any]:
        if isinstance(node, (PrimNode, BytesNode)) or id(node) in SPECIAL_NODES:
            return same_value
        if isinstance(node, OptionNode):
            inner = self.from_bare(node.inner)
            if inner is same_value:
                return same_value
            return lambda v: None if v is None else (Some(inner(v.value)) if isinstance(v, Some) else inner(v))
        if isinstance(node, ArrayNode):
            elem = self.from_bare(node.elem)
            # The annotation decides the container: tuple[T, ...] gets a tuple, list[T] a list
            # (for list[u8] the bare value is bytes, and list(bytes) is the list of ints).
            container: Callable[[Any], Any] = tuple if node.as_tuple else list
            if elem is same_value:
                return container
            return lambda v: container([elem(x) for x in v])
        if isinstance(node, ProductNode):
            fields = [(f.attr or f.name or str(i), self.from_bare(f.node)) for i, f in enumerate(node.fields)]
            if node.repr == CLASS:
                cls = node.cls
                new = object.__new__
                setattr_ = object.__setattr__

                def build(v: Any) -> Any:
                    o: Any = new(cls)  # type: ignore[arg-type]
                    for (a, f), x in zip(fields, v, strict=True):
                        setattr_(o, a, f(x))
                    return o

                return build
            if node.repr == TUPLE:
                return lambda v: tuple(f(x) for (_, f), x in zip(fields, v, strict=True))
        if isinstance(node, SumNode):
            convs = [self.from_bare(v.node) for v in node.variants]
            units = [v.is_unit for v in node.variants]
            if node.repr == ENUM:
                members = node.members
                return lambda v: members[v.tag]
            if node.repr == SUM_CLASS:
                cls = node.cls
                names = [v.name for v in node.variants]
                return lambda v: cls(names[v.tag], None if units[v.tag] else convs[v.tag](v.value))  # type: ignore[misc]
            if node.repr == UNION:
                return lambda v: convs[v.tag](v.value)
            if node.repr == SUM_VALUE:
                return lambda v: SumValue(v.tag, () if units[v.tag] else convs[v.tag](v.value))
        return same_value


def _is_u8(node: Node) -> bool:
    return isinstance(node, PrimNode) and node.kind == Primitive.U8


def _u8_array_to_bytes(elem: Conv) -> Conv:
    """`list[u8]` / `tuple[u8, ...]` -> bytes: the engine's bare form of Array<U8> is `bytes`
    (docs/types.md), whatever the author's annotation holds."""

    def u8_array(v: Any, p: str) -> Any:
        if not isinstance(v, (list, tuple)):
            raise ConversionError(f"expected a list of u8, got {_type_name(v)}", path=p)
        if all(x.__class__ is int for x in v):
            try:
                return bytes(v)
            except ValueError:
                pass  # an element out of 0..255: the element check below names it
        for i, x in enumerate(v):
            elem(x, f"{p}[{i}]")
        return bytes(v)

    return u8_array


def same_value(v: Any) -> Any:
    return v


def prim_check(kind: Primitive) -> Conv:
    """A validator for one primitive kind (ints exact-typed and range-checked, floats accept ints)."""
    if kind in INT_KINDS:
        lo, hi = int_range(kind)
        name = kind.name.lower()

        def int_(v: Any, p: str) -> Any:
            if v.__class__ is not int:
                raise ConversionError(f"expected {name} (an int), got {_type_name(v)} {v!r}", path=p)
            if not lo <= v <= hi:
                raise ConversionError(f"{v} is out of range for {name} [{lo}, {hi}]", path=p)
            return v

        return int_
    if kind == Primitive.F64:

        def float_(v: Any, p: str) -> Any:
            if v.__class__ is float:
                return v
            if v.__class__ is int:
                return float(v)
            raise ConversionError(f"expected a float, got {_type_name(v)} {v!r}", path=p)

        return float_
    if kind == Primitive.F32:
        f32 = struct.Struct("<f")

        def float32(v: Any, p: str) -> Any:
            # Rounded to single precision now, so stored values equal what BSATN would give back.
            if v.__class__ is not float and v.__class__ is not int:
                raise ConversionError(f"expected a float, got {_type_name(v)} {v!r}", path=p)
            try:
                return f32.unpack(f32.pack(v))[0]
            except (OverflowError, struct.error):
                raise ConversionError(f"{v!r} is out of range for f32", path=p) from None

        return float32
    if kind == Primitive.String:

        def str_(v: Any, p: str) -> Any:
            if v.__class__ is not str:
                raise ConversionError(f"expected str, got {_type_name(v)} {v!r}", path=p)
            return v if v.isascii() else check_text(v, p)

        return str_

    def bool_(v: Any, p: str) -> Any:
        if v is not True and v is not False:
            raise ConversionError(f"expected bool, got {_type_name(v)} {v!r}", path=p)
        return v

    return bool_


def value_converters(node: Node) -> tuple[Conv, Callable[[Any], Any]]:
    """(to_bare, from_bare) for one value of type `node` (reducer arguments, index keys)."""
    comp = ValueCompiler()
    return comp.to_bare(node), comp.from_bare(node)
