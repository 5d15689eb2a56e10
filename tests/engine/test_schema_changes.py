"""Schema changes for republish: adding tables and indexes to a database with rows."""

from __future__ import annotations

import pytest

from spacetimedb.engine import TransactionStateError
from spacetimedb.module.schema import ColumnSchema, IndexSchema, TableSchema
from spacetimedb.sats.algebraic_type import U32
from spacetimedb.sats.errors import SchemaError

from .schemas import ACCOUNTS, EVENTS, USERS, USERS_PK, new_db


def test_add_table_later() -> None:
    db = new_db()
    db.add_table(TableSchema(50, "late", (ColumnSchema("a", U32),)))
    tx = db.begin()
    tx.insert(50, (1,))
    with pytest.raises(TransactionStateError):
        db.add_table(TableSchema(51, "later", (ColumnSchema("a", U32),)))
    assert set(tx.commit().tables) == {50}


def test_add_index_keeps_rows_and_sequences() -> None:
    db = new_db()
    tx = db.begin()
    for i in range(5):
        tx.insert(USERS, (0, f"u{i}", i % 2))
        tx.insert(ACCOUNTS, (i, i % 3))
    tx.commit()
    db.add_index(ACCOUNTS, IndexSchema(900, "accounts_balance_idx_btree", "balance", (1,), False))
    assert sorted(r[0] for r in db.index_filter(900, (0,))) == [0, 3]
    db.add_index(USERS, IndexSchema(901, "users_age_name_idx_btree", "age_name", (2, 1), True))
    assert db.index_find(901, (1, "u3"))[0] == 4  # type: ignore[index]
    assert db.index_find(USERS_PK, 5) is not None
    tx = db.begin()
    assert tx.insert(USERS, (0, "next", 0))[0] == 6
    tx.update(901, (6, "next", 0))  # unchanged row through the new unique index
    tx.commit()
    db.check_invariants()


def test_add_index_refuses_taken_id_and_duplicate_keys() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(ACCOUNTS, (1, 7))
    tx.insert(ACCOUNTS, (2, 7))
    tx.commit()
    with pytest.raises(SchemaError, match="already used"):
        db.add_index(ACCOUNTS, IndexSchema(USERS_PK, "x", "x", (1,), False))
    with pytest.raises(SchemaError, match="share a key"):
        db.add_index(ACCOUNTS, IndexSchema(902, "accounts_balance_key", "balance", (1,), True))
    assert db.count(ACCOUNTS) == 2
    db.check_invariants()


def test_unique_index_added_to_table_without_one_becomes_its_store() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(EVENTS, (1, "a", []))
    tx.insert(EVENTS, (2, "b", []))
    tx.commit()
    db.add_index(EVENTS, IndexSchema(903, "events_ts_key", "ts", (0,), True))
    tx = db.begin()
    tx.update(903, (1, "z", ["q"]))
    tx.commit()
    assert sorted(r[1] for r in db.scan(EVENTS)) == ["b", "z"]
    db.check_invariants()


def test_duplicate_index_id_within_one_table() -> None:
    ixs = (IndexSchema(1, "a", "a", (0,), False), IndexSchema(1, "b", "b", (0,), False))
    with pytest.raises(SchemaError, match="used twice"):
        new_db().add_table(TableSchema(60, "t", (ColumnSchema("a", U32),), indexes=ixs))
