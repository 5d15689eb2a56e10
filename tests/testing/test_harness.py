"""TestDatabase: loading, calls and their errors, connections, the fake clock, reads, logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from spacetimedb.host import UnknownReducerError
from spacetimedb.sats.special import Timestamp
from spacetimedb.testing import (
    DEFAULT_START,
    ReducerInternalError,
    ReducerUserError,
    TestDatabase,
    connection_id,
    identity,
    sender_auth,
)

COUNTER = Path(__file__).parents[1] / "host" / "modules" / "counter.py"
ALICE = identity("alice")


@pytest.fixture
def db() -> TestDatabase:
    return TestDatabase.load(COUNTER)


def test_load_runs_init_at_the_start_time(db: TestDatabase) -> None:
    assert db.now == DEFAULT_START
    assert [c.name for c in db.table("counter")] == ["main"]
    assert db.commits and db.commits[0].reducer == "setup"


def test_identities_are_stable_and_distinct() -> None:
    assert identity("alice") == identity("alice") != identity("bob")
    assert connection_id("x") == connection_id("x") and int(connection_id("x")) != 0


def test_call_returns_the_result(db: TestDatabase) -> None:
    r = db.call("add", "main", 4, sender=ALICE)
    assert r.ok and r.caller == ALICE and r.connection_id is not None
    assert db.find("counter", "main").value == 4
    assert db.count("counter") == 1
    assert db.table(db.module.table("counter").row_class) == db.table("counter")


def test_sender_error_raises_a_typed_exception(db: TestDatabase) -> None:
    with pytest.raises(ReducerUserError) as e:
        db.call("add_then_fail", "main")
    assert e.value.message == "no more main" and e.value.reducer == "add_then_fail"
    assert db.find("counter", "main").value == 0


def test_internal_error_raises_and_logs(db: TestDatabase) -> None:
    with pytest.raises(ReducerInternalError, match="ZeroDivisionError"):
        db.call("crash")
    assert any("Traceback" in m for m in db.log_messages("error"))


def test_bad_calls_raise_the_hosts_errors(db: TestDatabase) -> None:
    with pytest.raises(UnknownReducerError):
        db.call("nope")


def test_connect_and_disconnect(db: TestDatabase) -> None:
    conn = db.connect(ALICE)
    assert int(conn) != 0
    db.disconnect(ALICE, conn)
    events = [s.event for s in db.table("seen") if s.who == ALICE]
    assert events == ["connected", "disconnected"]


def test_connect_rejected_raises(db: TestDatabase) -> None:
    db.call("add", "banned:" + ALICE.to_hex(), 1)
    with pytest.raises(ReducerUserError, match="banned"):
        db.connect(ALICE)


def test_advance_moves_the_clock_and_runs_due_reducers(db: TestDatabase) -> None:
    db.call("schedule", "soon", 1500, True)
    assert [r.reducer for r in db.advance(1)] == ["heartbeat"]
    results = db.advance(ms=600)
    assert [(r.reducer, r.internal) for r in results] == [("fire_job", False), ("fire_job", True)]
    assert db.now == Timestamp(DEFAULT_START.micros + 1_600_000)
    with pytest.raises(ValueError, match="forward"):
        db.advance(-1)


def test_logs_are_readable(db: TestDatabase) -> None:
    db.call("chatty", "x")
    assert [r.message for r in db.logs if r.reducer == "chatty"] == ["plain x", "warned x", "stdlib x"]


def test_run_executes_setup_code_in_a_transaction(db: TestDatabase) -> None:
    Counter = db.module.table("counter").row_class
    stored = db.run(lambda ctx: ctx.db.counter.insert(Counter(name="fixture", value=7)))
    assert stored.value == 7 and db.find("counter", "fixture").value == 7

    def boom(ctx: object) -> None:
        ctx.db.counter.insert(Counter(name="never"))  # type: ignore[attr-defined]
        raise RuntimeError("setup failed")

    with pytest.raises(ReducerInternalError, match="setup failed"):
        db.run(boom)
    assert db.find("counter", "never") is None
    assert db.commits[-1].reducer == "<run>"


SENDER_AUTH = Path(__file__).parents[1] / "server" / "modules" / "sender_auth.py"


def test_calls_with_jwt_claims_reach_ctx_sender_auth() -> None:
    db = TestDatabase.load(SENDER_AUTH)
    claims = {"iss": "https://auth.example", "sub": "user-7", "aud": ["game"], "role": "admin"}
    conn = db.connect(jwt=claims)  # client_connected sees the token too
    db.call("whoami", "with token", jwt=claims, connection_id=conn)
    db.call("whoami", "no token", sender=ALICE)
    seen = [(s.how, s.subject, s.issuer, s.audience, s.internal, s.same_identity) for s in db.table("seen")]
    assert seen == [
        ("connect", "user-7", "https://auth.example", "game", False, True),
        ("with token", "user-7", "https://auth.example", "game", False, True),
        ("no token", "", "", "", False, False),
    ]
    auth = sender_auth(claims)
    assert auth.jwt is not None and auth.jwt.full_payload["role"] == "admin"
    # The sender of a call with a token is the token's identity; another one is a mistake.
    assert db.commits[-2].caller == auth.jwt.identity
    with pytest.raises(ValueError, match="not the identity of the jwt"):
        db.call("whoami", "x", sender=ALICE, jwt=claims)
