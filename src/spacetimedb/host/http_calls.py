"""HTTP handler calls on the native host: the result, and the transactions `ctx.with_tx` borrows.

A handler runs outside any transaction; each `with_tx` is one transaction of its own, committed
like a reducer's (next tx offset, commit log, scheduler, commit listeners), so subscribers see a
webhook's writes as they see a reducer's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from spacetimedb.engine.database import Database
from spacetimedb.engine.transaction import MutTx
from spacetimedb.host.results import ReducerCallResult
from spacetimedb.module.datastore import Datastore
from spacetimedb.module.http_handler import Response
from spacetimedb.sats.special import Identity, Timestamp


class TransactionFailed(RuntimeError):
    """A `with_tx` transaction (a procedure's or an HTTP handler's) could not be committed (the
    commit log or a view refused it): rolled back."""


@dataclass(slots=True)
class HttpHandlerResult:
    #: The handler's name.
    handler: str
    #: What the handler returned (None when it failed).
    response: Response | None
    #: Why it failed (the handler raised, returned something else, or ran past the time limit).
    error: str | None
    #: Every `with_tx` the handler committed, in order (also when it failed afterwards).
    commits: list[ReducerCallResult] = field(default_factory=list)


class HostTransactions:
    """`with_tx`'s transactions for one handler call: `record(delta, ts, name)` commits the way
    the host commits everything (`ModuleHost.record_commit`)."""

    __slots__ = ("_caller", "_db", "_name", "_record", "_timestamp", "commits")

    def __init__(
        self,
        db: Database,
        record: Callable[..., ReducerCallResult],
        name: str,
        timestamp: Timestamp,
        caller: Identity,
    ) -> None:
        self._db = db
        self._record = record
        self._name = name
        self._timestamp = timestamp
        self._caller = caller
        self.commits: list[ReducerCallResult] = []

    def begin(self) -> Datastore:
        return self._db.begin()

    def commit(self, tx: Datastore) -> None:
        assert isinstance(tx, MutTx)
        delta = tx.commit()
        if delta.is_empty():
            return  # a read-only with_tx: nothing to log, no tx offset used
        result = self._record(delta, caller=self._caller, timestamp=self._timestamp, reducer=self._name)
        if not result.committed:
            raise TransactionFailed(result.error or "the transaction was rolled back")
        self.commits.append(result)

    def rollback(self, tx: Datastore) -> None:
        assert isinstance(tx, MutTx)
        tx.rollback()
