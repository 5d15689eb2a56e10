"""Shared test schemas."""

from __future__ import annotations

from spacetimedb.module.schema import TableSchema
from spacetimedb.query.catalog import Catalog
from spacetimedb.sats.algebraic_type import (
    BOOL,
    BYTES,
    CONNECTION_ID,
    F32,
    F64,
    I8,
    I64,
    IDENTITY,
    STRING,
    TIMESTAMP,
    U8,
    U32,
    U64,
    U256,
    UUID,
    option,
)

from .fakes import make_table

PERSON = make_table(
    1, "person", [("id", U32), ("name", STRING), ("age", U8)], indexed=("id",), primary_key="id"
)
PET = make_table(
    2,
    "pet",
    [("id", U32), ("person_id", U32), ("species", STRING)],
    indexed=("id", "person_id"),
    primary_key="id",
)
SECRET = make_table(3, "secret", [("id", U32), ("owner", IDENTITY)], public=False)
TYPES = make_table(
    4,
    "types",
    [
        ("i8", I8),
        ("u8", U8),
        ("i64", I64),
        ("u64", U64),
        ("u256", U256),
        ("f32", F32),
        ("f64", F64),
        ("s", STRING),
        ("b", BOOL),
        ("ident", IDENTITY),
        ("conn", CONNECTION_ID),
        ("ts", TIMESTAMP),
        ("uid", UUID),
        ("bytes", BYTES),
        ("opt", option(U32)),
    ],
)
# No index on either join column: joins between these two must be rejected for subscriptions.
PLAIN_A = make_table(5, "plain_a", [("id", U32), ("k", U32)])
PLAIN_B = make_table(6, "plain_b", [("id", U32), ("k", U32)])
EVENTS = make_table(7, "events", [("id", U32), ("person_id", U32)], indexed=("person_id",), is_event=True)

ALL: list[TableSchema] = [PERSON, PET, SECRET, TYPES, PLAIN_A, PLAIN_B, EVENTS]


def catalog() -> Catalog:
    return Catalog(ALL)
