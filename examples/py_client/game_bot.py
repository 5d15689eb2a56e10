"""Bots that play the arena game (examples/simple_game.py), on the Python client SDK's synchronous facade.

    python examples/py_client/game_bot.py --uri ws://127.0.0.1:3000 --db simple-game --bots 4 --turns 30

Each bot is its own connection (its own identity) built with `build_sync()`: a game loop that calls
`conn.frame_tick()` to apply what arrived (callbacks run there, on this thread) and then acts on
what its cache shows: it picks up items, walks towards the nearest living rival, attacks it when in
range, drinks a potion when hurt. Calls return futures; a bot waits for its own before its next turn.
It prints the game's events as they arrive and a scoreboard at the end.

`game_bindings/` next to this file is what `spacetimedb generate --lang python --out-dir
game_bindings -p examples/simple_game.py` writes.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time

from game_bindings import DbConnection, EventContext, GameEvent, Player, Position

from spacetimedb.client import ClientError, ReducerError, SubscribeAppliedEvent
from spacetimedb.client.pending import PendingCall

# The module's rules (examples/simple_game.py): a step is at most 10, an attack reaches 15.
MAX_STEP = 9.5
ATTACK_RANGE = 14.0
ARENA = 100.0
ITEMS = ("sword", "shield", "potion", "gem")


class Bot:
    def __init__(self, name: str, conn: DbConnection, rng: random.Random) -> None:
        self.name = name
        self.conn = conn
        self.rng = rng
        self.pending: PendingCall[None] | None = None
        self.refused = 0  # calls the module refused (out of range, dead, ...): part of the game

    def me(self) -> Player | None:
        return self.conn.db.player.identity.find(self.conn.identity)

    def call(self, pending: PendingCall[None]) -> None:
        self.pending = pending

    def settle(self) -> bool:
        """Process what arrived; True once the last call's answer is in (its error noted)."""
        self.conn.frame_tick()
        if self.pending is None:
            return True
        if not self.pending.done():
            return False
        try:
            self.pending.result()
        except ReducerError:
            self.refused += 1
        self.pending = None
        return True

    def turn(self) -> None:
        me = self.me()
        if me is None or not me.alive:
            return  # dead: the game tick revives us
        if me.health < 60 and "potion" in me.inventory:
            return self.call(self.conn.reducers.use_item("potion"))
        if len(me.inventory) < 3 and self.rng.random() < 0.25:
            return self.call(self.conn.reducers.pick_up_item(self.rng.choice(ITEMS)))
        rivals = [p for p in self.conn.db.player.iter() if p.identity != me.identity and p.alive]
        if not rivals:
            return self.call(self.step(me.position, Position(self.rng.uniform(0, ARENA), self.rng.uniform(0, ARENA))))
        target = min(rivals, key=lambda p: distance(me.position, p.position))
        if distance(me.position, target.position) <= ATTACK_RANGE:
            return self.call(self.conn.reducers.attack_player(target.name))
        return self.call(self.step(me.position, target.position))

    def step(self, here: Position, there: Position) -> PendingCall[None]:
        dx, dy = there.x - here.x, there.y - here.y
        scale = min(1.0, MAX_STEP / max(math.hypot(dx, dy), 1e-9))
        dx, dy = dx * scale, dy * scale  # keep inside the arena: the module refuses a step out of it
        dx = min(max(dx, -here.x), ARENA - here.x)
        dy = min(max(dy, -here.y), ARENA - here.y)
        return self.conn.reducers.move_player(dx, dy)


def distance(a: Position, b: Position) -> float:
    return math.hypot(a.x - b.x, a.y - b.y)


def connect(uri: str, db: str) -> DbConnection:
    """Connects at once (or raises); I/O runs on a background thread, callbacks in `frame_tick()`."""
    return DbConnection.builder().with_uri(uri).with_database_name(db).build_sync()


def wait_all(bots: list[Bot], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all([b.settle() for b in bots]):
        if time.monotonic() > deadline:
            raise TimeoutError("the server did not answer in time")
        time.sleep(0.005)


def print_event(ctx: EventContext, event: GameEvent) -> None:
    if not isinstance(ctx.event, SubscribeAppliedEvent):
        print(f"[{event.kind}] {event.message}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--uri", default="ws://127.0.0.1:3000", help="the server (default ws://127.0.0.1:3000)")
    p.add_argument("--db", default="simple-game", help="the database (default simple-game)")
    p.add_argument("--bots", type=int, default=3, help="how many bots play (default 3)")
    p.add_argument("--turns", type=int, default=30, help="turns each bot takes (default 30)")
    p.add_argument("--seed", type=int, default=None, help="seed the bots' choices (for repeatable runs)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    bots: list[Bot] = []
    try:
        for i in range(args.bots):
            name = f"bot-{i + 1}-{rng.randrange(10_000):04d}"
            conn = connect(args.uri, args.db)
            bots.append(Bot(name, conn, random.Random(rng.random())))
        watcher = bots[0].conn  # one bot narrates the game's events
        watcher.db.game_event.on_insert(print_event)
        subscriptions = [
            bot.conn.subscription_builder().subscribe(["SELECT * FROM player", "SELECT * FROM game_event"])
            for bot in bots
        ]
        # Game events are an event table (no rows to catch up on): join only once every bot, the
        # narrator included, is subscribed, or a join committed before that is never seen.
        deadline = time.monotonic() + 30
        while not all(s.is_active for s in subscriptions):
            if time.monotonic() > deadline:
                raise TimeoutError("the subscriptions were not applied in time")
            wait_all(bots, 30)
            time.sleep(0.005)
        for bot in bots:
            bot.call(bot.conn.reducers.join_game(bot.name))
        wait_all(bots, 30)
        for _ in range(args.turns):
            for bot in bots:
                bot.turn()
            wait_all(bots, 30)
        print("scoreboard:")
        for p in sorted(watcher.db.player.iter(), key=lambda p: (-p.score, p.name)):
            print(f"  {p.name:<16} score {p.score:>4}  kills {p.kills}  health {p.health:5.1f}  items {p.inventory}")
        for bot in bots:
            bot.call(bot.conn.reducers.leave_game())
        wait_all(bots, 30)
    except (ClientError, TimeoutError) as e:
        print(f"game_bot: {e}", file=sys.stderr)
        return 1
    finally:
        for bot in bots:
            bot.conn.disconnect().result(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
