"""Transaction lifecycle: one at a time, rollback, committed reads, replay and images."""

from __future__ import annotations

import pytest

from spacetimedb.engine import (
    Database,
    ReplayMismatch,
    TableDelta,
    TransactionStateError,
    TxDelta,
    UniqueConstraintViolation,
)
from spacetimedb.module.schema import ColumnSchema, IndexSchema, TableSchema
from spacetimedb.sats.algebraic_type import U32
from spacetimedb.sats.errors import SchemaError

from .schemas import ACCOUNTS, ACCOUNTS_PK, EVENTS, GRID_XY, USERS, USERS_AGE, new_db


def seeded() -> Database:
    db = new_db()
    tx = db.begin()
    for i in range(5):
        tx.insert(ACCOUNTS, (i, 100))
        tx.insert(USERS, (0, f"u{i}", i))
        tx.insert(EVENTS, (i, "k", [str(i)]))
    tx.commit()
    return db


def state(db: Database) -> dict[int, list[tuple[object, ...]]]:
    return {s.table_id: sorted(db.scan(s.table_id), key=repr) for s in db.schemas()}


def test_only_one_transaction_at_a_time() -> None:
    db = new_db()
    tx = db.begin()
    with pytest.raises(TransactionStateError, match="already open"):
        db.begin()
    tx.commit()
    db.begin().rollback()


def test_ended_transaction_refuses_use() -> None:
    db = new_db()
    tx = db.begin()
    tx.commit()
    for use in (lambda: tx.insert(ACCOUNTS, (1, 1)), lambda: tx.count(ACCOUNTS), tx.commit, tx.rollback):
        with pytest.raises(TransactionStateError, match="already been committed"):
            use()


def test_committed_reads_refused_during_a_transaction() -> None:
    db = seeded()
    assert db.count(ACCOUNTS) == 5
    assert db.index_find(ACCOUNTS_PK, 3) == (3, 100)
    tx = db.begin()
    with pytest.raises(TransactionStateError, match="while a transaction is open"):
        db.scan(ACCOUNTS)
    with pytest.raises(TransactionStateError):
        db.snapshot_image()
    tx.rollback()
    assert len(list(db.index_range(USERS_AGE, (), (2, True), None))) == 3


def test_rollback_leaves_no_trace() -> None:
    db = seeded()
    before = state(db)
    tx = db.begin()
    tx.update(ACCOUNTS_PK, (1, 5))
    tx.delete(ACCOUNTS, (2, 100))
    tx.insert(ACCOUNTS, (9, 9))
    tx.index_delete(USERS_AGE, (3,))
    tx.insert(EVENTS, (7, "z", []))
    tx.delete(EVENTS, (0, "k", ["0"]))
    list(tx.index_filter(GRID_XY, (1,)))  # builds ordering mid-transaction
    tx.rollback()
    assert state(db) == before
    db.check_invariants()


def test_failed_write_then_commit_keeps_earlier_writes() -> None:
    db = seeded()
    tx = db.begin()
    tx.insert(ACCOUNTS, (10, 1))
    with pytest.raises(UniqueConstraintViolation):
        tx.insert(ACCOUNTS, (10, 2))
    delta = tx.commit()
    assert delta.tables == {ACCOUNTS: TableDelta([(10, 1)], [])}


def test_snapshot_image_and_load_image_round_trip() -> None:
    db = seeded()
    image = db.snapshot_image()
    tx = db.begin()
    tx.insert(ACCOUNTS, (50, 1))
    tx.insert(USERS, (0, "late", 1))
    tx.commit()
    assert image.tables[ACCOUNTS] == [(i, 100) for i in range(5)]
    copy = new_db()
    copy.load_image(image)
    assert state(copy) == {tid: rows for tid, rows in state(seeded()).items()}
    assert copy.sequence_state() == {(USERS, 0): 6}
    copy.check_invariants()


def test_load_image_rejects_duplicates_and_unknown_tables() -> None:
    db = new_db()
    image = db.snapshot_image()
    image.tables[ACCOUNTS] = [(1, 1), (1, 2)]
    with pytest.raises(ReplayMismatch):
        db.load_image(image)
    image.tables = {999: []}
    with pytest.raises(ReplayMismatch):
        db.load_image(image)


def test_apply_delta_replays_commits() -> None:
    db = new_db()
    replica = new_db()
    deltas = []
    for step in range(3):
        tx = db.begin()
        tx.insert(USERS, (0, f"s{step}", step))
        tx.insert(ACCOUNTS, (step, 10))
        if step:
            tx.update(ACCOUNTS_PK, (step - 1, 5))
            tx.delete(EVENTS, (step - 1, "e", []))
        tx.insert(EVENTS, (step, "e", []))
        deltas.append(tx.commit())
    for delta in deltas:
        replica.apply_delta(delta)
    assert state(replica) == state(db)
    assert replica.sequence_state() == db.sequence_state()
    replica.check_invariants()


def test_apply_delta_mismatch() -> None:
    db = seeded()
    with pytest.raises(ReplayMismatch, match="not in table"):
        db.apply_delta(TxDelta({ACCOUNTS: TableDelta([], [(77, 1)])}))
    with pytest.raises(ReplayMismatch, match="clashes"):
        db.apply_delta(TxDelta({ACCOUNTS: TableDelta([(1, 1)], [])}))


def test_duplicate_ids_in_schemas_are_refused() -> None:
    t = TableSchema(1, "t", (ColumnSchema("a", U32),), indexes=(IndexSchema(5, "t_a", "a", (0,), True),))
    t2 = TableSchema(2, "u", (ColumnSchema("a", U32),), indexes=(IndexSchema(5, "u_a", "a", (0,), True),))
    with pytest.raises(SchemaError, match="index id 5"):
        Database([t, t2])
    with pytest.raises(SchemaError, match="table id 1"):
        Database([t, t])


def test_primary_key_without_declared_index_is_still_unique() -> None:
    db = Database([TableSchema(1, "t", (ColumnSchema("a", U32), ColumnSchema("b", U32)), primary_key=0)])
    tx = db.begin()
    tx.insert(1, (1, 1))
    with pytest.raises(UniqueConstraintViolation):
        tx.insert(1, (1, 2))


def test_event_table_rows_reach_the_delta_but_not_the_state() -> None:
    schema = TableSchema(
        70,
        "pings",
        (ColumnSchema("id", U32), ColumnSchema("n", U32)),
        primary_key=0,
        indexes=(IndexSchema(700, "pings_id_idx_btree", "id", (0,), True),),
        is_event=True,
    )
    db = Database([schema])
    tx = db.begin()
    tx.insert(70, (1, 1))
    tx.insert(70, (2, 2))
    tx.delete(70, (2, 2))
    assert tx.index_find(700, 1) == (1, 1)  # visible inside its own transaction
    delta = tx.commit()
    assert delta.tables == {70: TableDelta([(1, 1)], [])}
    assert db.count(70) == 0 and db.index_find(700, 1) is None
    tx = db.begin()
    tx.insert(70, (1, 1))  # the same row again is a fresh insert
    assert tx.commit().tables == {70: TableDelta([(1, 1)], [])}
    replica = Database([schema])
    replica.apply_delta(delta)
    assert replica.count(70) == 0
    db.check_invariants()


def test_primary_key_declared_with_non_unique_index_is_still_unique() -> None:
    schema = TableSchema(
        1,
        "t",
        (ColumnSchema("a", U32), ColumnSchema("b", U32)),
        primary_key=0,
        indexes=(IndexSchema(10, "t_a_idx_btree", "a", (0,), False),),
    )
    tx = Database([schema]).begin()
    tx.insert(1, (1, 1))
    with pytest.raises(UniqueConstraintViolation):
        tx.insert(1, (1, 2))
    assert list(tx.index_filter(10, (1,))) == [(1, 1)]


def test_an_ended_transaction_someone_holds_stays_ended() -> None:
    """`begin` reuses the last transaction object only when nobody else refers to it: a held one
    must keep refusing use however many transactions follow (committed or rolled back)."""
    db = new_db()
    held = db.begin()
    held.insert(ACCOUNTS, (1, 10))
    held.commit()
    for end in ("commit", "rollback", "commit"):
        tx = db.begin()
        assert tx is not held and tx.is_open and not held.is_open
        with pytest.raises(TransactionStateError):
            held.insert(ACCOUNTS, (2, 10))
        with pytest.raises(TransactionStateError):
            held.update(ACCOUNTS_PK, (1, 11))
        tx.update(ACCOUNTS_PK, (1, 12))
        getattr(tx, end)()
        del tx  # not held: the next begin may hand out the same object, open again
    assert db.index_find(ACCOUNTS_PK, 1) == (1, 12)
    again = db.begin()
    assert again.is_open and not held.is_open and again.count(ACCOUNTS) == 1
    again.rollback()
