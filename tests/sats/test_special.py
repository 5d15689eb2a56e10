from datetime import UTC, datetime, timedelta

import pytest

from spacetimedb import ConnectionId, ConversionError, Identity, ScheduleAt, TimeDuration, Timestamp, Uuid


def test_identity_hex_is_big_endian_and_bytes_little_endian() -> None:
    ident = Identity.from_hex("c2" + "00" * 31)
    assert ident.to_hex() == "c2" + "00" * 31
    assert ident.to_bytes_le() == b"\x00" * 31 + b"\xc2"
    assert Identity.from_bytes_le(ident.to_bytes_le()) == ident
    assert int(ident) == 0xC2 << 248
    assert Identity.from_hex("0x" + "00" * 31 + "01") == Identity(1)
    assert Identity.ZERO == Identity(0)
    assert str(Identity(1)).endswith("01") and len(str(Identity(1))) == 64


def test_identity_is_hashable_ordered_and_validated() -> None:
    assert {Identity(1), Identity(1)} == {Identity(1)}
    assert Identity(1) < Identity(2)
    with pytest.raises(ConversionError):
        Identity(-1)
    with pytest.raises(ConversionError):
        Identity(1 << 256)
    with pytest.raises(ConversionError):
        Identity.from_hex("abc")
    with pytest.raises(AttributeError):
        Identity(1).value = 2  # type: ignore[misc]


def test_connection_id() -> None:
    cid = ConnectionId.from_hex("000102030405060708090a0b0c0d0e0f")
    assert cid.to_bytes_le() == bytes(range(15, -1, -1))
    assert cid.to_hex() == "000102030405060708090a0b0c0d0e0f"
    assert not ConnectionId.ZERO and ConnectionId.random()
    assert "ConnectionId(" in repr(cid)


def test_timestamp_datetime_and_rfc3339() -> None:
    dt = datetime(2025, 2, 10, 15, 45, 30, 123000, tzinfo=UTC)
    ts = Timestamp.from_datetime(dt)
    assert ts.to_datetime() == dt
    assert ts.isoformat() == "2025-02-10T15:45:30.123+00:00"
    assert Timestamp(0).isoformat() == "1970-01-01T00:00:00+00:00"
    assert Timestamp(1).isoformat() == "1970-01-01T00:00:00.000001+00:00"
    assert Timestamp.parse("2025-02-10T15:45:30.123Z") == ts
    assert Timestamp.parse("2025-02-10T17:45:30.123+02:00") == ts
    assert Timestamp.parse(ts.isoformat()) == ts
    with pytest.raises(ConversionError):
        Timestamp.parse("yesterday")
    assert Timestamp(-1).to_datetime() == datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_timestamp_arithmetic() -> None:
    t = Timestamp(1_000_000)
    d = TimeDuration.from_seconds(1.5)
    assert d.micros == 1_500_000
    assert t + d == Timestamp(2_500_000)
    assert (t + d) - t == d
    assert t - d == Timestamp(-500_000)
    assert TimeDuration.from_timedelta(timedelta(days=1)).micros == 86_400_000_000
    assert d.to_timedelta() == timedelta(seconds=1.5)
    assert Timestamp.now() > Timestamp(1_700_000_000_000_000)


def test_timestamp_now_is_an_ordinary_timestamp() -> None:
    """`now` builds its value without `__init__` (a per-call cost): it must still be a complete,
    frozen Timestamp, equal and hashing alike to one built the usual way."""
    import dataclasses
    import time

    before = time.time_ns() // 1000
    now = Timestamp.now()
    after = time.time_ns() // 1000
    assert type(now) is Timestamp and type(now.micros) is int
    assert before <= now.micros <= after
    assert now == Timestamp(now.micros) and hash(now) == hash(Timestamp(now.micros))
    with pytest.raises(dataclasses.FrozenInstanceError):
        now.micros = 0  # type: ignore[misc]


def test_uuid() -> None:
    u = Uuid.parse("01234567-89ab-cdef-0123-456789abcdef")
    assert str(u) == "01234567-89ab-cdef-0123-456789abcdef"
    assert u.value == 0x0123456789ABCDEF0123456789ABCDEF
    assert Uuid.random() != Uuid.random()
    with pytest.raises(ConversionError):
        Uuid.parse("nope")


def test_schedule_at_constructors() -> None:
    assert ScheduleAt.interval(5) == ScheduleAt(TimeDuration(5_000_000))
    assert ScheduleAt.interval(timedelta(milliseconds=10)).value == TimeDuration(10_000)
    assert ScheduleAt.interval(TimeDuration(7)).tag == 0
    at = ScheduleAt.time(datetime(2030, 1, 1, tzinfo=UTC))
    assert at.tag == 1 and not at.is_interval
    assert ScheduleAt.time(Timestamp(5)).value == Timestamp(5)
    assert hash(ScheduleAt.interval(1)) == hash(ScheduleAt.interval(1))
    with pytest.raises(ConversionError):
        ScheduleAt.interval("soon")  # type: ignore[arg-type]
    with pytest.raises(ConversionError):
        ScheduleAt(5)  # type: ignore[arg-type]
