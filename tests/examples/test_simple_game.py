"""examples/simple_game.py: combat, inventory, bounds, schedules and the leaderboard."""

from __future__ import annotations

from typing import Any

import pytest

from spacetimedb.sats.special import Identity
from spacetimedb.testing import ReducerUserError, TestDatabase, identity

from .conftest import EXAMPLES

ALICE = identity("alice")
BOB = identity("bob")
CAROL = identity("carol")


@pytest.fixture
def db() -> TestDatabase:
    return TestDatabase.load(EXAMPLES / "simple_game.py")


def player(db: TestDatabase, who: Identity) -> Any:
    return db.find("player", who)


def place(db: TestDatabase, who: Identity, x: float, y: float) -> None:
    """Walk a player to (x, y) in legal steps."""
    while True:
        p = player(db, who)
        dx, dy = x - p.position.x, y - p.position.y
        dist = (dx * dx + dy * dy) ** 0.5
        if dist < 1e-3:
            return
        scale = min(1.0, 9.0 / dist)
        db.call("move_player", dx * scale, dy * scale, sender=who)


@pytest.fixture
def duel(db: TestDatabase) -> TestDatabase:
    db.call("join_game", "Alice", sender=ALICE)
    db.call("join_game", "Bob", sender=BOB)
    place(db, ALICE, 50.0, 50.0)
    place(db, BOB, 55.0, 50.0)
    return db


def test_tables_and_reducers(db: TestDatabase) -> None:
    assert [t.name for t in db.module.tables][:4] == ["game_state", "player", "game_event", "leaderboard_entry"]
    names = set(db.module.reducers)
    assert {
        "join_game",
        "move_player",
        "attack_player",
        "heal_player",
        "pick_up_item",
        "use_item",
        "leave_game",
        "reset_game",
        "game_tick",
        "leaderboard_update",
        "start_announcement",
    } <= names


def test_join_validates_names(db: TestDatabase) -> None:
    db.call("join_game", "Alice", sender=ALICE)
    p = player(db, ALICE)
    assert (p.name, p.health, p.inventory, p.alive) == ("Alice", 100.0, [], True)
    assert 0 <= p.position.x <= 100 and 0 <= p.position.y <= 100
    with pytest.raises(ReducerUserError, match="already joined"):
        db.call("join_game", "Other", sender=ALICE)
    with pytest.raises(ReducerUserError, match="taken"):
        db.call("join_game", "Alice", sender=BOB)
    with pytest.raises(ReducerUserError, match="must not be empty"):
        db.call("join_game", "  ", sender=BOB)
    with pytest.raises(ReducerUserError, match="at most 24"):
        db.call("join_game", "x" * 25, sender=BOB)


def test_moves_are_bounded(duel: TestDatabase) -> None:
    with pytest.raises(ReducerUserError, match="at most 10"):
        duel.call("move_player", 8.0, 8.0, sender=ALICE)
    place(duel, ALICE, 98.0, 50.0)
    with pytest.raises(ReducerUserError, match="outside the arena"):
        duel.call("move_player", 5.0, 0.0, sender=ALICE)
    with pytest.raises(ReducerUserError, match="finite"):
        duel.call("move_player", float("nan"), 0.0, sender=ALICE)
    with pytest.raises(ReducerUserError, match="not joined"):
        duel.call("move_player", 1.0, 0.0, sender=CAROL)


def test_combat_kills_and_respawn_on_tick(duel: TestDatabase) -> None:
    for _ in range(4):
        duel.call("attack_player", "Bob", sender=ALICE)
    assert player(duel, BOB).health == 20.0
    duel.call("attack_player", "Bob", sender=ALICE)
    bob, alice = player(duel, BOB), player(duel, ALICE)
    assert (bob.alive, bob.health) == (False, 0.0)
    assert (alice.kills, alice.score) == (1, 140)
    with pytest.raises(ReducerUserError, match="already dead"):
        duel.call("attack_player", "Bob", sender=ALICE)
    with pytest.raises(ReducerUserError, match="You are dead"):
        duel.call("attack_player", "Alice", sender=BOB)
    kinds = [e.kind for e in duel.table("game_event")]
    assert kinds.count("attack") == 4 and kinds.count("kill") == 1
    duel.advance(30)
    bob = player(duel, BOB)
    assert (bob.alive, bob.health) == (True, 100.0)


def test_attack_range_and_self(duel: TestDatabase) -> None:
    with pytest.raises(ReducerUserError, match="cannot attack yourself"):
        duel.call("attack_player", "Alice", sender=ALICE)
    place(duel, BOB, 80.0, 50.0)
    with pytest.raises(ReducerUserError, match="out of range"):
        duel.call("attack_player", "Bob", sender=ALICE)
    with pytest.raises(ReducerUserError, match="No player named"):
        duel.call("attack_player", "Zed", sender=ALICE)


def test_items_change_combat_and_inventory(duel: TestDatabase) -> None:
    duel.call("pick_up_item", "sword", sender=ALICE)
    duel.call("pick_up_item", "shield", sender=BOB)
    duel.call("attack_player", "Bob", sender=ALICE)
    assert player(duel, BOB).health == 75.0  # 20 + 10 sword - 5 shield
    with pytest.raises(ReducerUserError, match="used automatically"):
        duel.call("use_item", "sword", sender=ALICE)
    duel.call("pick_up_item", "potion", sender=BOB)
    duel.call("use_item", "potion", sender=BOB)
    assert (player(duel, BOB).health, player(duel, BOB).inventory) == (100.0, ["shield"])
    with pytest.raises(ReducerUserError, match="no potion"):
        duel.call("use_item", "potion", sender=BOB)
    with pytest.raises(ReducerUserError, match="Unknown item"):
        duel.call("pick_up_item", "laser", sender=BOB)
    for _ in range(4):
        duel.call("pick_up_item", "gem", sender=BOB)
    with pytest.raises(ReducerUserError, match="inventory is full"):
        duel.call("pick_up_item", "gem", sender=BOB)
    duel.call("use_item", "gem", sender=BOB)
    assert player(duel, BOB).score == 50


def test_heal_bounds(duel: TestDatabase) -> None:
    duel.call("attack_player", "Bob", sender=ALICE)
    duel.call("heal_player", 5.5, sender=BOB)
    assert player(duel, BOB).health == 85.5
    duel.call("heal_player", 50.0, sender=BOB)
    assert player(duel, BOB).health == 100.0
    for bad in (0.0, -1.0, 50.5):
        with pytest.raises(ReducerUserError, match="Heal amount"):
            duel.call("heal_player", bad, sender=BOB)


def test_game_tick_regenerates_every_30_seconds(duel: TestDatabase) -> None:
    duel.call("attack_player", "Bob", sender=ALICE)
    results = duel.advance(65)
    ticks = [r for r in results if r.reducer == "game_tick"]
    assert len(ticks) == 2 and all(r.ok for r in ticks)
    assert player(duel, BOB).health == 90.0
    (state,) = duel.table("game_state")
    assert state.tick_count == 2 and state.last_tick.micros == ticks[-1].timestamp.micros


def test_start_announcement_fires_once(db: TestDatabase) -> None:
    db.advance(4)
    assert db.table("game_state")[0].announcement == ""
    db.advance(1)
    assert db.table("game_state")[0].announcement.startswith("Round 1 has started")
    db.advance(600)
    announcements = [e for e in db.table("game_event") if e.kind == "announcement"]
    assert len(announcements) == 1 and announcements[0].actor is None
    assert db.table("start_announcement_schedule") == []


def test_leaderboard_every_two_minutes(duel: TestDatabase) -> None:
    duel.call("join_game", "Carol", sender=CAROL)
    duel.call("pick_up_item", "gem", sender=CAROL)
    duel.call("use_item", "gem", sender=CAROL)
    duel.call("attack_player", "Bob", sender=ALICE)
    duel.advance(119)
    assert duel.table("leaderboard_entry") == []
    duel.advance(1)
    board = [(e.rank, e.name, e.score) for e in duel.table("leaderboard_entry")]
    assert board == [(1, "Carol", 50), (2, "Alice", 10), (3, "Bob", 0)]


def test_leave_and_reset(duel: TestDatabase) -> None:
    duel.call("leave_game", sender=BOB)
    assert player(duel, BOB) is None
    with pytest.raises(ReducerUserError, match="not joined"):
        duel.call("leave_game", sender=BOB)
    duel.call("reset_game", sender=ALICE)
    assert duel.table("player") == [] and duel.table("game_event") == []
    assert duel.table("game_state")[0].round == 2
