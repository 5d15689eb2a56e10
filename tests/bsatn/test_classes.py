"""Class annotations: instances of the user's classes, enums, unions and Sum subclasses."""

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from sats.test_infer import Circle, Color, Nothing, Plain, Player, Pos, Shape, Square, Tree
from spacetimedb import (
    AlgebraicType,
    Identity,
    ProductType,
    ScheduleAt,
    Typespace,
    bsatn,
    f32,
    i128,
    u8,
    u32,
)
from spacetimedb.sats import algebraic_type as at


@dataclass(frozen=True)
class Frozen:
    a: u8
    b: str


class NoInit:
    x: i128
    y: "list[Frozen]"

    def __init__(self) -> None:
        self.x = 0
        self.y = []

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoInit) and (self.x, self.y) == (other.x, other.y)


def _round_trip(value: Any, ann: Any) -> Any:
    codec = bsatn.compile(ann)
    data = codec.encode(value)
    assert bsatn.encode(value, ann) == data
    back = codec.decode(data)
    assert back == value and type(back) is type(value)
    # the same bytes as the bare type with tuples: names never reach the wire
    return data


def test_dataclass_round_trip() -> None:
    p = Player(7, "ann", Pos(1.5, -2.0), ["sword", "shield"], Identity(99))
    data = _round_trip(p, Player)
    assert data[:4] == (7).to_bytes(4, "little")
    _round_trip(Pos(1.0, 2.0), Pos)


def test_frozen_and_plain_classes() -> None:
    _round_trip(Frozen(1, "x"), Frozen)
    n = NoInit()
    n.x = -5
    n.y = [Frozen(2, "y")]
    _round_trip(n, NoInit)
    plain = Plain()
    plain.a, plain.b, plain.kind = True, b"\x00\xff", Color.GREEN
    data = bsatn.encode(plain, Plain)
    assert data == b"\x01" + b"\x02\x00\x00\x00\x00\xff" + b"\x01"
    back = bsatn.decode(data, Plain)
    assert (back.a, back.b, back.kind) == (True, b"\x00\xff", Color.GREEN)


def test_sums() -> None:
    assert _round_trip(Color.GREEN, Color) == b"\x01"
    assert _round_trip(Circle(1.0), Circle | Square | Nothing)[0] == 0
    assert _round_trip(Square(2.0), Circle | Square | Nothing)[0] == 1
    assert _round_trip(Nothing(), Circle | Square | Nothing) == b"\x02"
    assert _round_trip(Shape.Circle(Circle(3.0)), Shape)[0] == 0
    assert _round_trip(Shape.Side(1.5), Shape) == b"\x01\x00\x00\xc0\x3f"
    assert _round_trip(Shape.Empty(), Shape) == b"\x02"
    assert _round_trip(None, Circle | None) == b"\x01"
    assert _round_trip(ScheduleAt.interval(1), ScheduleAt)[0] == 0


def test_recursive_class() -> None:
    t = Tree(1, [Tree(2, []), Tree(3, [Tree(4, [])])])
    _round_trip(t, Tree)


def test_tuples_and_widths() -> None:
    assert _round_trip((1, "a"), tuple[u32, str]) == b"\x01\x00\x00\x00\x01\x00\x00\x00a"
    assert _round_trip((1.5, 2.5), tuple[f32, ...]) == b"\x02\x00\x00\x00\x00\x00\xc0\x3f\x00\x00\x20\x40"


def test_meta_annotations_round_trip() -> None:
    ts = Typespace([at.product(("id", at.U32), ("tags", at.array(at.STRING))), at.sum_of(("a", at.UNIT), (None, at.RefType(0)))])
    _round_trip(ts, Typespace)
    _round_trip(at.product(("x", at.F64)), ProductType)
    _round_trip(at.option(at.I8), AlgebraicType)


@pytest.mark.parametrize("ann", [Player, Tree, Shape, Color, Circle | Square])
def test_codec_is_cached(ann: Any) -> None:
    assert bsatn.compile(ann) is bsatn.compile(ann)


@dataclass(kw_only=True)
class KwOnly:
    a: u8
    b: str = "x"


@dataclass
class WithInitFalse:
    a: u8
    b: str = dataclasses.field(init=False, default="fixed")


def test_dataclasses_whose_init_does_not_take_the_fields_positionally() -> None:
    _round_trip(KwOnly(a=1, b="y"), KwOnly)
    w = WithInitFalse(3)
    w.b = "changed"
    assert bsatn.decode(bsatn.encode(w, WithInitFalse), WithInitFalse).b == "changed"


@dataclass
class Positive:
    n: i128

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError("n must be positive")


def test_errors_raised_by_user_classes_become_conversion_errors() -> None:
    from spacetimedb import ConversionError

    data = bsatn.encode((-1,), __import__("spacetimedb").sats.algebraic_type.product(("n", at.I128)))
    with pytest.raises(ConversionError, match="n must be positive"):
        bsatn.decode(data, Positive)
