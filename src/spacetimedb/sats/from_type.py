"""Nodes for a bare AlgebraicType: products are tuples, sums are `SumValue`s, Option is None/value,
Array<U8> is bytes, and the special shapes are the special classes."""

from __future__ import annotations

from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.builtin_nodes import SPECIAL_NAME_NODES
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.nodes import (
    ArrayNode,
    BytesNode,
    Field,
    Node,
    NodeVariant,
    OptionNode,
    PrimNode,
    ProductNode,
    RefNode,
    SumNode,
)


def nodes_from_type(ty: at.AlgebraicType, typespace: at.Typespace | None = None) -> Node:
    return _Lowering(typespace).lower(ty)


class _Lowering:
    def __init__(self, typespace: at.Typespace | None) -> None:
        self.typespace = typespace
        self.refs: dict[int, RefNode] = {}

    def lower(self, ty: at.AlgebraicType) -> Node:
        if isinstance(ty, at.PrimitiveType):
            return PrimNode(ty.kind)
        if isinstance(ty, at.ProductType):
            special = at.special_name(ty)
            if special is not None:
                return SPECIAL_NAME_NODES[special]
            return ProductNode(None, [Field(e.name, None, self.lower(e.algebraic_type)) for e in ty.elements])
        if isinstance(ty, at.SumType):
            if at.is_option(ty):
                return OptionNode(self.lower(ty.variants[0].algebraic_type))
            if ty == at.SCHEDULE_AT:
                return SPECIAL_NAME_NODES["ScheduleAt"]
            if len(ty.variants) > 256:
                raise SchemaError(f"a sum type has at most 256 variants, this one has {len(ty.variants)}")
            return SumNode(
                None,
                [NodeVariant(v.name, self.lower(v.algebraic_type), v.algebraic_type == at.UNIT) for v in ty.variants],
            )
        if isinstance(ty, at.ArrayType):
            if ty.elem_ty == at.U8:
                return BytesNode()
            return ArrayNode(self.lower(ty.elem_ty))
        if isinstance(ty, at.RefType):
            return self._ref(ty.idx)
        raise SchemaError(f"not an AlgebraicType: {ty!r}")

    def _ref(self, idx: int) -> RefNode:
        node = self.refs.get(idx)
        if node is not None:
            return node
        if self.typespace is None:
            raise SchemaError(f"type contains Ref({idx}) but no typespace was given; pass typespace=")
        if not 0 <= idx < len(self.typespace.types):
            raise SchemaError(f"Ref({idx}) is outside the typespace of {len(self.typespace.types)} types")
        node = RefNode(f"Ref({idx})", idx=idx)
        self.refs[idx] = node
        target = self.lower(self.typespace.types[idx])
        seen = {id(node)}
        probe = target
        while isinstance(probe, RefNode):  # Ref(0) -> Ref(1) -> Ref(0) describes no type at all
            if id(probe) in seen:
                raise SchemaError(f"typespace refs form a cycle through Ref({idx}) with no product, sum or array")
            seen.add(id(probe))
            if probe.target is None:
                break
            probe = probe.target
        node.target = target
        return node
