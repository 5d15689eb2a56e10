from __future__ import annotations

import pytest

from spacetimedb.engine import Database
from spacetimedb.query.errors import SqlTypeError
from spacetimedb.query.subscription import compile_subscription
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp, Uuid

from .schemas import TYPES, catalog

IDENT = Identity(0xC200 << 200 | 0x2059)
ROW = (
    -5,
    200,
    -(1 << 40),
    1 << 63,
    (1 << 255) + 7,
    0.5,
    1000.0,
    "O'Brien",
    True,
    IDENT,
    ConnectionId(0x0102),
    Timestamp.parse("2025-02-10T15:45:30Z"),
    Uuid.parse("01234567-89ab-cdef-0123-456789abcdef"),
    b"\x01\xab",
    None,
)


def matches(where: str) -> bool:
    db = Database([TYPES])
    tx = db.begin()
    tx.insert(TYPES.table_id, ROW)
    tx.commit()
    plan = compile_subscription(f"SELECT * FROM types WHERE {where}", catalog(), sender=IDENT)
    return plan.initial_rows(db) == [ROW]


@pytest.mark.parametrize(
    "where",
    [
        "i8 = -5",
        "i8 < +0",
        "u8 = 200",
        "u8 >= 2e2",
        "i64 = -1099511627776",
        "u64 = 9223372036854775808",
        f"u256 = {(1 << 255) + 7}",
        "f32 = 0.5",
        "f32 > .25",
        "f64 = 1e3",
        "s = 'O''Brien'",
        "b = TRUE",
        "b",
        f"ident = 0x{IDENT.to_hex()}",
        f"ident = X'{IDENT.to_hex()}'",
        f"ident = '{IDENT.to_hex()}'",
        "ident = :sender",
        ":sender = ident",
        "conn = 0x0102",
        "ts = '2025-02-10T15:45:30Z'",
        "ts > '2025-02-10T17:45:29+02:00'",
        "ts < '2025-02-10T15:45:30.000001Z'",
        "uid = '01234567-89ab-cdef-0123-456789abcdef'",
        "uid = 0x0123456789abcdef0123456789abcdef",
        "bytes = 0x01AB",
        "bytes = X'01ab'",
        "s != 'x' AND (u8 < 10 OR i8 <> 3)",
    ],
)
def test_literal_matches_stored_value(where: str) -> None:
    assert matches(where)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("u8 = 256", "out of bounds for type U8"),
        ("i8 = -129", "out of bounds for type I8"),
        ("u8 = 1.5", "is not an integer"),
        ("u8 = 'abc'", "expected a number"),
        ("b = 1", "Unexpected type: (expected) Bool"),
        ("u8 = TRUE", "Unexpected type: (expected) U8 != Bool"),
        ("ts = 'yesterday'", "RFC 3339"),
        ("ts = 5", "RFC 3339"),
        ("ident = 'zz'", "cannot be parsed as type `Identity`"),
        ("ident = 0x" + "1" * 65, "at most 64 hex digits"),
        ("u8 = :sender", "Unexpected type: (expected) U8 != Identity"),
        ("u8 = i8", "Unexpected type"),
        ("opt = 1", "Invalid binary operator `=` for type `Option<U32>`"),
        ("1 = 1", "Cannot resolve type for literal"),
    ],
)
def test_bad_literals(where: str, message: str) -> None:
    with pytest.raises(SqlTypeError) as info:
        compile_subscription(f"SELECT * FROM types WHERE {where}", catalog(), sender=IDENT)
    assert message in str(info.value)
