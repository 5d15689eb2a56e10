"""examples/bank.py: the keynote transfer workload."""

from __future__ import annotations

import pytest

from spacetimedb.host import ReducerArgumentsError
from spacetimedb.testing import ReducerUserError, TestDatabase

from .conftest import EXAMPLES


@pytest.fixture
def db() -> TestDatabase:
    d = TestDatabase.load(EXAMPLES / "bank.py")
    d.call("seed", 5, 100)
    return d


def balances(db: TestDatabase) -> list[int]:
    return [a.balance for a in db.table("accounts")]


def test_seed_replaces_every_account(db: TestDatabase) -> None:
    assert [a.id for a in db.table("accounts")] == [0, 1, 2, 3, 4]
    db.call("seed", 2, 7)
    assert balances(db) == [7, 7]


def test_transfer_moves_money_and_keeps_the_total(db: TestDatabase) -> None:
    db.call("transfer", 0, 1, 30)
    db.call("transfer", 1, 4, 130)
    assert balances(db) == [70, 0, 100, 100, 230]
    assert sum(balances(db)) == 500


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((2, 2, 1), "cannot transfer to the same account"),
        ((0, 1, 0), "amount must be positive"),
        ((0, 1, -5), "amount must be positive"),
        ((9, 1, 1), "account 9 does not exist"),
        ((0, 9, 1), "account 9 does not exist"),
        ((0, 1, 101), "insufficient funds: account 0 has 100, needs 101"),
    ],
)
def test_rejected_transfers_change_nothing(db: TestDatabase, args: tuple[int, int, int], message: str) -> None:
    with pytest.raises(ReducerUserError) as e:
        db.call("transfer", *args)
    assert e.value.message == message
    assert balances(db) == [100] * 5


def test_bad_arguments(db: TestDatabase) -> None:
    with pytest.raises(ReducerArgumentsError, match="takes 3 argument"):
        db.call("transfer", 0, 1)
    with pytest.raises(ReducerArgumentsError, match="out of range for u32"):
        db.call("transfer", -1, 1, 5)
    with pytest.raises(ReducerArgumentsError, match="from_id"):
        db.call("transfer", "0", 1, 5)
    assert balances(db) == [100] * 5
