"""examples/quickstart_chat.py: the official quickstart's behaviour and names."""

from __future__ import annotations

import pytest

from spacetimedb.host import LifecycleReducerCallError
from spacetimedb.module.export import to_raw_v10
from spacetimedb.sats import algebraic_type as at
from spacetimedb.testing import ReducerUserError, TestDatabase, identity

from .conftest import EXAMPLES

ALICE = identity("alice")
BOB = identity("bob")


@pytest.fixture
def db() -> TestDatabase:
    return TestDatabase.load(EXAMPLES / "quickstart_chat.py")


def test_schema_matches_the_template(db: TestDatabase) -> None:
    user, message = db.module.tables
    assert (user.name, user.schema.public, user.schema.primary_key) == ("user", True, 0)
    assert [c.name for c in user.schema.columns] == ["identity", "name", "online"]
    assert user.schema.columns[1].algebraic_type == at.option(at.STRING)
    assert (message.name, message.schema.public, message.schema.primary_key) == ("message", True, None)
    assert [c.name for c in message.schema.columns] == ["sender", "sent", "text"]
    assert [c.algebraic_type for c in message.schema.columns] == [at.IDENTITY, at.TIMESTAMP, at.STRING]
    assert set(db.module.reducers) == {"set_name", "send_message", "init", "identity_connected", "identity_disconnected"}
    reducers = next(s.value for s in to_raw_v10(db.module).sections if s.tag == "Reducers")
    assert {r.source_name: r.params for r in reducers}["send_message"] == at.product(("text", at.STRING))


def test_connect_creates_an_online_user_without_a_name(db: TestDatabase) -> None:
    db.connect(ALICE)
    (u,) = db.table("user")
    assert (u.identity, u.name, u.online) == (ALICE, None, True)


def test_set_name_and_send_message(db: TestDatabase) -> None:
    db.connect(ALICE)
    db.call("set_name", "Alice", sender=ALICE)
    db.advance(1)
    db.call("send_message", "hello", sender=ALICE)
    assert db.find("user", ALICE).name == "Alice"
    (m,) = db.table("message")
    assert (m.sender, m.text, m.sent) == (ALICE, "hello", db.now)
    assert any("User" in msg and "hello" in msg for msg in db.log_messages("info"))


def test_validation_errors_are_the_templates(db: TestDatabase) -> None:
    db.connect(ALICE)
    with pytest.raises(ReducerUserError, match="Names must not be empty"):
        db.call("set_name", "", sender=ALICE)
    with pytest.raises(ReducerUserError, match="Messages must not be empty"):
        db.call("send_message", "", sender=ALICE)
    with pytest.raises(ReducerUserError, match="Cannot set name for unknown user"):
        db.call("set_name", "Bob", sender=BOB)
    assert db.table("message") == []


def test_disconnect_and_return_keep_the_name(db: TestDatabase) -> None:
    db.connect(ALICE)
    db.call("set_name", "Alice", sender=ALICE)
    db.disconnect(ALICE)
    assert db.find("user", ALICE).online is False
    db.connect(ALICE)
    u = db.find("user", ALICE)
    assert (u.name, u.online) == ("Alice", True)


def test_unknown_disconnect_only_warns(db: TestDatabase) -> None:
    db.disconnect(BOB)
    assert db.table("user") == []
    assert any("unknown user" in m for m in db.log_messages("warn"))


def test_lifecycle_reducers_are_not_callable(db: TestDatabase) -> None:
    with pytest.raises(LifecycleReducerCallError):
        db.call("identity_connected")
