"""A small arena game: players join, move, fight, pick up and use items; a leaderboard and a
game clock run on schedules.

Shows: four tables (one with a nested `Position`), eight reducers with validation and bounds
checks, floats, lists, optional values, timestamps, `ctx.rng`, logging, and three scheduled
reducers (a 30 s game tick, a 2 min leaderboard rebuild, a one-time start announcement).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

from spacetimedb import (
    Identity,
    ReducerContext,
    SenderError,
    Timestamp,
    auto_inc,
    f32,
    index,
    init,
    primary_key,
    reducer,
    scheduled,
    table,
    u32,
    u64,
    unique,
)

ARENA_SIZE = 100.0
MAX_STEP = 10.0
ATTACK_RANGE = 15.0
BASE_DAMAGE = 20.0
SWORD_BONUS = 10.0
SHIELD_BLOCK = 5.0
MAX_HEALTH = 100.0
MAX_HEAL = 50.0
POTION_HEAL = 30.0
REGEN_PER_TICK = 5.0
MAX_INVENTORY = 5
ITEMS = ("sword", "shield", "potion", "gem")
LEADERBOARD_SIZE = 10
NAME_MAX = 24


@dataclass
class Position:
    x: f32
    y: f32

    def distance_to(self, other: Position) -> float:
        return math.hypot(self.x - other.x, self.y - other.y)


@table(public=True)
class GameState:
    id: Annotated[u32, primary_key]
    round: u32
    started_at: Timestamp
    last_tick: Timestamp
    tick_count: u64 = 0
    announcement: str = ""


@table(public=True)
class Player:
    identity: Annotated[Identity, primary_key]
    name: Annotated[str, unique]
    position: Position
    joined_at: Timestamp
    last_action: Timestamp
    health: f32 = MAX_HEALTH
    score: Annotated[u32, index] = 0
    kills: u32 = 0
    alive: bool = True
    inventory: list[str] = []


@table(public=True)
class GameEvent:
    id: Annotated[u64, primary_key, auto_inc]
    kind: Annotated[str, index]
    actor: Identity | None
    target: Identity | None
    message: str
    at: Timestamp


@table(public=True)
class LeaderboardEntry:
    rank: Annotated[u32, primary_key]
    player: Identity
    name: str
    score: u32
    kills: u32
    updated_at: Timestamp


# ---- helpers --------------------------------------------------------------------------------


def _event(ctx: ReducerContext, kind: str, message: str, target: Identity | None = None) -> None:
    actor = None if ctx.sender == ctx.identity else ctx.sender  # scheduled calls have no actor
    ctx.db.game_event.insert(
        GameEvent(id=0, kind=kind, actor=actor, target=target, message=message, at=ctx.timestamp)
    )


def _me(ctx: ReducerContext, *, alive: bool = True) -> Player:
    """The caller's player; SenderError if they have not joined (or are dead, when `alive`)."""
    me = ctx.db.player.identity.find(ctx.sender)
    if me is None:
        raise SenderError("You have not joined the game; call join_game first")
    if alive and not me.alive:
        raise SenderError("You are dead; wait for the next game tick to respawn")
    return me


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise SenderError(f"{name} must be a finite number")


def _random_position(ctx: ReducerContext) -> Position:
    return Position(ctx.rng.uniform(0.0, ARENA_SIZE), ctx.rng.uniform(0.0, ARENA_SIZE))


def _state(ctx: ReducerContext) -> GameState:
    state = ctx.db.game_state.id.find(0)
    if state is None:  # only if someone deleted it; recreate rather than fail every call
        state = ctx.db.game_state.insert(
            GameState(id=0, round=1, started_at=ctx.timestamp, last_tick=ctx.timestamp)
        )
    return state


# ---- lifecycle ------------------------------------------------------------------------------


@init
def setup(ctx: ReducerContext) -> None:
    ctx.db.game_state.insert(GameState(id=0, round=1, started_at=ctx.timestamp, last_tick=ctx.timestamp))
    ctx.log.info("arena ready")


# ---- player reducers ------------------------------------------------------------------------


@reducer
def join_game(ctx: ReducerContext, name: str) -> None:
    name = name.strip()
    if not name:
        raise SenderError("Name must not be empty")
    if len(name) > NAME_MAX:
        raise SenderError(f"Name must be at most {NAME_MAX} characters")
    if ctx.db.player.identity.find(ctx.sender) is not None:
        raise SenderError("You have already joined")
    if ctx.db.player.name.find(name) is not None:
        raise SenderError(f"The name {name!r} is taken")
    ctx.db.player.insert(
        Player(
            identity=ctx.sender,
            name=name,
            position=_random_position(ctx),
            joined_at=ctx.timestamp,
            last_action=ctx.timestamp,
        )
    )
    _event(ctx, "join", f"{name} joined the game")


@reducer
def move_player(ctx: ReducerContext, dx: f32, dy: f32) -> None:
    _check_finite("dx", dx)
    _check_finite("dy", dy)
    me = _me(ctx)
    step = math.hypot(dx, dy)
    if step > MAX_STEP:
        raise SenderError(f"You can move at most {MAX_STEP} per step (tried {step:.2f})")
    x, y = me.position.x + dx, me.position.y + dy
    if not (0.0 <= x <= ARENA_SIZE and 0.0 <= y <= ARENA_SIZE):
        raise SenderError(f"({x:.1f}, {y:.1f}) is outside the arena (0..{ARENA_SIZE})")
    me.position = Position(x, y)
    me.last_action = ctx.timestamp
    ctx.db.player.identity.update(me)


@reducer
def attack_player(ctx: ReducerContext, target_name: str) -> None:
    me = _me(ctx)
    target = ctx.db.player.name.find(target_name)
    if target is None:
        raise SenderError(f"No player named {target_name!r}")
    if target.identity == me.identity:
        raise SenderError("You cannot attack yourself")
    if not target.alive:
        raise SenderError(f"{target.name} is already dead")
    distance = me.position.distance_to(target.position)
    if distance > ATTACK_RANGE:
        raise SenderError(f"{target.name} is out of range ({distance:.1f} > {ATTACK_RANGE})")
    damage = BASE_DAMAGE + (SWORD_BONUS if "sword" in me.inventory else 0.0)
    if "shield" in target.inventory:
        damage -= SHIELD_BLOCK
    target.health = max(0.0, target.health - damage)
    me.last_action = ctx.timestamp
    if target.health == 0.0:
        target.alive = False
        me.kills += 1
        me.score += 100
        _event(ctx, "kill", f"{me.name} defeated {target.name}", target.identity)
    else:
        me.score += 10
        _event(ctx, "attack", f"{me.name} hit {target.name} for {damage:g}", target.identity)
    ctx.db.player.identity.update(target)
    ctx.db.player.identity.update(me)


@reducer
def heal_player(ctx: ReducerContext, amount: f32) -> None:
    _check_finite("amount", amount)
    if not 0.0 < amount <= MAX_HEAL:
        raise SenderError(f"Heal amount must be in (0, {MAX_HEAL}]")
    me = _me(ctx)
    me.health = min(MAX_HEALTH, me.health + amount)
    me.last_action = ctx.timestamp
    ctx.db.player.identity.update(me)


@reducer
def pick_up_item(ctx: ReducerContext, item: str) -> None:
    if item not in ITEMS:
        raise SenderError(f"Unknown item {item!r}; items are {', '.join(ITEMS)}")
    me = _me(ctx)
    if len(me.inventory) >= MAX_INVENTORY:
        raise SenderError(f"Your inventory is full ({MAX_INVENTORY} items)")
    me.inventory.append(item)
    me.last_action = ctx.timestamp
    ctx.db.player.identity.update(me)
    _event(ctx, "item", f"{me.name} picked up a {item}")


@reducer
def use_item(ctx: ReducerContext, item: str) -> None:
    me = _me(ctx)
    if item not in me.inventory:
        raise SenderError(f"You have no {item}")
    if item == "potion":
        me.health = min(MAX_HEALTH, me.health + POTION_HEAL)
    elif item == "gem":
        me.score += 50
    else:
        raise SenderError(f"A {item} is used automatically in combat; it cannot be used directly")
    me.inventory.remove(item)
    me.last_action = ctx.timestamp
    ctx.db.player.identity.update(me)


@reducer
def leave_game(ctx: ReducerContext) -> None:
    me = _me(ctx, alive=False)
    ctx.db.player.delete(me)
    _event(ctx, "leave", f"{me.name} left the game")


@reducer
def reset_game(ctx: ReducerContext) -> None:
    """Start a new round: everyone is removed, the leaderboard and event log cleared."""
    state = _state(ctx)
    removed = ctx.db.player.clear()
    ctx.db.leaderboard_entry.clear()
    ctx.db.game_event.clear()
    state.round += 1
    state.started_at = ctx.timestamp
    ctx.db.game_state.id.update(state)
    ctx.log.info(f"round {state.round} started; removed {removed} players")


# ---- scheduled ------------------------------------------------------------------------------


@scheduled(interval_ms=30_000)
def game_tick(ctx: ReducerContext) -> None:
    """Every 30 s: living players regenerate, dead ones respawn somewhere random."""
    for p in ctx.db.player:
        if p.alive:
            if p.health >= MAX_HEALTH:
                continue
            p.health = min(MAX_HEALTH, p.health + REGEN_PER_TICK)
        else:
            p.alive = True
            p.health = MAX_HEALTH
            p.position = _random_position(ctx)
        ctx.db.player.identity.update(p)
    state = _state(ctx)
    state.tick_count += 1
    state.last_tick = ctx.timestamp
    ctx.db.game_state.id.update(state)


@scheduled(interval_ms=120_000)
def leaderboard_update(ctx: ReducerContext) -> None:
    """Every 2 min: rebuild the top-10 leaderboard (score, then kills, then name)."""
    ranked = sorted(ctx.db.player, key=lambda p: (-p.score, -p.kills, p.name))[:LEADERBOARD_SIZE]
    ctx.db.leaderboard_entry.clear()
    for rank, p in enumerate(ranked, start=1):
        ctx.db.leaderboard_entry.insert(
            LeaderboardEntry(
                rank=rank, player=p.identity, name=p.name, score=p.score, kills=p.kills, updated_at=ctx.timestamp
            )
        )


@scheduled(delay_ms=5_000)
def start_announcement(ctx: ReducerContext) -> None:
    """Once, 5 s after the database is created."""
    state = _state(ctx)
    state.announcement = f"Round {state.round} has started. Good luck!"
    ctx.db.game_state.id.update(state)
    _event(ctx, "announcement", state.announcement)
