"""`ModuleRunner` without our engine or host: a host that owns only a transaction (a dict-backed
`Datastore` here, as an adapter onto another database's syscalls would be) drives a module with
the same call rules `ModuleHost` uses."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated, Any

import pytest

from spacetimedb.module import (
    ModuleDef,
    NoTransactionError,
    ReducerContext,
    SenderError,
    primary_key,
    reducer,
    table,
)
from spacetimedb.module.call_errors import ReducerArgumentsError
from spacetimedb.module.datastore import Bound, Row
from spacetimedb.module.declarations import collecting
from spacetimedb.module.reducer import init, scheduled
from spacetimedb.module.runner import CallFailure, FailureKind, ModuleRunner
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp
from spacetimedb.sats.widths import u32

DB = Identity(1)
ALICE = Identity(2)
CONN = ConnectionId(3)
T0 = Timestamp(1_700_000_000_000_000)


class DictStore:
    """One open transaction over plain dicts: primary key -> row, per table (what a foreign host
    would hand the runner). Only what the test module uses."""

    def __init__(self, committed: dict[int, dict[Any, Row]], pk_index: dict[int, int]) -> None:
        self.tables = {tid: dict(rows) for tid, rows in committed.items()}
        self._table_of_index = pk_index

    def insert(self, table_id: int, row: Row) -> Row:
        self.tables.setdefault(table_id, {})[row[0]] = row
        return row

    def delete(self, table_id: int, row: Row) -> bool:
        return self.tables.get(table_id, {}).pop(row[0], None) is not None

    def scan(self, table_id: int) -> Iterator[Row]:
        return iter(list(self.tables.get(table_id, {}).values()))

    def count(self, table_id: int) -> int:
        return len(self.tables.get(table_id, {}))

    def index_find(self, index_id: int, key: Any) -> Row | None:
        return self.tables.get(self._table_of_index[index_id], {}).get(key)

    def index_filter(self, index_id: int, prefix: tuple[Any, ...]) -> Iterator[Row]:
        raise NotImplementedError

    def index_range(self, index_id: int, prefix: tuple[Any, ...], lower: Bound, upper: Bound) -> Iterator[Row]:
        raise NotImplementedError

    def index_delete(self, index_id: int, prefix: tuple[Any, ...]) -> int:
        raise NotImplementedError

    def update(self, index_id: int, row: Row) -> Row:
        return self.insert(self._table_of_index[index_id], row)


class ForeignHost:
    """The smallest host: begin = copy, commit = keep the copy, rollback = drop it."""

    def __init__(self, module: ModuleDef, guard: Any = None) -> None:
        self.committed: dict[int, dict[Any, Row]] = {}
        self.pk_index = {
            t.schema.primary_index.index_id: t.schema.table_id for t in module.tables if t.schema.primary_index
        }
        self.logs: list[tuple[str, str, str | None, Timestamp | None]] = []
        self.runner = ModuleRunner(module, identity=DB, log=lambda *rec: self.logs.append(rec), guard=guard)

    def call(self, name: str, args: Any, *, fmt: Any = "python", ts: Timestamp = T0, salt: int = 0) -> CallFailure | None:
        r = self.runner.reducers[name]
        values = r.decode(args, fmt)
        tx = DictStore(self.committed, self.pk_index)
        failure = self.runner.run_reducer(tx, r.fn, values, r.name, ALICE, CONN, ts, salt)
        if failure is None:
            self.committed = tx.tables
        return failure

    def rows(self, table_id: int = 0) -> list[Row]:
        return sorted(self.committed.get(table_id, {}).values())


seen: dict[str, Any] = {}
module_logger = logging.getLogger("tests.module.test_runner.bank")


def _module() -> ModuleDef:
    with collecting() as found:

        @table
        class Account:
            id: Annotated[u32, primary_key]
            balance: u32

        @reducer
        def open_account(ctx: ReducerContext, id: u32, balance: u32) -> None:
            ctx.db.account.insert(Account(id=id, balance=balance))

        @reducer
        def withdraw(ctx: ReducerContext, id: u32, amount: u32) -> None:
            acct = ctx.db.account.id.find(id)
            if acct is None or acct.balance < amount:
                raise SenderError("insufficient funds")
            acct.balance -= amount
            ctx.db.account.id.update(acct)

        @reducer
        def open_then_withdraw(ctx: ReducerContext, id: u32, amount: u32) -> None:
            open_account(ctx, id, 10)  # a nested call: the same transaction
            withdraw(ctx, id, amount)

        @reducer
        def broken(ctx: ReducerContext) -> None:
            ctx.db.account.insert(Account(id=99, balance=0))
            raise ValueError("bug")

        @reducer
        def exits(ctx: ReducerContext) -> None:
            raise SystemExit(3)

        @reducer
        def look(ctx: ReducerContext) -> None:
            seen.update(
                sender=ctx.sender, conn=ctx.connection_id, ts=ctx.timestamp, identity=ctx.identity,
                draws=[ctx.rng.random() for _ in range(3)], ctx=ctx,
            )
            ctx.log.info("hello %s", "world")
            module_logger.warning("from logging")

    return ModuleDef.build(found, "bank")


@pytest.fixture
def host() -> ForeignHost:
    return ForeignHost(_module())


def test_a_call_that_returns_commits(host: ForeignHost) -> None:
    assert host.call("open_account", (1, 50)) is None
    assert host.rows() == [(1, 50)]


def test_sender_error_is_the_callers_fault_and_rolls_back(host: ForeignHost) -> None:
    host.call("open_account", (1, 5))
    assert host.call("withdraw", (1, 9)) == CallFailure(FailureKind.SENDER_ERROR, "insufficient funds")
    assert host.rows() == [(1, 5)]
    assert host.logs == []  # the caller's fault is not the module's: nothing logged


def test_other_exceptions_are_internal_errors_with_the_traceback_logged(host: ForeignHost) -> None:
    assert host.call("broken", ()) == CallFailure(FailureKind.INTERNAL_ERROR, "ValueError: bug")
    assert host.rows() == []
    ((level, message, name, ts),) = host.logs
    assert (level, name, ts) == ("error", "broken", T0)
    assert "Traceback" in message and "ValueError: bug" in message


def test_a_base_exception_fails_the_call_only(host: ForeignHost) -> None:
    failure = host.call("exits", ())
    assert failure is not None and failure.kind is FailureKind.INTERNAL_ERROR
    assert failure.message.startswith("SystemExit(3) raised by module code")


def test_nested_calls_share_the_transaction(host: ForeignHost) -> None:
    assert host.call("open_then_withdraw", (1, 4)) is None
    assert host.rows() == [(1, 6)]
    # The inner call's error is the outer call's: its writes roll back with the outer ones.
    assert host.call("open_then_withdraw", (2, 40)) == CallFailure(FailureKind.SENDER_ERROR, "insufficient funds")
    assert host.rows() == [(1, 6)]


def test_the_context_is_filled_and_closed_after_the_call(host: ForeignHost) -> None:
    host.call("look", ())
    assert (seen["sender"], seen["conn"], seen["ts"], seen["identity"]) == (ALICE, CONN, T0, DB)
    assert host.runner.running is None
    with pytest.raises(NoTransactionError):
        seen["ctx"].db.account.count()


def test_rng_is_deterministic_per_timestamp_and_salt(host: ForeignHost) -> None:
    def draws(ts: Timestamp, salt: int) -> list[float]:
        host.call("look", (), ts=ts, salt=salt)
        return list(seen["draws"])

    first = draws(T0, 0)
    assert draws(T0, 0) == first
    assert draws(T0, 1) != first
    assert draws(Timestamp(T0.micros + 1), 0) != first


def test_ctx_log_and_stdlib_logging_reach_the_sink_with_the_call(host: ForeignHost) -> None:
    host.call("look", ())
    assert host.logs == [("info", "hello world", "look", T0), ("warn", "from logging", "look", T0)]
    host.logs.clear()
    module_logger.warning("between calls")  # not a call's record: not the database's
    seen["ctx"].log("late")  # a context kept past its call: the host stamps it
    assert host.logs == [("info", "late", None, None)]


def test_arguments_decode_from_bsatn_and_python(host: ForeignHost) -> None:
    assert host.call("open_account", bytes([1, 0, 0, 0, 7, 0, 0, 0]), fmt="bsatn") is None
    assert host.rows() == [(1, 7)]
    with pytest.raises(ReducerArgumentsError):
        host.call("open_account", b"\x01", fmt="bsatn")
    with pytest.raises(ReducerArgumentsError):
        host.call("open_account", (1, -1))


def test_init_creates_scheduled_rows_then_runs_init() -> None:
    order: list[str] = []
    with collecting() as found:

        @scheduled(interval_ms=1000)
        def tick(ctx: ReducerContext) -> None:
            pass

        @init
        def setup(ctx: ReducerContext) -> None:
            order.append(f"init sees {ctx.db.tick_schedule.count()} schedule row(s)")

    host = ForeignHost(ModuleDef.build(found, "ticker"))
    runner = host.runner
    tx = DictStore({}, host.pk_index)
    assert runner.run_reducer(tx, runner.init_function, (), runner.init_name, DB, None, T0) is None
    assert order == ["init sees 1 schedule row(s)"] and runner.init_name == "setup"
    assert runner.reducers["tick"].scheduled and not runner.reducers["tick"].takes_args


class FiringGuard:
    """A guard whose interrupt always fires (as a wall-time limit would on a long call)."""

    class Stop(BaseException):
        pass

    interrupt: type[BaseException] = Stop

    def __init__(self) -> None:
        self.entered = self.left = 0

    def enter(self) -> None:
        self.entered += 1

    def leave(self) -> bool:
        self.left += 1
        return True

    def interrupted_message(self, name: str) -> str:
        return f"{name} took too long"


def test_a_guard_brackets_the_call_and_its_interrupt_fails_it() -> None:
    guard = FiringGuard()
    host = ForeignHost(_module(), guard=guard)
    assert host.call("open_account", (1, 1)) == CallFailure(FailureKind.INTERNAL_ERROR, "open_account took too long")
    assert host.rows() == [] and guard.entered == 1 and guard.left >= 1
