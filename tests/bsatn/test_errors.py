"""Every rejection: decoding malformed input and encoding values that do not fit, with path and offset."""

from dataclasses import dataclass
from typing import Any

import pytest

from sats.test_infer import Color, Player, Pos, Shape
from spacetimedb import ConversionError, Identity, bsatn, u8
from spacetimedb.sats import algebraic_type as at


@dataclass
class Bag:
    owner: str
    items: list[str]
    count: u8


def _decode_error(ty: Any, hexstr: str) -> ConversionError:
    with pytest.raises(ConversionError) as info:
        bsatn.decode(bytes.fromhex(hexstr), ty)
    return info.value


def _encode_error(ty: Any, value: Any) -> ConversionError:
    with pytest.raises(ConversionError) as info:
        bsatn.encode(value, ty)
    return info.value


def test_truncated_input() -> None:
    e = _decode_error(at.U32, "0100")
    assert e.offset == 0 and "truncated" in str(e)
    e = _decode_error(Bag, "01000000 61 02000000 01000000 62 05000000 6363")
    assert e.path == "Bag.items[1]" and e.offset == 18
    e = _decode_error(at.BYTES, "05000000 0102")
    assert e.offset == 4


def test_trailing_bytes() -> None:
    e = _decode_error(at.U16, "0100ff")
    assert "1 trailing byte" in str(e) and e.offset == 2
    e = _decode_error(at.product(("a", at.STRING)), "01000000 61 00")
    assert e.offset == 5


def test_trailing_bytes_after_a_zero_size_value() -> None:
    """Found by fuzzing (tests/fuzz, bsatn): a type that takes no bytes accepted any input."""
    for ty in (at.product(), at.product(("u", at.product())), at.UNIT):
        assert bsatn.decode(b"", ty) is not None
        e = _decode_error(ty, "f8000000")
        assert "4 trailing byte(s)" in str(e) and e.offset == 0, str(e)


def test_unknown_tags() -> None:
    e = _decode_error(at.sum_of(("A", at.UNIT), ("B", at.U8)), "05")
    assert "unknown sum tag 5" in str(e) and e.offset == 0
    e = _decode_error(Color, "02")
    assert "Color" in str(e)
    e = _decode_error(at.option(at.U8), "02")
    assert "invalid option tag 2" in str(e)
    e = _decode_error(Shape, "09")
    assert e.path == "Shape"


def test_invalid_utf8_and_bool() -> None:
    e = _decode_error(at.product(("name", at.STRING)), "02000000 c328")
    assert ("UTF-8" in str(e) and e.path == "name") or e.path.endswith(".name")
    assert e.offset == 4
    e = _decode_error(at.product(("a", at.U8), ("ok", at.BOOL)), "01 02")
    assert "invalid bool byte 0x02" in str(e) and e.offset == 1


def test_decode_from_reports_absolute_offsets() -> None:
    codec = bsatn.compile(at.product(("a", at.U32), ("ok", at.BOOL)))
    with pytest.raises(ConversionError) as info:
        codec.decode_from(b"\x00\x00" + b"\x01\x00\x00\x00\x07", 2)
    assert info.value.offset == 6


def test_encode_wrong_types_name_the_field_path() -> None:
    e = _encode_error(Bag, Bag("me", ["a", "b", "c", 4], 1))  # type: ignore[list-item]
    assert e.path == "Bag.items[3]"
    assert "expected str, got int" in str(e)
    e = _encode_error(Player, Player(1, "a", (1.0, 2.0), []))  # type: ignore[arg-type]
    assert e.path == "Player.pos" and "construct a Pos" in str(e)
    e = _encode_error(at.product(("a", at.U8), ("b", at.STRING)), (1, 2))
    assert e.path.endswith(".b") and "expected str" in str(e)


def test_encode_out_of_range_ints() -> None:
    e = _encode_error(Bag, Bag("me", [], 256))
    assert e.path == "Bag.count" and "out of range for u8" in str(e)
    assert "out of range" in str(_encode_error(at.U128, -1))
    assert "out of range" in str(_encode_error(at.I256, 1 << 255))
    assert "f32" in str(_encode_error(at.F32, 1e300))
    assert "round it first" in str(_encode_error(at.I32, 1.5))


def test_encode_missing_fields_and_shape_errors() -> None:
    p = Pos.__new__(Pos)
    p.x = 1.0
    e = _encode_error(Pos, p)
    assert "missing field 'y'" in str(e)
    assert "expected 2 fields, got 3" in str(_encode_error(at.product(("a", at.U8), ("b", at.U8)), (1, 2, 3)))
    assert "tuple" in str(_encode_error(at.product(("a", at.U8), ("b", at.STRING)), {"a": 1, "b": "x"}))
    assert "expected bool" in str(_encode_error(at.BOOL, 1))
    assert "expected bytes" in str(_encode_error(at.BYTES, "ab"))
    assert "expected a list" in str(_encode_error(at.array(at.STRING), "abc"))
    assert "SumValue" in str(_encode_error(at.sum_of(("A", at.UNIT)), 0))
    assert "expected Identity" in str(_encode_error(at.IDENTITY, 5))
    assert "expected one of" in str(_encode_error(__import__("sats.test_infer").test_infer.Circle | Pos, Identity(1)))
    assert "member of Color" in str(_encode_error(Color, 1))
    assert "surrogate" in str(_encode_error(at.STRING, "\ud800"))


def test_lengths_past_the_end_are_rejected_early() -> None:
    e = _decode_error(at.array(at.STRING), "ffffffff")
    assert e.offset == 0 and "truncated" in str(e)
    e = _decode_error(at.array(at.UNIT), "ffffffff")
    assert "zero-size" in str(e)
    assert bsatn.decode(bytes.fromhex("03000000"), at.array(at.UNIT)) == [(), (), ()]
    e = _decode_error(at.array(at.U64), "02000000 0100000000000000")
    assert "truncated" in str(e)
    e = _decode_error(at.STRING, "05000000 6869")
    assert e.offset == 4


def test_encode_into_leaves_the_buffer_unchanged_on_error() -> None:
    buf = bytearray(b"keep")
    with pytest.raises(ConversionError):
        bsatn.compile(Bag).encode_into(buf, Bag("me", ["a", 5], 1))  # type: ignore[list-item]
    assert buf == b"keep"


def test_typespace_ref_cycles_are_schema_errors() -> None:
    from spacetimedb import SchemaError

    with pytest.raises(SchemaError, match="cycle"):
        bsatn.compile(at.RefType(0), typespace=at.Typespace([at.RefType(1), at.RefType(0)]))
    with pytest.raises(SchemaError, match="no typespace"):
        bsatn.compile(at.RefType(0))
