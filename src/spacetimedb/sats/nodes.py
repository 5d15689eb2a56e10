"""Type nodes: an AlgebraicType together with how its values look in Python.

Both the codec and SATS-JSON are compiled from a node graph, never from annotations directly.
A node graph is built either from a bare AlgebraicType (`nodes_from_type`: products are tuples,
sums are `SumValue`s) or from a Python annotation (`spacetimedb.sats.infer`: products are class
instances, sums are variant-class instances or enum members). `RefNode` is the only node that
may close a cycle, so recursive types are graphs through RefNodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spacetimedb.sats.algebraic_type import Primitive


class Node:
    """Base of every type node. Nodes are compared by identity."""

    __slots__ = ()


@dataclass(eq=False, slots=True)
class PrimNode(Node):
    kind: Primitive


@dataclass(eq=False, slots=True)
class BytesNode(Node):
    """Array<U8>, as Python `bytes`."""


@dataclass(eq=False, slots=True)
class ArrayNode(Node):
    elem: Node
    as_tuple: bool = False  # decode to a tuple instead of a list


@dataclass(eq=False, slots=True)
class OptionNode(Node):
    """Option<T>: None is none; see `values.Some` for nested options."""

    inner: Node


@dataclass(eq=False, slots=True)
class Field:
    name: str | None  # the element name on the wire / in the type
    attr: str | None  # the Python attribute holding it (class products)
    node: Node


#: How a product's values look in Python.
TUPLE = "tuple"  # a tuple in field order (lists accepted when encoding)
CLASS = "class"  # an instance of `cls`, fields read from attributes


@dataclass(eq=False, slots=True)
class ProductNode(Node):
    name: str | None  # a display name for error paths (class name), None for anonymous
    fields: list[Field]
    repr: str = TUPLE
    cls: type | None = None
    #: CLASS only: construct with `cls(*fields)` (True) or `cls.__new__` + setattr (False).
    positional_init: bool = True


@dataclass(eq=False, slots=True)
class NodeVariant:
    """One variant of a compiled `SumNode` (not `sats.Variant`, the annotation authors write)."""

    name: str | None
    node: Node
    is_unit: bool = False


#: How a sum's values look in Python.
SUM_VALUE = "sumvalue"  # SumValue(tag, value)
UNION = "union"  # an instance of classes[tag] (the payload itself)
ENUM = "enum"  # members[tag], an enum.Enum member; every variant is unit
SUM_CLASS = "sumclass"  # a `Sum` subclass instance: .tag (variant name) and .value
CUSTOM = "custom"  # tag_of(value) -> (tag, payload), make(tag, payload) -> value


@dataclass(eq=False, slots=True)
class SumNode(Node):
    name: str | None
    variants: list[NodeVariant]
    repr: str = SUM_VALUE
    cls: type | None = None  # SUM_CLASS
    classes: list[type] = field(default_factory=list)  # UNION
    members: list[Any] = field(default_factory=list)  # ENUM
    tag_of: Callable[[Any], tuple[int, Any]] | None = None  # CUSTOM
    make: Callable[[int, Any], Any] | None = None  # CUSTOM


@dataclass(eq=False, slots=True)
class RefNode(Node):
    """A named (or typespace-indexed) type; the target is filled in after creation so cycles work."""

    name: str | None
    target: Node | None = None
    #: Index in the typespace this came from (bare types) - informational.
    idx: int | None = None

    def resolved(self) -> Node:
        if self.target is None:
            raise RuntimeError(f"type {self.name} used before it was defined")
        return self.target


def resolve(node: Node) -> Node:
    """Follow RefNodes to the node that describes the shape."""
    seen = 0
    while isinstance(node, RefNode):
        node = node.resolved()
        seen += 1
        if seen > 10_000:
            raise RuntimeError("ref cycle")
    return node


UNIT_NODE = ProductNode(None, [])
