"""Auto-increment sequences: 0 takes the next value, values are never reissued."""

from __future__ import annotations

import pytest

from spacetimedb.engine import Database, ReplayMismatch, SequenceExhausted, TxDelta
from spacetimedb.module.schema import ColumnSchema, IndexSchema, SequenceSchema, TableSchema
from spacetimedb.sats.algebraic_type import STRING, U8, U32
from spacetimedb.sats.errors import SchemaError

from .schemas import USERS, USERS_PK, new_db


def test_zero_takes_next_value_and_nonzero_is_kept() -> None:
    tx = new_db().begin()
    assert tx.insert(USERS, (0, "a", 1))[0] == 1
    assert tx.insert(USERS, (0, "b", 1))[0] == 2
    assert tx.insert(USERS, (50, "c", 1))[0] == 50
    assert tx.insert(USERS, (0, "d", 1))[0] == 3


def test_commit_reports_advanced_sequences_once() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(USERS, (0, "a", 1))
    tx.insert(USERS, (0, "b", 1))
    assert tx.commit().sequences == {(USERS, 0): 3}
    tx = db.begin()
    tx.insert(USERS, (9, "c", 1))
    assert tx.commit().sequences == {}


def test_rollback_does_not_give_values_back_and_next_commit_reports_them() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(USERS, (0, "a", 1))
    tx.rollback()
    tx = db.begin()
    assert tx.insert(USERS, (0, "a", 1))[0] == 2
    tx.rollback()
    tx = db.begin()
    assert tx.commit() == TxDelta({}, {(USERS, 0): 3})


def test_update_fills_zero_too() -> None:
    tx = new_db().begin()
    tx.insert(USERS, (0, "a", 1))
    # The generated id (2) is not the key of any row, as upstream: updates fill sequences first.
    with pytest.raises(KeyError):
        tx.update(USERS_PK, (0, "a", 2))


def test_state_and_restore() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(USERS, (0, "a", 1))
    tx.commit()
    assert db.sequence_state() == {(USERS, 0): 2}
    fresh = new_db()
    fresh.restore_sequences(db.sequence_state())
    tx = fresh.begin()
    assert tx.insert(USERS, (0, "b", 1))[0] == 2
    tx.commit()
    fresh.restore_sequences({(USERS, 0): 1})  # monotonic: never moves back
    assert fresh.sequence_state() == {(USERS, 0): 3}
    with pytest.raises(ReplayMismatch):
        fresh.restore_sequences({(99, 0): 1})


def tiny_table(max_value: int | None = None, start: int = 1) -> Database:
    return Database(
        [
            TableSchema(
                1,
                "tiny",
                (ColumnSchema("id", U8), ColumnSchema("s", STRING)),
                primary_key=0,
                indexes=(IndexSchema(10, "tiny_id_idx_btree", "id", (0,), True),),
                sequences=(SequenceSchema(0, start=start, max_value=max_value),),
            )
        ]
    )


def test_exhausted_sequence_raises() -> None:
    tx = tiny_table().begin()
    for i in range(255):
        assert tx.insert(1, (0, str(i)))[0] == i + 1
    with pytest.raises(SequenceExhausted, match=r"tiny\.id"):
        tx.insert(1, (0, "overflow"))
    tx = tiny_table(max_value=2).begin()
    tx.insert(1, (0, "a"))
    tx.insert(1, (0, "b"))
    with pytest.raises(SequenceExhausted):
        tx.insert(1, (0, "c"))


def test_bad_sequence_schemas() -> None:
    with pytest.raises(SchemaError, match="integer"):
        Database([TableSchema(1, "t", (ColumnSchema("s", STRING),), sequences=(SequenceSchema(0),))])
    with pytest.raises(SchemaError, match="starts at"):
        tiny_table(start=300)
    with pytest.raises(SchemaError, match="increment 0"):
        Database(
            [TableSchema(1, "t", (ColumnSchema("n", U32),), sequences=(SequenceSchema(0, increment=0),))]
        )
