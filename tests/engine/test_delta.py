"""TxDelta: net inserts and deletes per table, with set semantics."""

from __future__ import annotations

from spacetimedb.engine import TableDelta

from .schemas import ACCOUNTS, ACCOUNTS_PK, EVENTS, USERS, USERS_PK, new_db


def test_transfer_is_two_deletes_and_two_inserts() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(ACCOUNTS, (1, 10))
    tx.insert(ACCOUNTS, (2, 10))
    tx.commit()
    tx = db.begin()
    tx.update(ACCOUNTS_PK, (1, 9))
    tx.update(ACCOUNTS_PK, (2, 11))
    delta = tx.commit()
    assert delta.tables == {ACCOUNTS: TableDelta([(1, 9), (2, 11)], [(1, 10), (2, 10)])}


def test_delete_then_reinsert_identical_row_cancels() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(ACCOUNTS, (1, 10))
    tx.commit()
    tx = db.begin()
    tx.delete(ACCOUNTS, (1, 10))
    tx.insert(ACCOUNTS, (1, 10))
    assert tx.commit().tables == {}


def test_insert_then_delete_cancels() -> None:
    tx = new_db().begin()
    tx.insert(EVENTS, (1, "a", ["x"]))
    tx.delete(EVENTS, (1, "a", ["x"]))
    assert tx.commit().is_empty()


def test_update_and_back_cancels_and_chain_nets_to_first_and_last() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(ACCOUNTS, (1, 10))
    tx.commit()
    tx = db.begin()
    tx.update(ACCOUNTS_PK, (1, 11))
    tx.update(ACCOUNTS_PK, (1, 10))
    assert tx.commit().tables == {}
    tx = db.begin()
    tx.update(ACCOUNTS_PK, (1, 11))
    tx.update(ACCOUNTS_PK, (1, 12))
    tx.update(ACCOUNTS_PK, (1, 13))
    assert tx.commit().tables == {ACCOUNTS: TableDelta([(1, 13)], [(1, 10)])}


def test_noop_insert_emits_nothing() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(ACCOUNTS, (1, 10))
    tx.commit()
    tx = db.begin()
    tx.insert(ACCOUNTS, (1, 10))
    assert tx.commit().is_empty()


def test_unhashable_rows_cancel_too() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(EVENTS, (1, "a", ["x"]))
    tx.commit()
    tx = db.begin()
    tx.delete(EVENTS, (1, "a", ["x"]))
    tx.insert(EVENTS, (1, "a", ["x"]))
    tx.insert(EVENTS, (2, "b", ["y"]))
    assert tx.commit().tables == {EVENTS: TableDelta([(2, "b", ["y"])], [])}


def test_only_changed_tables_appear() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(USERS, (0, "a", 1))
    tx.insert(ACCOUNTS, (1, 1))
    tx.delete(ACCOUNTS, (1, 1))
    delta = tx.commit()
    assert set(delta.tables) == {USERS}
    tx = db.begin()
    tx.update(USERS_PK, (1, "a", 2))
    assert set(tx.commit().tables) == {USERS}


def test_cancelling_is_found_in_small_and_large_transactions_alike() -> None:
    """Up to a few rows the overlap of inserts and deletes is found by list membership, beyond by
    a set: both must net the same way (one row changed and changed back among many)."""
    for n in (1, 2, 3, 20):
        db = new_db()
        tx = db.begin()
        for i in range(n):
            tx.insert(ACCOUNTS, (i, 10))
        tx.commit()
        tx = db.begin()
        for i in range(n):
            tx.update(ACCOUNTS_PK, (i, 11))
        tx.update(ACCOUNTS_PK, (0, 10))  # the first row back as it was: it cancels
        delta = tx.commit()
        changed = [(i, 11) for i in range(1, n)]
        expected = {ACCOUNTS: TableDelta(changed, [(i, 10) for i in range(1, n)])} if changed else {}
        assert {t: TableDelta(sorted(d.inserts), sorted(d.deletes)) for t, d in delta.tables.items()} == expected
