"""`TestDatabase.view` over the money-exchange example: per-caller views, read-only views."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest

from spacetimedb import ViewContext, u32, view
from spacetimedb.module import ModuleDef, primary_key, table
from spacetimedb.module.declarations import collecting
from spacetimedb.module.runner import FailureKind
from spacetimedb.testing import ReducerUserError, TestDatabase, ViewError, identity

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "money_exchange.py"
ADA = identity("ada")
BOB = identity("bob")


def _exchange() -> TestDatabase:
    db = TestDatabase.load(EXAMPLE)
    for who in (ADA, BOB):
        db.connect(who)
    db.call("set_name", "Ada", sender=ADA)
    db.call("set_name", " Bob ", sender=BOB)
    return db


def test_each_caller_sees_only_its_own_account() -> None:
    db = _exchange()
    (mine,) = db.view("my_account", sender=ADA)
    assert (mine.identity, mine.balance_cents) == (ADA, 10_000)
    assert db.view("my_account", sender=identity("nobody")) == []
    assert db.view("my_account_changes", sender=ADA) == []


def test_a_transfer_shows_in_both_callers_views() -> None:
    db = _exchange()
    db.call("transfer", BOB, 2_500, sender=ADA)
    assert db.view("my_account", sender=ADA)[0].balance_cents == 7_500
    assert db.view("my_account", sender=BOB)[0].balance_cents == 12_500
    (debit,) = db.view("my_account_changes", sender=ADA)
    (credit,) = db.view("my_account_changes", sender=BOB)
    assert (debit.direction.name, debit.counterparty_identity, debit.amount_cents) == ("Debit", BOB, 2_500)
    assert (credit.direction.name, credit.counterparty_identity) == ("Credit", ADA)
    assert debit.created_at == db.now


def test_the_reducers_refuse_as_the_template_does() -> None:
    db = _exchange()
    with pytest.raises(ReducerUserError, match="Insufficient funds"):
        db.call("transfer", BOB, 10_001, sender=ADA)
    with pytest.raises(ReducerUserError, match="yourself"):
        db.call("transfer", ADA, 1, sender=ADA)
    with pytest.raises(ReducerUserError, match="already in use"):
        db.call("set_name", "ada", sender=BOB)
    with pytest.raises(ReducerUserError, match="Recipient does not exist"):
        db.call("transfer", identity("ghost"), 1, sender=ADA)
    assert sorted(d.name for d in db.table("directory")) == ["Ada", "Bob"]


def test_an_unknown_view_and_a_failing_view_raise() -> None:
    db = _exchange()
    with pytest.raises(Exception, match="no view 'nope'"):
        db.view("nope")

    with collecting() as found:

        @table
        class Item:
            id: Annotated[u32, primary_key]

        @view(public=True)
        def greedy(ctx: ViewContext) -> list[Item]:
            ctx.db.item.insert(Item(id=1))
            return []

    tdb = TestDatabase(ModuleDef.build(found, "greedy"))
    with pytest.raises(ViewError) as e:
        tdb.view("greedy")
    assert e.value.failure.kind is FailureKind.INTERNAL_ERROR and "read-only" in e.value.failure.message
    assert tdb.count("item") == 0
