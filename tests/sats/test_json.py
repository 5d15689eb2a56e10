"""SATS-JSON of values (typed and positional) and of types themselves."""

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sats.strategies import algebraic_types, typed_values
from sats.test_infer import Color, Shape
from spacetimedb import (
    AlgebraicType,
    ConversionError,
    Identity,
    Some,
    SumValue,
    Timestamp,
    Typespace,
    Uuid,
    bsatn,
    u8,
)
from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.json import f32_shortest, from_json, to_json


def test_type_json_matches_the_spec_example() -> None:
    ty = at.product(("id", at.U32))
    assert to_json(ty, AlgebraicType) == {
        "Product": {"elements": [{"name": {"some": "id"}, "algebraic_type": {"U32": []}}]}
    }
    assert to_json(at.BYTES, AlgebraicType) == {"Array": {"U8": []}}
    assert to_json(at.RefType(2), AlgebraicType) == {"Ref": 2}
    assert to_json(at.option(at.I8), AlgebraicType)["Sum"]["variants"][1] == {
        "name": {"some": "none"},
        "algebraic_type": {"Product": {"elements": []}},
    }
    assert to_json(at.product((None, at.BOOL)), AlgebraicType)["Product"]["elements"][0]["name"] == {"none": []}
    ts = Typespace([ty])
    assert to_json(ts, Typespace) == {"types": [to_json(ty, AlgebraicType)]}
    assert from_json(to_json(ts, Typespace), Typespace) == ts


@settings(max_examples=100, deadline=None)
@given(algebraic_types())
def test_types_round_trip_through_json(ty: at.AlgebraicType) -> None:
    data = json.loads(json.dumps(to_json(ty, AlgebraicType)))
    assert from_json(data, AlgebraicType) == ty


def test_leaves() -> None:
    assert to_json(255, at.U8) == 255
    assert to_json(1 << 100, at.U128) == 1 << 100
    assert to_json(1, at.U256) == "0x1"
    assert to_json(-255, at.I256) == "-0xff"
    assert to_json(0.1, at.F32) == 0.1 and to_json(bsatn.decode(bsatn.encode(0.1, at.F32), at.F32), at.F32) == 0.1
    assert to_json(float("nan"), at.F64) is None and to_json(float("inf"), at.F32) is None
    assert to_json(b"\x01\xab", at.BYTES) == "01ab"
    assert to_json((), at.UNIT) == []
    assert f32_shortest(594806.56) == 594806.56


def test_typed_and_positional_products_and_sums() -> None:
    row = at.product(("id", at.IDENTITY), ("ts", at.TIMESTAMP), ("tag", at.option(at.STRING)), ("s", at.sum_of(("A", at.UNIT), ("B", at.U8))))
    value = (Identity(1), Timestamp(5), None, SumValue(1, 7))
    assert to_json(value, row) == {
        "id": {"__identity__": "0x1"},
        "ts": {"__timestamp_micros_since_unix_epoch__": 5},
        "tag": {"none": []},
        "s": {"B": 7},
    }
    assert to_json(value, row, positional=True) == [["0x1"], [5], [1, []], [1, 7]]
    for form in (to_json(value, row), to_json(value, row, positional=True)):
        assert from_json(form, row) == value
    assert to_json(SumValue(0, 3), at.sum_of((None, at.U8))) == [0, 3]


@dataclass
class Item:
    name: str
    count: u8
    color: Color
    shape: Shape


def test_class_annotations() -> None:
    from spacetimedb.sats.infer import TypespaceBuilder

    node = TypespaceBuilder().node_of(Item)
    item = Item("x", 3, Color.GREEN, Shape.Empty())
    assert to_json(item, node) == to_json(item, Item) and from_json(to_json(item, node), node) == item
    data = to_json(item, Item)
    assert data == {"name": "x", "count": 3, "color": {"GREEN": []}, "shape": {"Empty": []}}
    assert from_json(data, Item) == item
    assert from_json(["x", 3, [1, []], [2, []]], Item) == item


def test_reader_leniency() -> None:
    assert from_json("0x" + "00" * 31 + "01", at.IDENTITY) == Identity(1)
    assert from_json("01234567-89ab-cdef-0123-456789abcdef", at.UUID) == Uuid(0x0123456789ABCDEF0123456789ABCDEF)
    assert from_json("1970-01-01T00:00:01Z", at.TIMESTAMP) == Timestamp(1_000_000)
    assert from_json(None, at.option(at.U8)) is None
    assert from_json(5, at.option(at.U8)) == 5
    assert from_json([1, []], at.option(at.U8)) is None
    assert from_json({"some": {"none": []}}, at.option(at.option(at.U8))) == Some(None)
    assert from_json("18446744073709551615", at.U64) == (1 << 64) - 1
    assert from_json("-0x10", at.I256) == -16
    assert from_json(None, at.F64) != from_json(None, at.F64)  # NaN
    assert from_json("A", at.sum_of(("A", at.UNIT), ("B", at.U8))) == SumValue(0, ())
    assert from_json({}, at.UNIT) == ()


@pytest.mark.parametrize(
    ("data", "ty", "message"),
    [
        ({"id": 1}, at.product(("id", at.U32), ("name", at.STRING)), "missing field 'name'"),
        ({"id": 1, "x": 2}, at.product(("id", at.U32)), "unknown field"),
        ([1], at.product(("id", at.U32), ("name", at.STRING)), "expected 2 fields"),
        (256, at.U8, "out of range"),
        ("abc", at.U8, "expected an integer"),
        ({"C": 1}, at.sum_of(("A", at.UNIT), ("B", at.U8)), "unknown variant 'C'"),
        ([5, 1], at.sum_of(("A", at.UNIT), ("B", at.U8)), "unknown sum tag 5"),
        ("zz", at.BYTES, "invalid hex"),
        (1, at.STRING, "expected a string"),
        (True, at.I32, "got boolean"),
    ],
)
def test_reader_errors(data: Any, ty: at.AlgebraicType, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        from_json(data, ty)


def test_writer_errors_name_the_path() -> None:
    with pytest.raises(ConversionError) as info:
        to_json(("x", [1, "two"]), at.product(("a", at.STRING), ("b", at.array(at.U16))))
    assert info.value.path == "value.b[1]"


@settings(max_examples=200, deadline=None)
@given(typed_values(allow_infinity=False))  # serde_json writes NaN and infinities as null
def test_values_round_trip_through_json(pair: tuple[at.AlgebraicType, Any]) -> None:
    ty, value = pair
    for positional in (False, True):
        data = json.loads(json.dumps(to_json(value, ty, positional=positional)))
        back = from_json(data, ty)
        assert bsatn.encode(back, ty) == bsatn.encode(value, ty)  # f32s print shorter, bytes agree


def _f32(hex_le: str) -> float:
    return float(struct.unpack("<f", bytes.fromhex(hex_le))[0])


@pytest.mark.parametrize(
    ("bits", "text"),
    [
        ("ffff7f7f", "3.4028235e38"),  # f32 max: the 4-digit candidate 3.403e38 is past the f32 range
        ("ffff7fff", "-3.4028235e38"),
        ("00008000", "1.1754944e-38"),  # min normal
        ("01000000", "1e-45"),  # min subnormal
        ("01000080", "-1e-45"),
        ("ffff7f00", "1.1754942e-38"),  # max subnormal
        ("0000803f", "1"),
    ],
)
def test_f32_edge_values_print_the_shortest_text_that_reads_back(bits: str, text: str) -> None:
    x = _f32(bits)
    assert f32_shortest(x) == float(text)
    assert struct.pack("<f", f32_shortest(x)) == bytes.fromhex(bits)
    assert to_json(x, at.F32) == float(text)


def test_f32_non_finite_and_zero_are_unchanged() -> None:
    assert to_json(float("inf"), at.F32) is None and to_json(float("-inf"), at.F32) is None
    assert to_json(float("nan"), at.F32) is None
    assert math.copysign(1.0, f32_shortest(-0.0)) == -1.0 and f32_shortest(0.0) == 0.0


@settings(max_examples=300, deadline=None)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_f32_shortest_reads_back_as_the_same_f32(x: float) -> None:
    shortest = f32_shortest(x)
    assert struct.pack("<f", shortest) == struct.pack("<f", x)
    assert len(f"{shortest:e}".split("e")[0].replace("-", "").replace(".", "").rstrip("0")) <= 9
