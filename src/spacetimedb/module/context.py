"""`ReducerContext`: what a reducer gets as its first argument, and the module's log."""

from __future__ import annotations

import random
from collections.abc import Callable

from spacetimedb.module.auth import AuthCtx
from spacetimedb.module.db_view import DbView
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

#: Receives (level, message) for the database's log; the host binds the reducer name and time.
LogSink = Callable[[str, str], None]


class ModuleLog:
    """`ctx.log("msg")` logs at info; `ctx.log.debug/info/warn/error(...)` pick a level.

    Messages may use %-style arguments: `ctx.log.info("moved %s to %d", name, x)`.
    """

    __slots__ = ("_sink",)

    def __init__(self, sink: LogSink) -> None:
        self._sink = sink

    def __call__(self, message: object, *args: object) -> None:
        self._emit("info", message, args)

    def trace(self, message: object, *args: object) -> None:
        self._emit("trace", message, args)

    def debug(self, message: object, *args: object) -> None:
        self._emit("debug", message, args)

    def info(self, message: object, *args: object) -> None:
        self._emit("info", message, args)

    def warn(self, message: object, *args: object) -> None:
        self._emit("warn", message, args)

    warning = warn

    def error(self, message: object, *args: object) -> None:
        self._emit("error", message, args)

    def _emit(self, level: str, message: object, args: tuple[object, ...]) -> None:
        text = str(message) % args if args else str(message)
        self._sink(level, text)


class ReducerContext:
    """The caller and the database, for one reducer call.

    - `sender`: the caller's Identity (the database's own identity for scheduled calls and init).
    - `connection_id`: the caller's ConnectionId, or None for scheduled calls, init and HTTP-less calls.
    - `timestamp`: when the call started (a Timestamp); the same for every nested call.
    - `identity`: the database's own Identity.
    - `sender_auth`: the caller's credentials (an `AuthCtx`): `sender_auth.jwt` is the caller's
      token claims (`issuer`, `subject`, `audience`, `identity`, `raw_payload`), or None for the
      database's own calls (`sender_auth.is_internal`) and callers without a token.
    - `db`: the tables (`ctx.db.player`, `ctx.db.get_table(Player)`).
    - `rng`: a `random.Random` seeded from the call, so reducers stay deterministic.
    - `log`: the database log (`ctx.log.info(...)`); the stdlib `logging` module goes there too.
    """

    __slots__ = ("_rng", "_seed", "connection_id", "db", "identity", "log", "sender", "sender_auth", "timestamp")

    def __init__(
        self,
        *,
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp,
        identity: Identity,
        db: DbView,
        log: ModuleLog,
        seed: int,
        sender_auth: AuthCtx = AuthCtx.INTERNAL,
    ) -> None:
        self.sender = sender
        self.sender_auth = sender_auth
        self.connection_id = connection_id
        self.timestamp = timestamp
        self.identity = identity
        self.db = db
        self.log = log
        self._seed = seed
        self._rng: random.Random | None = None

    @property
    def rng(self) -> random.Random:
        # Built on first use: constructing a Random costs more than a whole simple reducer.
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return self._rng

    def __repr__(self) -> str:
        return f"ReducerContext(sender={self.sender!r}, connection_id={self.connection_id!r}, timestamp={self.timestamp!r})"
