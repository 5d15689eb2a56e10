"""A game bot's use of `simple_game_bindings`: nested types, floats, lists, optional identities."""

from __future__ import annotations

from simple_game_bindings import GameEvent, MovePlayerArgs, Player, Position


def step_towards(me: Player, target: Position) -> MovePlayerArgs:
    pos: Position = me.position
    dx: float = max(-5.0, min(5.0, target.x - pos.x))
    return MovePlayerArgs(dx=dx, dy=max(-5.0, min(5.0, target.y - pos.y)))


def inventory(me: Player) -> list[str]:
    return [*me.inventory, me.name]


def actor_known(event: GameEvent) -> bool:
    return event.actor is not None and event.id >= 0
