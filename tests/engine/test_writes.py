"""insert, delete, update and index_delete on one transaction."""

from __future__ import annotations

import pytest

from spacetimedb import SpacetimeError
from spacetimedb.engine import (
    IndexScanUnsupported,
    RowNotFound,
    UniqueConstraintViolation,
    UnknownTableOrIndex,
)

from .schemas import (
    ACCOUNTS,
    ACCOUNTS_PK,
    EVENTS,
    EVENTS_KIND,
    GRID,
    GRID_LABEL,
    GRID_XY,
    USERS,
    USERS_AGE,
    USERS_NAME,
    USERS_PK,
    new_db,
)


def test_insert_returns_row_and_is_readable_in_the_same_tx() -> None:
    tx = new_db().begin()
    assert tx.insert(ACCOUNTS, (1, 50)) == (1, 50)
    assert tx.index_find(ACCOUNTS_PK, 1) == (1, 50)
    assert list(tx.scan(ACCOUNTS)) == [(1, 50)]
    assert tx.count(ACCOUNTS) == 1


def test_insert_list_is_stored_as_tuple() -> None:
    tx = new_db().begin()
    assert tx.insert(ACCOUNTS, [1, 50]) == (1, 50)
    assert type(next(tx.scan(ACCOUNTS))) is tuple


def test_insert_identical_row_is_a_noop_returning_the_stored_row() -> None:
    tx = new_db().begin()
    first = tx.insert(ACCOUNTS, (1, 50))
    again = tx.insert(ACCOUNTS, (1, 50))
    assert again is first
    assert tx.count(ACCOUNTS) == 1


def test_insert_identical_row_without_unique_index_is_a_noop() -> None:
    tx = new_db().begin()
    tx.insert(EVENTS, (1, "k", ["a", "b"]))
    tx.insert(EVENTS, (1, "k", ["a", "b"]))
    tx.insert(EVENTS, (1, "k", ("a", "b")))  # same value, other sequence type
    assert tx.count(EVENTS) == 1


def test_primary_key_collision_raises_and_names_table_index_and_value() -> None:
    tx = new_db().begin()
    tx.insert(ACCOUNTS, (1, 50))
    with pytest.raises(UniqueConstraintViolation) as err:
        tx.insert(ACCOUNTS, (1, 60))
    assert isinstance(err.value, SpacetimeError)
    text = str(err.value)
    assert "accounts" in text and "accounts_id_idx_btree" in text and "id" in text and "1" in text
    assert err.value.value == 1


def test_unique_collision_leaves_tx_usable_and_unchanged() -> None:
    tx = new_db().begin()
    tx.insert(USERS, (1, "ann", 30))
    with pytest.raises(UniqueConstraintViolation, match="users_name_idx_hash"):
        tx.insert(USERS, (2, "ann", 40))
    assert tx.index_find(USERS_PK, 2) is None
    assert list(tx.index_filter(USERS_AGE, (40,))) == []
    tx.insert(USERS, (2, "bob", 40))
    tx.commit()


def test_multi_column_unique_value_in_message() -> None:
    tx = new_db().begin()
    tx.insert(GRID, (1, 1, "a"))
    with pytest.raises(UniqueConstraintViolation) as err:
        tx.insert(GRID, (2, 2, "a"))
    assert err.value.columns == ("label",)


def test_wrong_row_length_raises() -> None:
    tx = new_db().begin()
    with pytest.raises(ValueError, match="2 columns"):
        tx.insert(ACCOUNTS, (1, 2, 3))


def test_unknown_table_and_index() -> None:
    tx = new_db().begin()
    with pytest.raises(UnknownTableOrIndex):
        tx.insert(999, (1,))
    with pytest.raises(UnknownTableOrIndex):
        tx.index_find(999, 1)
    with pytest.raises(UnknownTableOrIndex):
        tx.update(999, (1,))


def test_delete() -> None:
    tx = new_db().begin()
    tx.insert(ACCOUNTS, (1, 50))
    assert tx.delete(ACCOUNTS, (1, 49)) is False
    assert tx.delete(ACCOUNTS, (1, 50)) is True
    assert tx.delete(ACCOUNTS, (1, 50)) is False
    assert tx.count(ACCOUNTS) == 0


def test_delete_without_unique_index_matches_whole_row() -> None:
    tx = new_db().begin()
    tx.insert(EVENTS, (1, "k", ["a"]))
    tx.insert(EVENTS, (1, "k", ["b"]))
    assert tx.delete(EVENTS, (1, "k", ["a"])) is True
    assert list(tx.index_filter(EVENTS_KIND, ("k",))) == [(1, "k", ["b"])]


def test_update_replaces_by_key() -> None:
    tx = new_db().begin()
    tx.insert(USERS, (1, "ann", 30))
    assert tx.update(USERS_PK, (1, "ann", 31)) == (1, "ann", 31)
    assert tx.index_find(USERS_NAME, "ann") == (1, "ann", 31)
    assert list(tx.index_filter(USERS_AGE, (30,))) == []
    assert list(tx.index_filter(USERS_AGE, (31,))) == [(1, "ann", 31)]


def test_update_missing_row_raises_row_not_found() -> None:
    tx = new_db().begin()
    with pytest.raises(RowNotFound, match="no row in table 'accounts'") as err:
        tx.update(ACCOUNTS_PK, (7, 1))
    assert isinstance(err.value, KeyError)
    assert "7" in str(err.value)


def test_update_through_non_unique_index_is_refused() -> None:
    tx = new_db().begin()
    tx.insert(USERS, (1, "ann", 30))
    with pytest.raises(IndexScanUnsupported):
        tx.update(USERS_AGE, (1, "ann", 30))


def test_update_into_collision_with_other_unique_index_raises_and_changes_nothing() -> None:
    tx = new_db().begin()
    tx.insert(USERS, (1, "ann", 30))
    tx.insert(USERS, (2, "bob", 40))
    with pytest.raises(UniqueConstraintViolation, match="users_name_idx_hash"):
        tx.update(USERS_PK, (1, "bob", 30))
    assert tx.index_find(USERS_PK, 1) == (1, "ann", 30)
    assert tx.index_find(USERS_NAME, "bob") == (2, "bob", 40)


def test_update_through_secondary_unique_index_may_change_primary_key() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(USERS, (1, "ann", 30))
    tx.insert(USERS, (2, "bob", 40))
    assert tx.update(USERS_NAME, (5, "ann", 30)) == (5, "ann", 30)
    assert tx.index_find(USERS_PK, 1) is None
    with pytest.raises(UniqueConstraintViolation, match="users_id_idx_btree"):
        tx.update(USERS_NAME, (2, "ann", 30))
    tx.commit()
    db.check_invariants()


def test_update_to_identical_row_returns_stored_row() -> None:
    tx = new_db().begin()
    stored = tx.insert(ACCOUNTS, (1, 50))
    assert tx.update(ACCOUNTS_PK, (1, 50)) is stored


def test_update_on_table_without_primary_key_through_unique_index() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(GRID, (1, 1, "a"))
    tx.update(GRID_LABEL, (3, 4, "a"))
    assert list(tx.index_filter(GRID_XY, (3, 4))) == [(3, 4, "a")]
    assert list(tx.index_filter(GRID_XY, (1, 1))) == []
    tx.commit()
    db.check_invariants()


def test_index_delete() -> None:
    db = new_db()
    tx = db.begin()
    for i in range(6):
        tx.insert(USERS, (i + 1, f"u{i}", i % 2))
    assert tx.index_delete(USERS_AGE, (1,)) == 3
    assert sorted(r[0] for r in tx.scan(USERS)) == [1, 3, 5]
    assert tx.index_delete(USERS_AGE, (7,)) == 0
    assert tx.index_delete(USERS_PK, (3,)) == 1
    tx.commit()
    db.check_invariants()


def test_delete_while_scanning() -> None:
    db = new_db()
    tx = db.begin()
    for i in range(10):
        tx.insert(ACCOUNTS, (i, i))
    for row in tx.scan(ACCOUNTS):
        tx.delete(ACCOUNTS, row)
        tx.insert(ACCOUNTS, (row[0] + 100, 0))
    assert tx.count(ACCOUNTS) == 10
    tx.commit()
    db.check_invariants()


def test_insert_failing_in_a_secondary_index_leaves_nothing_behind() -> None:
    from spacetimedb.engine import UnindexableValue

    class Opaque:
        __hash__ = None  # type: ignore[assignment]

    db = new_db()
    tx = db.begin()
    # OPTS has a pk on a u32 and a btree on an Option column: the option's key cannot be formed.
    from .schemas import OPTS, OPTS_PK

    with pytest.raises(UnindexableValue):
        tx.insert(OPTS, (1, Opaque(), b""))
    assert tx.index_find(OPTS_PK, 1) is None
    tx.insert(OPTS, (1, 3, b""))
    tx.commit()
    db.check_invariants()


@pytest.mark.parametrize("table,index,row", [(ACCOUNTS, ACCOUNTS_PK, (1, 10)), (USERS, USERS_PK, (1, "ann", 30))])
def test_update_checks_shape_and_key_on_both_prepared_paths(table: int, index: int, row: tuple) -> None:
    """`accounts` (one plain unique index) takes the specialized updater, `users` (other indexes,
    a sequence) the general one: both check the row before changing anything, and a failed
    update leaves the transaction usable."""
    db = new_db()
    tx = db.begin()
    tx.insert(table, row)
    changed = (row[0], 11) if table == ACCOUNTS else (row[0], "ann", 31)
    with pytest.raises(SpacetimeError, match="columns but the row has 1"):
        tx.update(index, (row[0],))
    with pytest.raises(RowNotFound):
        tx.update(index, (99, *changed[1:]))
    assert tx.update(index, list(row)) == row  # identical: nothing to do, the stored row back
    assert tx.update(index, list(changed)) == changed  # a list is taken as a tuple
    assert tx.unique_updaters[index](changed) == changed  # the handles' fast path: same function
    with pytest.raises(UnknownTableOrIndex):
        tx.unique_updaters[12345]
    with pytest.raises(UnknownTableOrIndex):
        tx.unique_finders[12345]
    assert tx.unique_finders[index](row[0]) == changed
    assert tx.commit().tables[table].inserts == [changed]
    assert db._log == []  # the shared undo log is empty between transactions
    tx = db.begin()
    with pytest.raises(IndexScanUnsupported):
        tx.unique_updaters[USERS_AGE]
    tx.update(index, row)
    tx.rollback()
    assert db.index_find(index, row[0]) == changed and db._log == []
