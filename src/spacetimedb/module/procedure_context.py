"""`ProcedureContext`: what a procedure gets as its first argument.

- `sender`, `connection_id`, `timestamp`, `identity`, `sender_auth`, `rng`, `log`: as on a
  `ReducerContext` (`timestamp` is when the procedure started).
- `http`: the outbound HTTP client (`spacetimedb.module.http_client`).
- `with_tx(fn)`: runs `fn(tx)` in one transaction; `tx` is a `ReducerContext` (`tx.db`,
  `tx.sender`, `tx.timestamp` of the transaction). It commits when `fn` returns (the commit is
  logged and sent to subscribers like a reducer's) and rolls back when `fn` raises (the exception
  then propagates out of `with_tx`). Returns what `fn` returned. `try_with_tx(fn)` is the same
  (a Python exception is the `Err` of upstream's `try_with_tx`).

A procedure has no `db`: its reads and writes happen inside `with_tx`, so it never holds a
transaction open while it waits on the network.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, TypeVar

from spacetimedb.module.auth import AuthCtx
from spacetimedb.module.context import ModuleLog, ReducerContext
from spacetimedb.module.http_client import HttpClient
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

T = TypeVar("T")

#: Runs `fn(tx_ctx)` in one transaction for the procedure (the host's part): commits when it
#: returns, rolls back and re-raises when it raises.
TxRunner = Callable[[Callable[[ReducerContext], Any]], Any]


class ProcedureContext:
    __slots__ = (
        "_in_tx", "_rng", "_run_tx", "connection_id", "http", "identity", "log", "sender", "sender_auth", "timestamp",
    )  # fmt: skip

    def __init__(
        self,
        *,
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp,
        identity: Identity,
        sender_auth: AuthCtx,
        log: ModuleLog,
        http: HttpClient,
        run_tx: TxRunner,
        seed: int,
    ) -> None:
        self.sender = sender
        self.connection_id = connection_id
        self.timestamp = timestamp
        self.identity = identity
        self.sender_auth = sender_auth
        self.log = log
        self.http = http
        self._run_tx = run_tx
        self._in_tx = False
        self._rng = random.Random(seed)

    @property
    def rng(self) -> random.Random:
        return self._rng

    @property
    def in_transaction(self) -> bool:
        return self._in_tx

    def with_tx(self, fn: Callable[[ReducerContext], T]) -> T:
        if self._in_tx:
            raise RuntimeError("ctx.with_tx cannot be nested: use the `tx` you were given")
        self._in_tx = True
        try:
            result: T = self._run_tx(fn)
        finally:
            self._in_tx = False
        return result

    try_with_tx = with_tx

    def __repr__(self) -> str:
        return f"ProcedureContext(sender={self.sender!r}, connection_id={self.connection_id!r}, timestamp={self.timestamp!r})"
