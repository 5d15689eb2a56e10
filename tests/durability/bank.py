"""A tiny bank on the real engine, shared by the durability tests, the crash driver and the benchmark.

Tables: `account(id u64 pk, balance i64)` and `transfer(id u64 auto_inc pk, src u64, dst u64,
amount i64)`. Rows are encoded with a fixed struct (the BSATN layout of these row types).
"""

from __future__ import annotations

import struct
from typing import Any

from spacetimedb.durability.row_codecs import row_codecs
from spacetimedb.engine import Database, TxDelta
from spacetimedb.module.schema import ColumnSchema, IndexSchema, SequenceSchema, TableSchema
from spacetimedb.sats.algebraic_type import I64, U64

ACCOUNT, TRANSFER = 1, 2
ACCOUNT_PK, TRANSFER_PK = 10, 20

SCHEMAS = [
    TableSchema(
        ACCOUNT, "account", (ColumnSchema("id", U64), ColumnSchema("balance", I64)), primary_key=0,
        indexes=(IndexSchema(ACCOUNT_PK, "account_id_idx_btree", "id", (0,), True),),
    ),
    TableSchema(
        TRANSFER, "transfer",
        (ColumnSchema("id", U64), ColumnSchema("src", U64), ColumnSchema("dst", U64), ColumnSchema("amount", I64)),
        primary_key=0,
        indexes=(IndexSchema(TRANSFER_PK, "transfer_id_idx_btree", "id", (0,), True),),
        sequences=(SequenceSchema(0),),
    ),
]


class StructCodec:
    def __init__(self, fmt: str) -> None:
        self._s = struct.Struct(fmt)

    def encode(self, row: tuple[Any, ...]) -> bytes:
        return self._s.pack(*row)

    def decode(self, data: bytes) -> tuple[Any, ...]:
        return self._s.unpack(data)


#: The real BSATN row codecs (A's compiled codec); STRUCT_CODECS are the same bytes by hand.
CODECS = row_codecs(SCHEMAS)
STRUCT_CODECS = {ACCOUNT: StructCodec("<Qq"), TRANSFER: StructCodec("<QQQq")}
NAMES = {ACCOUNT: "account", TRANSFER: "transfer"}


def new_db() -> Database:
    return Database(SCHEMAS)


def open_accounts(db: Database, n: int, balance: int) -> TxDelta:
    tx = db.begin()
    for i in range(n):
        tx.insert(ACCOUNT, (i, balance))
    return tx.commit()


def transfer(db: Database, src: int, dst: int, amount: int) -> TxDelta:
    tx = db.begin()
    if src != dst:
        a = tx.index_find(ACCOUNT_PK, src)
        b = tx.index_find(ACCOUNT_PK, dst)
        assert a is not None and b is not None
        tx.update(ACCOUNT_PK, (src, a[1] - amount))
        tx.update(ACCOUNT_PK, (dst, b[1] + amount))
    tx.insert(TRANSFER, (0, src, dst, amount))
    return tx.commit()


def state_of(db: Database) -> dict[int, set[tuple[Any, ...]]]:
    img = db.snapshot_image()
    return {tid: set(rows) for tid, rows in img.tables.items()}
