"""Annotation -> AlgebraicType: `type_of` (everything inlined) and `TypespaceBuilder` (named types as refs)."""

from __future__ import annotations

import threading
from typing import Any

from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.annotations import AnnotationLowering
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.from_type import nodes_from_type
from spacetimedb.sats.nodes import (
    ArrayNode,
    BytesNode,
    Node,
    OptionNode,
    PrimNode,
    ProductNode,
    RefNode,
    SumNode,
)


def type_of(annotation: Any) -> at.AlgebraicType:
    """The AlgebraicType of `annotation` with every named type inlined (recursive types raise SchemaError)."""
    return _to_type(node_of(annotation), None, [])


class TypespaceBuilder:
    """Collects named types (classes, enums, sums) into a Typespace for a module definition.

    `type_of(ann)` returns the type with each named class replaced by `RefType(i)`; `typespace`
    holds the definitions and `named_types` the (name, index) pairs for RawTypeDefs.
    """

    def __init__(self) -> None:
        self.typespace = at.Typespace([])
        self.named_types: list[tuple[str, int]] = []
        self._lowering = AnnotationLowering()
        self._refs: dict[int, at.RefType] = {}  # id(RefNode) -> its ref
        self._keep: list[Node] = []  # keeps ids above stable
        self._names: dict[str, int] = {}

    def type_of(self, annotation: Any) -> at.AlgebraicType:
        return _to_type(self._lowering.lower(annotation), self, [])

    def node_of(self, annotation: Any) -> Node:
        """The node graph for `annotation`, sharing class nodes with this builder."""
        return self._lowering.lower(annotation)

    def _ref_for(self, node: RefNode) -> at.RefType:
        ref = self._refs.get(id(node))
        if ref is not None:
            return ref
        name = node.name or f"Type{len(self.typespace.types)}"
        if name in self._names:
            raise SchemaError(
                f"two different types are both named {name!r}; rename one of the classes "
                "(type names must be unique within a module)"
            )
        ref = self.typespace.add(at.UNIT)  # placeholder, so recursive uses see the ref
        self._refs[id(node)] = ref
        self._keep.append(node)
        self._names[name] = ref.idx
        self.named_types.append((name, ref.idx))
        self.typespace.types[ref.idx] = _to_type(node.resolved(), self, [])
        return ref


def _to_type(node: Node, builder: TypespaceBuilder | None, stack: list[Node]) -> at.AlgebraicType:
    if isinstance(node, PrimNode):
        return at.PrimitiveType(node.kind)
    if isinstance(node, BytesNode):
        return at.BYTES
    if isinstance(node, ArrayNode):
        return at.ArrayType(_to_type(node.elem, builder, stack))
    if isinstance(node, OptionNode):
        return at.option(_to_type(node.inner, builder, stack))
    if isinstance(node, ProductNode):
        return at.product(*((f.name, _to_type(f.node, builder, stack)) for f in node.fields))
    if isinstance(node, SumNode):
        return at.sum_of(*((v.name, at.UNIT if v.is_unit else _to_type(v.node, builder, stack)) for v in node.variants))
    if isinstance(node, RefNode):
        if builder is not None and node.idx is None:
            return builder._ref_for(node)
        if any(n is node for n in stack):
            raise SchemaError(
                f"{node.name} is recursive and cannot be inlined; use TypespaceBuilder to get refs"
            )
        stack.append(node)
        try:
            return _to_type(node.resolved(), builder, stack)
        finally:
            stack.pop()
    raise TypeError(f"not a type node: {node!r}")


# ---- cached nodes for the codec -----------------------------------------------------------------

_cache_lock = threading.Lock()
_node_cache: dict[Any, Node] = {}


def node_of(t: Any, typespace: at.Typespace | None = None) -> Node:
    """The (cached) node graph of an annotation or a bare AlgebraicType (a Node is returned as is)."""
    if isinstance(t, Node):
        return t
    key: Any = (t, tuple(typespace.types)) if typespace is not None else t
    try:
        node = _node_cache.get(key)
    except TypeError:  # unhashable annotation: no caching
        return _node_uncached(t, typespace)
    if node is None:
        node = _node_uncached(t, typespace)
        with _cache_lock:
            _node_cache[key] = node
    return node


def _node_uncached(t: Any, typespace: at.Typespace | None) -> Node:
    if isinstance(t, at.AlgebraicType):
        return nodes_from_type(t, typespace)
    return AnnotationLowering().lower(t)
