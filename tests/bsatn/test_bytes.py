"""Byte-exact examples from the wire spec (sections 1, 2, 5.8), encoded and decoded."""

from typing import Any

import pytest

from spacetimedb import (
    ConnectionId,
    Identity,
    ScheduleAt,
    Some,
    SumValue,
    TimeDuration,
    Timestamp,
    Uuid,
    bsatn,
)
from spacetimedb.sats import algebraic_type as at

CASES: list[tuple[at.AlgebraicType, Any, str]] = [
    (at.STRING, "hi", "02000000 6869"),
    (at.I16, -2, "feff"),
    (at.U128, 1, "01" + "00" * 15),
    (at.F32, 1.5, "0000c03f"),
    (at.BYTES, b"\x01\x02\x03", "03000000 010203"),
    (at.array(at.U16), [1, 2], "02000000 0100 0200"),
    (at.sum_of(("A", at.UNIT), ("B", at.U8)), SumValue(1, 9), "01 09"),
    (at.sum_of(("A", at.UNIT), ("B", at.U8)), SumValue(0, ()), "00"),
    (at.TIMESTAMP, Timestamp(1_000_000), "40420f0000000000"),
    (at.option(at.U32), 5, "00 05000000"),
    (at.option(at.U32), None, "01"),
    (at.result(at.U8, at.STRING), SumValue(0, 7), "00 07"),
    (at.U8, 255, "ff"),
    (at.U32, 4294967295, "ffffffff"),
    (at.I64, -(1 << 63), "0000000000000080"),
    (at.U64, (1 << 64) - 1, "ffffffffffffffff"),
    (at.U128, 0x0102030405060708090A0B0C0D0E0F10, "100f0e0d0c0b0a090807060504030201"),
    (at.I128, -1, "ff" * 16),
    (at.U256, 1, "01" + "00" * 31),
    (at.I256, -(1 << 255), "00" * 31 + "80"),
    (at.F64, -0.1, "9a9999999999b9bf"),
    (at.BOOL, True, "01"),
    (at.STRING, "héllo 🌍 世界", "1200000068c3a96c6c6f20f09f8c8d20e4b896e7958c"),
    (at.STRING, "", "00000000"),
    (at.array(at.U16), [1, 2, 65535], "0300000001000200ffff"),
    (at.option(at.STRING), "x", "000100000078"),
    (at.option(at.array(at.I32)), [-1], "0001000000ffffffff"),
    (at.product(("id", at.U64), ("name", at.STRING)), (1, "Alice"), "010000000000000005000000416c696365"),
    (at.UNIT, (), ""),
    (at.IDENTITY, Identity.from_hex("c2" + "00" * 31), "00" * 31 + "c2"),
    (at.CONNECTION_ID, ConnectionId.from_hex("000102030405060708090a0b0c0d0e0f"), "0f0e0d0c0b0a09080706050403020100"),
    (at.TIMESTAMP, Timestamp(1700000000000000), "00401e18240a0600"),
    (at.TIMESTAMP, Timestamp(-1), "ffffffffffffffff"),
    (at.TIME_DURATION, TimeDuration(1_000_000), "40420f0000000000"),
    (at.UUID, Uuid.parse("01234567-89ab-cdef-0123-456789abcdef"), "efcdab8967452301efcdab8967452301"),
    (at.SCHEDULE_AT, ScheduleAt.interval(5), "00404b4c0000000000"),
    (at.SCHEDULE_AT, ScheduleAt.time(Timestamp(1)), "01 0100000000000000"),
    (at.option(at.option(at.U8)), Some(None), "00 01"),
    (at.option(at.option(at.U8)), 3, "00 00 03"),
    (at.option(at.option(at.U8)), None, "01"),
    (at.product(("a", at.BOOL), ("b", at.U8), ("c", at.BOOL)), (False, 7, True), "00 07 01"),
]


@pytest.mark.parametrize(("ty", "value", "hexstr"), CASES)
def test_encode_decode_exact_bytes(ty: at.AlgebraicType, value: Any, hexstr: str) -> None:
    expected = bytes.fromhex(hexstr.replace(" ", ""))
    codec = bsatn.compile(ty)
    assert codec.encode(value) == expected
    buf = bytearray(b"xx")
    codec.encode_into(buf, value)
    assert bytes(buf) == b"xx" + expected
    assert codec.decode(expected) == value
    assert codec.decode_from(b"zz" + expected + b"tail", 2) == (value, 2 + len(expected))
    assert codec.decode(memoryview(expected)) == value
    assert codec.decode(bytearray(expected)) == value


def test_f32_rounds_to_nearest() -> None:
    assert bsatn.encode(0.1, at.F32).hex() == "cdcccc3d"
    assert bsatn.decode(bytes.fromhex("cdcccc3d"), at.F32) == 0.10000000149011612


def test_nan_is_canonical() -> None:
    assert bsatn.encode(float("nan"), at.F64).hex() == "000000000000f87f"
    assert bsatn.encode(float("nan"), at.F32).hex() == "0000c07f"


def test_meta_type_bytes() -> None:
    ty = at.product(("id", at.U32))
    data = bsatn.encode(ty, at.AlgebraicType)
    assert data.hex() == "02" + "01000000" + "00" + "02000000" + "6964" + "0b"
    assert bsatn.decode(data, at.AlgebraicType) == ty
    assert bsatn.encode(at.U32, at.AlgebraicType).hex() == "0b"
    assert bsatn.encode(at.BYTES, at.AlgebraicType).hex() == "0307"
    assert bsatn.encode(at.RefType(3), at.AlgebraicType).hex() == "0003000000"


def test_typespace_refs_in_bare_types() -> None:
    ts = at.Typespace([at.product(("v", at.I32), ("next", at.option(at.RefType(0))))])
    codec = bsatn.compile(at.RefType(0), typespace=ts)
    value = (1, (2, (3, None)))
    data = codec.encode(value)
    assert data.hex() == "01000000" + "00" + "02000000" + "00" + "03000000" + "01"
    assert codec.decode(data) == value
