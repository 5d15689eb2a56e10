"""ModuleHost: outcomes, rollback, bad calls, context, logs, lifecycle, listeners, scheduling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spacetimedb import bsatn
from spacetimedb.host import (
    LifecycleReducerCallError,
    ModuleHost,
    ReducerArgumentsError,
    ReducerCallResult,
    ReducerStatus,
    UnknownReducerError,
)
from spacetimedb.module import load_module
from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

MODULE = Path(__file__).parent / "modules" / "counter.py"
T0 = Timestamp(1_700_000_000_000_000)
ALICE = Identity(0xA11CE)
CONN = ConnectionId(77)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> Timestamp:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def host(clock: Clock) -> ModuleHost:
    h = ModuleHost(load_module(MODULE), identity=Identity(0xDB), owner=Identity(0x0E), clock=clock)
    assert h.init().ok
    return h


def rows(host: ModuleHost, table: str) -> list[Any]:
    t = host.module.table(table)
    return [t.converter.from_row(r) for r in host.db.scan(t.schema.table_id)]


def counters(host: ModuleHost) -> dict[str, int]:
    return {c.name: c.value for c in rows(host, "counter")}


def events(host: ModuleHost) -> list[str]:
    return [s.event for s in sorted(rows(host, "seen"), key=lambda s: s.id)]


def call(host: ModuleHost, name: str, *args: Any, **kw: Any) -> ReducerCallResult:
    return host.call_reducer(name, args, caller=ALICE, connection_id=CONN, args_format="python", **kw)


def test_init_runs_with_owner_and_no_connection(host: ModuleHost) -> None:
    (init_row,) = [s for s in rows(host, "seen") if s.event == "init"]
    assert init_row.who == Identity(0x0E) and init_row.note == "None"
    assert counters(host) == {"main": 0}


def test_committed_result(host: ModuleHost) -> None:
    r = call(host, "add", "main", 3)
    assert r.status is ReducerStatus.COMMITTED and r.ok and r.error is None
    assert r.reducer == "add" and r.args == ("main", 3) and r.caller == ALICE and r.connection_id == CONN
    assert r.timestamp == T0 and r.duration_micros >= 0
    assert r.delta is not None and r.delta.tables
    assert counters(host) == {"main": 3}


def test_tx_offsets_increase_for_commits_only(host: ModuleHost) -> None:
    a = call(host, "add", "main", 1)
    failed = call(host, "add_then_fail", "main")
    b = call(host, "add", "main", 1)
    assert a.tx_offset is not None and b.tx_offset == a.tx_offset + 1
    assert failed.tx_offset is None


def test_sender_error_rolls_back_nested_writes(host: ModuleHost) -> None:
    r = call(host, "add_then_fail", "main")
    assert r.status is ReducerStatus.USER_ERROR and r.error == "no more main"
    assert r.delta is None
    assert counters(host) == {"main": 0}


def test_nested_calls_share_the_transaction(host: ModuleHost) -> None:
    r = call(host, "add_twice", "fresh")
    assert r.ok and counters(host)["fresh"] == 2


def test_other_exceptions_are_internal_errors_with_traceback_logged(host: ModuleHost) -> None:
    r = call(host, "crash")
    assert r.status is ReducerStatus.INTERNAL_ERROR
    assert r.error == "ZeroDivisionError: division by zero in crash"
    assert "crash" not in counters(host)
    (rec,) = host.log.records(level="error")
    assert rec.reducer == "crash" and "Traceback" in rec.message and "ZeroDivisionError" in rec.message


def test_unknown_reducer(host: ModuleHost) -> None:
    with pytest.raises(UnknownReducerError, match="no reducer named 'nope'"):
        call(host, "nope")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("main",), "takes 2 argument"),
        (("main", 1, 2), "takes 2 argument"),
        (("main", "three"), "amount"),
        (("main", -1), "out of range for u32"),
        ((5, 1), "name"),
    ],
)
def test_bad_python_arguments_leave_the_database_unchanged(host: ModuleHost, args: tuple[Any, ...], match: str) -> None:
    before = host.next_tx_offset
    with pytest.raises(ReducerArgumentsError, match=match):
        call(host, "add", *args)
    assert counters(host) == {"main": 0} and host.next_tx_offset == before


def test_bsatn_arguments(host: ModuleHost) -> None:
    codec = bsatn.compile(at.product(("name", at.STRING), ("amount", at.U32)))
    r = host.call_reducer("add", codec.encode(("main", 9)), caller=ALICE)
    assert r.ok and counters(host) == {"main": 9}
    with pytest.raises(ReducerArgumentsError, match="cannot decode BSATN"):
        host.call_reducer("add", codec.encode(("main", 9))[:-1], caller=ALICE)
    with pytest.raises(ReducerArgumentsError):
        host.call_reducer("add", codec.encode(("main", 9)) + b"\x00", caller=ALICE)


def test_lifecycle_reducers_cannot_be_called(host: ModuleHost) -> None:
    for name in ("setup", "hello", "bye"):
        with pytest.raises(LifecycleReducerCallError):
            call(host, name)


def test_scheduled_reducers_are_callable_by_the_owner_only(host: ModuleHost) -> None:
    """Private, as upstream's module definition has them: a client cannot fire a job early."""
    job = {"scheduled_id": 0, "scheduled_at": {"Time": 0}, "label": "early"}
    for name, args in (("fire_job", [job]), ("heartbeat", [])):
        with pytest.raises(UnknownReducerError, match="only the database owner"):
            host.call_reducer(name, args, caller=ALICE, args_format="json")
    assert host.call_reducer("fire_job", [job], caller=host.owner, args_format="json").ok
    assert "job:early" in events(host)


def test_context_fields(host: ModuleHost) -> None:
    call(host, "whoami")
    (row,) = [s for s in rows(host, "seen") if s.event == "whoami"]
    assert row.who == ALICE
    assert row.note == f"{CONN!r}|{Identity(0xDB).to_hex()}"


def test_rng_is_deterministic_per_timestamp_and_offset(clock: Clock) -> None:
    def run() -> list[str]:
        h = ModuleHost(load_module(MODULE), clock=clock)
        h.init()
        call(h, "roll")
        call(h, "roll")
        return [s.note for s in rows(h, "seen") if s.event == "roll"]

    first, second = run(), run()
    assert first == second and first[0] != first[1]


def test_logs_from_ctx_and_stdlib(host: ModuleHost) -> None:
    seen: list[Any] = []
    host.log.add_listener(seen.append)
    call(host, "chatty", "hi")
    recs = [(r.level, r.message, r.reducer) for r in host.log.records(reducer="chatty")]
    assert recs == [("info", "plain hi", "chatty"), ("warn", "warned hi", "chatty"), ("info", "stdlib hi", "chatty")]
    assert len(seen) == 3 and all(r.timestamp == T0 for r in seen)


def test_connect_and_disconnect(host: ModuleHost) -> None:
    r = host.client_connected(ALICE, CONN)
    assert r.ok and r.reducer == "hello"
    assert host.client_disconnected(ALICE, CONN).ok
    assert events(host)[-2:] == ["connected", "disconnected"]


def test_connect_rejection(host: ModuleHost) -> None:
    call(host, "add", "banned:" + ALICE.to_hex(), 1)
    r = host.client_connected(ALICE, CONN)
    assert r.status is ReducerStatus.USER_ERROR and r.error == "banned"


def test_commit_listeners_see_every_commit_in_order(host: ModuleHost) -> None:
    got: list[ReducerCallResult] = []
    host.add_commit_listener(got.append)
    call(host, "add", "main", 1)
    call(host, "crash")
    call(host, "add", "main", 1)
    assert [r.reducer for r in got] == ["add", "add"]
    assert [r.tx_offset for r in got] == sorted(r.tx_offset for r in got)  # type: ignore[type-var]


def test_commit_check_sees_the_commit_and_can_undo_it_before_anyone_else(host: ModuleHost) -> None:
    got: list[ReducerCallResult] = []
    host.add_commit_listener(got.append)
    seen: list[int] = []

    def check(result: ReducerCallResult) -> str | None:
        seen.append(counters(host)["main"])  # the transaction's state
        return "view `v` failed: no" if seen[-1] > 1 else None

    host.set_commit_check(check)
    call(host, "add", "main", 1)
    offset = host.next_tx_offset
    failed = call(host, "add", "main", 1)
    assert seen == [1, 2] and counters(host)["main"] == 1  # undone
    assert failed.status is ReducerStatus.INTERNAL_ERROR and failed.error == "view `v` failed: no"
    assert failed.delta is None and failed.tx_offset is None and host.next_tx_offset == offset
    assert [r.reducer for r in got] == ["add"]  # listeners never saw the undone commit


def step(host: ModuleHost, until: Timestamp) -> list[ReducerCallResult]:
    """Run due jobs with the clock stepping through each due time (as the testing harness does)."""
    out: list[ReducerCallResult] = []
    while (due := host.next_due()) is not None and due.micros <= until.micros:
        out.extend(host.run_due(due))
    return out


def test_scheduled_sugar_fires_every_interval_from_the_intended_time(host: ModuleHost) -> None:
    assert host.next_due() == Timestamp(T0.micros + 1_000_000)
    results = step(host, Timestamp(T0.micros + 3_500_000))
    beats = [r for r in results if r.reducer == "heartbeat"]
    assert [r.timestamp.micros - T0.micros for r in beats] == [1_000_000, 2_000_000, 3_000_000]
    assert all(r.caller == Identity(0xDB) and r.connection_id is None for r in beats)
    assert host.next_due() == Timestamp(T0.micros + 4_000_000)


def test_a_late_run_fires_once_and_skips_missed_ticks(host: ModuleHost) -> None:
    late = Timestamp(T0.micros + 3_500_000)
    beats = [r for r in host.run_due(late) if r.reducer == "heartbeat"]
    assert [r.timestamp for r in beats] == [late]  # ctx.timestamp = max(intended, now)
    assert host.next_due() == Timestamp(T0.micros + 4_000_000)  # still on the 1 s grid


def test_one_time_rows_fire_once_and_are_deleted_even_on_failure(host: ModuleHost) -> None:
    call(host, "schedule", "once", 500, True)
    call(host, "schedule", "boom", 600, True)
    results = host.run_due(Timestamp(T0.micros + 700_000))
    assert [(r.reducer, r.status, r.internal) for r in results] == [
        ("fire_job", ReducerStatus.COMMITTED, False),
        ("fire_job", ReducerStatus.COMMITTED, True),
        ("fire_job", ReducerStatus.INTERNAL_ERROR, False),
        ("fire_job", ReducerStatus.COMMITTED, True),
    ]
    assert rows(host, "job") == []
    assert "job:once" in events(host) and "job:boom" not in events(host)


def test_interval_rows_repeat_and_deleting_cancels(host: ModuleHost) -> None:
    call(host, "schedule", "tick", 250, False)
    step(host, Timestamp(T0.micros + 999_999))
    assert events(host).count("job:tick") == 3
    call(host, "cancel", "tick")
    step(host, Timestamp(T0.micros + 5_000_000))
    assert events(host).count("job:tick") == 3


def test_schedules_survive_a_host_restart(host: ModuleHost, clock: Clock) -> None:
    call(host, "schedule", "later", 2000, True)
    again = ModuleHost(host.module, host.db, clock=clock)
    results = again.run_due(Timestamp(T0.micros + 2_000_000))
    assert any(r.reducer == "fire_job" and not r.internal for r in results)


def test_record_commit_of_an_external_transaction(host: ModuleHost) -> None:
    got: list[ReducerCallResult] = []
    host.add_commit_listener(got.append)
    tid = host.module.table("counter").schema.table_id
    tx = host.db.begin()
    tx.insert(tid, ("sql", 1))
    before = host.next_tx_offset
    r = host.record_commit(tx.commit(), caller=ALICE, timestamp=T0, args="INSERT ...")
    assert r.ok and r.internal and r.tx_offset == before and host.next_tx_offset == before + 1
    assert got == [r] and counters(host)["sql"] == 1


def test_scheduled_call_args_are_the_row_in_bsatn(host: ModuleHost) -> None:
    call(host, "schedule", "once", 10, True)
    (fired, _) = host.run_due(Timestamp(T0.micros + 10_000))
    t = host.module.table("job")
    codec = bsatn.compile(t.schema.row_type, host.module.typespace)
    assert codec.decode(fired.args)[2] == "once"
