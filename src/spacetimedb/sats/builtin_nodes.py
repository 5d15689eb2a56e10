"""Nodes for the special types (section 3) and for SATS's own meta-types (section 2).

The meta-types let a module definition be declared as plain Python classes whose fields are
annotated `AlgebraicType`, `ProductType`, `Typespace`, ... and encoded with the ordinary codec.
"""

from __future__ import annotations

from typing import Any

from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.nodes import (
    CLASS,
    CUSTOM,
    ArrayNode,
    Field,
    Node,
    NodeVariant,
    OptionNode,
    PrimNode,
    ProductNode,
    RefNode,
    SumNode,
)
from spacetimedb.sats.special import ConnectionId, Identity, ScheduleAt, TimeDuration, Timestamp, Uuid


def _special(cls: type, field_name: str, kind: at.Primitive, attr: str) -> ProductNode:
    return ProductNode(
        name=cls.__name__, fields=[Field(field_name, attr, PrimNode(kind))], repr=CLASS, cls=cls, positional_init=True
    )


IDENTITY_NODE = _special(Identity, at.IDENTITY_TAG, at.Primitive.U256, "value")
CONNECTION_ID_NODE = _special(ConnectionId, at.CONNECTION_ID_TAG, at.Primitive.U128, "value")
TIMESTAMP_NODE = _special(Timestamp, at.TIMESTAMP_TAG, at.Primitive.I64, "micros")
TIME_DURATION_NODE = _special(TimeDuration, at.TIME_DURATION_TAG, at.Primitive.I64, "micros")
UUID_NODE = _special(Uuid, at.UUID_TAG, at.Primitive.U128, "value")


def _schedule_tag_of(v: Any) -> tuple[int, Any]:
    if type(v) is not ScheduleAt:
        raise TypeError(f"expected ScheduleAt, got {type(v).__name__}")
    inner = v.value
    return (0 if type(inner) is TimeDuration else 1), inner


def _schedule_make(tag: int, payload: Any) -> ScheduleAt:
    return ScheduleAt(payload)


SCHEDULE_AT_NODE = SumNode(
    "ScheduleAt",
    [NodeVariant("Interval", TIME_DURATION_NODE), NodeVariant("Time", TIMESTAMP_NODE)],
    CUSTOM,
    tag_of=_schedule_tag_of,
    make=_schedule_make,
)

#: Special class -> its node (used by annotation inference).
SPECIAL_CLASS_NODES: dict[type, Node] = {
    Identity: IDENTITY_NODE,
    ConnectionId: CONNECTION_ID_NODE,
    Timestamp: TIMESTAMP_NODE,
    TimeDuration: TIME_DURATION_NODE,
    Uuid: UUID_NODE,
    ScheduleAt: SCHEDULE_AT_NODE,
}

#: Special shape name (`algebraic_type.special_name`) -> node (used for bare types).
SPECIAL_NAME_NODES: dict[str, Node] = {cls.__name__: node for cls, node in SPECIAL_CLASS_NODES.items()}


# ---- meta-types --------------------------------------------------------------------------------

_PRIMS_BY_TAG: dict[int, at.PrimitiveType] = {int(k): at.PrimitiveType(k) for k in at.Primitive}
_UNIT = ProductNode(None, [])


def _meta_tag_of(v: Any) -> tuple[int, Any]:
    if isinstance(v, at.PrimitiveType):
        return int(v.kind), ()
    if isinstance(v, at.RefType):
        return 0, v.idx
    if isinstance(v, at.SumType):
        return 1, v
    if isinstance(v, at.ProductType):
        return 2, v
    if isinstance(v, at.ArrayType):
        return 3, v.elem_ty
    raise TypeError(f"expected an AlgebraicType, got {type(v).__name__}")


def _meta_make(tag: int, payload: Any) -> at.AlgebraicType:
    if tag == 0:
        return at.RefType(payload)
    if tag in (1, 2):
        return payload  # type: ignore[no-any-return,unused-ignore]
    if tag == 3:
        return at.ArrayType(payload)
    return _PRIMS_BY_TAG[tag]


def _build_meta() -> dict[type, RefNode]:
    alg = RefNode("AlgebraicType")
    pte = RefNode("ProductTypeElement")
    stv = RefNode("SumTypeVariant")
    prod = RefNode("ProductType")
    sum_ = RefNode("SumType")
    tspace = RefNode("Typespace")
    pte.target = ProductNode(
        "ProductTypeElement",
        [Field("name", "name", OptionNode(PrimNode(at.Primitive.String))), Field("algebraic_type", "algebraic_type", alg)],
        CLASS,
        at.ProductTypeElement,
    )
    stv.target = ProductNode(
        "SumTypeVariant",
        [Field("name", "name", OptionNode(PrimNode(at.Primitive.String))), Field("algebraic_type", "algebraic_type", alg)],
        CLASS,
        at.SumTypeVariant,
    )
    prod.target = ProductNode("ProductType", [Field("elements", "elements", ArrayNode(pte, as_tuple=True))], CLASS, at.ProductType)
    sum_.target = ProductNode("SumType", [Field("variants", "variants", ArrayNode(stv, as_tuple=True))], CLASS, at.SumType)
    tspace.target = ProductNode("Typespace", [Field("types", "types", ArrayNode(alg))], CLASS, at.Typespace)
    variants = [
        NodeVariant("Ref", PrimNode(at.Primitive.U32)),
        NodeVariant("Sum", sum_),
        NodeVariant("Product", prod),
        NodeVariant("Array", alg),
    ]
    variants += [NodeVariant(k.name, _UNIT, is_unit=True) for k in at.Primitive]
    alg.target = SumNode("AlgebraicType", variants, CUSTOM, tag_of=_meta_tag_of, make=_meta_make)
    nodes = {
        at.AlgebraicType: alg,
        at.ProductTypeElement: pte,
        at.SumTypeVariant: stv,
        at.ProductType: prod,
        at.SumType: sum_,
        at.Typespace: tspace,
    }
    # Annotating with a concrete kind (e.g. `RefType`) still means "an AlgebraicType value".
    for sub in (at.RefType, at.ArrayType, at.PrimitiveType):
        nodes[sub] = alg
    return nodes


META_CLASS_NODES: dict[type, RefNode] = _build_meta()
