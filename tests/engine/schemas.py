"""Table schemas shared by the engine tests."""

from __future__ import annotations

from spacetimedb.engine import Database
from spacetimedb.module.schema import ColumnSchema, IndexSchema, SequenceSchema, TableSchema
from spacetimedb.sats.algebraic_type import I64, STRING, U8, U32, U64, array, option

ACCOUNTS = 1  # (id u32 pk, balance i64)
ACCOUNTS_PK = 100

USERS = 2  # (id u64 auto_inc pk, name str unique, age u32 btree)
USERS_PK = 200
USERS_NAME = 201
USERS_AGE = 202

EVENTS = 3  # (ts i64, kind str, tags [str]) no unique index; btree on ts, hash on kind
EVENTS_TS = 300
EVENTS_KIND = 301

GRID = 4  # (x u32, y u32, label str unique) btree on (x, y)
GRID_XY = 400
GRID_LABEL = 401

OPTS = 5  # (id u32 pk, maybe Option<u32>, blob [u8]) btree on maybe
OPTS_PK = 500
OPTS_MAYBE = 501


def cols(*specs: tuple[str, object]) -> tuple[ColumnSchema, ...]:
    return tuple(ColumnSchema(n, t) for n, t in specs)  # type: ignore[arg-type]


SCHEMAS = [
    TableSchema(
        ACCOUNTS,
        "accounts",
        cols(("id", U32), ("balance", I64)),
        primary_key=0,
        indexes=(IndexSchema(ACCOUNTS_PK, "accounts_id_idx_btree", "id", (0,), True),),
    ),
    TableSchema(
        USERS,
        "users",
        cols(("id", U64), ("name", STRING), ("age", U32)),
        primary_key=0,
        indexes=(
            IndexSchema(USERS_PK, "users_id_idx_btree", "id", (0,), True),
            IndexSchema(USERS_NAME, "users_name_idx_hash", "name", (1,), True, "hash"),
            IndexSchema(USERS_AGE, "users_age_idx_btree", "age", (2,), False),
        ),
        sequences=(SequenceSchema(0),),
    ),
    TableSchema(
        EVENTS,
        "events",
        cols(("ts", I64), ("kind", STRING), ("tags", array(STRING))),
        indexes=(
            IndexSchema(EVENTS_TS, "events_ts_idx_btree", "ts", (0,), False),
            IndexSchema(EVENTS_KIND, "events_kind_idx_hash", "kind", (1,), False, "hash"),
        ),
    ),
    TableSchema(
        GRID,
        "grid",
        cols(("x", U32), ("y", U32), ("label", STRING)),
        indexes=(
            IndexSchema(GRID_XY, "grid_x_y_idx_btree", "xy", (0, 1), False),
            IndexSchema(GRID_LABEL, "grid_label_idx_btree", "label", (2,), True),
        ),
    ),
    TableSchema(
        OPTS,
        "opts",
        cols(("id", U32), ("maybe", option(U32)), ("blob", array(U8))),
        primary_key=0,
        indexes=(
            IndexSchema(OPTS_PK, "opts_id_idx_btree", "id", (0,), True),
            IndexSchema(OPTS_MAYBE, "opts_maybe_idx_btree", "maybe", (1,), False),
        ),
    ),
]


def new_db() -> Database:
    return Database(SCHEMAS)
