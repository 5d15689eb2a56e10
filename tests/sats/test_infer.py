import enum
from dataclasses import dataclass, field
from typing import Optional

import pytest

from spacetimedb import (
    AlgebraicType,
    ConnectionId,
    Identity,
    ProductType,
    ScheduleAt,
    SchemaError,
    Sum,
    SumType,
    Timestamp,
    Typespace,
    TypespaceBuilder,
    f32,
    i8,
    type_of,
    u32,
    u256,
)
from spacetimedb.sats import algebraic_type as at


@dataclass
class Pos:
    x: f32
    y: f32


@dataclass
class Player:
    id: u32
    name: str
    pos: Pos
    inventory: list[str] = field(default_factory=list)
    owner: Identity = Identity.ZERO


class Color(enum.Enum):
    RED = 1
    GREEN = 2


@dataclass
class Circle:
    radius: float


@dataclass
class Square:
    side: float


@dataclass
class Nothing:
    pass


class Shape(Sum):
    Circle: Circle
    Side: f32
    Empty: None


@dataclass
class Tree:
    value: int
    children: list["Tree"]


class PlainBase:
    a: bool


class Plain(PlainBase):
    b: bytes
    kind: "Color"


def test_primitives_and_widths() -> None:
    assert type_of(bool) == at.BOOL
    assert type_of(int) == at.I64
    assert type_of(float) == at.F64
    assert type_of(str) == at.STRING
    assert type_of(bytes) == at.BYTES
    assert type_of(u32) == at.U32
    assert type_of(i8) == at.I8
    assert type_of(u256) == at.U256
    assert type_of(list[int]) == at.array(at.I64)
    assert type_of(tuple[str, ...]) == at.array(at.STRING)
    assert type_of(Optional[str]) == at.option(at.STRING)  # noqa: UP045 - both spellings are supported
    assert type_of(str | None) == at.option(at.STRING)
    assert type_of(tuple[int, str]) == at.product((None, at.I64), (None, at.STRING))


def test_class_products_in_declaration_order_with_bases() -> None:
    assert type_of(Player) == at.product(
        ("id", at.U32),
        ("name", at.STRING),
        ("pos", at.product(("x", at.F32), ("y", at.F32))),
        ("inventory", at.array(at.STRING)),
        ("owner", at.IDENTITY),
    )
    assert type_of(Plain) == at.product(
        ("a", at.BOOL), ("b", at.BYTES), ("kind", at.sum_of(("RED", at.UNIT), ("GREEN", at.UNIT)))
    )


def test_special_types() -> None:
    assert type_of(Identity) == at.IDENTITY
    assert type_of(ConnectionId) == at.CONNECTION_ID
    assert type_of(Timestamp) == at.TIMESTAMP
    assert type_of(ScheduleAt) == at.SCHEDULE_AT


def test_sums() -> None:
    assert type_of(Color) == at.sum_of(("RED", at.UNIT), ("GREEN", at.UNIT))
    assert type_of(Circle | Square | Nothing) == at.sum_of(
        ("Circle", at.product(("radius", at.F64))), ("Square", at.product(("side", at.F64))), ("Nothing", at.UNIT)
    )
    assert type_of(Shape) == at.sum_of(("Circle", at.product(("radius", at.F64))), ("Side", at.F32), ("Empty", at.UNIT))
    assert type_of(Circle | Square | None) == at.option(type_of(Circle | Square))


def test_meta_types() -> None:
    b = TypespaceBuilder()
    ref = b.type_of(AlgebraicType)
    alg = b.typespace.types[ref.idx]  # type: ignore[attr-defined]
    assert isinstance(alg, at.SumType)
    assert [v.name for v in alg.variants][:6] == ["Ref", "Sum", "Product", "Array", "String", "Bool"]
    assert len(alg.variants) == 20
    names = dict(b.named_types)
    assert set(names) >= {"AlgebraicType", "ProductType", "SumType"}
    assert b.type_of(ProductType) == at.RefType(names["ProductType"])
    assert b.type_of(SumType) == at.RefType(names["SumType"])
    assert isinstance(b.type_of(Typespace), at.RefType)


def test_typespace_builder_refs_and_recursion() -> None:
    b = TypespaceBuilder()
    player = b.type_of(Player)
    assert player == at.RefType(0)
    assert b.named_types == [("Player", 0), ("Pos", 1)]
    row = b.typespace.types[0]
    assert isinstance(row, at.ProductType) and row.elements[2].algebraic_type == at.RefType(1)
    assert b.type_of(Pos) == at.RefType(1)  # shared, not duplicated
    tree = b.type_of(Tree)
    assert isinstance(tree, at.RefType)
    assert b.typespace.types[tree.idx] == at.product(("value", at.I64), ("children", at.array(tree)))
    with pytest.raises(SchemaError, match="recursive"):
        type_of(Tree)


def test_unsupported_annotations_name_path_and_alternative() -> None:
    @dataclass
    class Stats:
        stats: dict[str, int]

    with pytest.raises(SchemaError, match=r"Stats\.stats: dict\[str, int\] is not supported; use a list of a product class"):
        type_of(Stats)
    with pytest.raises(SchemaError, match="set"):
        type_of(set[int])
    with pytest.raises(SchemaError, match="union must list product classes"):
        type_of(int | str)
    with pytest.raises(SchemaError, match="applies to int"):
        type_of(__import__("typing").Annotated[str, at.U32])
    with pytest.raises(SchemaError, match="bare list"):
        type_of(list)


def test_sum_values_match_and_reserved_names() -> None:
    match Shape.Side(1.5):
        case Shape("Side", side):
            assert side == 1.5
        case _:
            raise AssertionError("no match")
    assert Shape.Empty() == Shape("Empty") and hash(Shape.Empty()) == hash(Shape("Empty"))
    assert repr(Shape.Side(1.5)) == "Shape.Side(1.5)"
    with pytest.raises(ValueError, match="no variant 'Nope'"):
        Shape("Nope")
    with pytest.raises(AttributeError):
        Shape.Empty().tag = "Side"  # type: ignore[misc]
    with pytest.raises(SchemaError, match="reserved"):

        class Bad(Sum):
            value: int
