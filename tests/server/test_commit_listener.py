"""The hosted database's subscriptions are its backend's declared commit listener (no hidden hook):
fan-out is evaluated inside each commit and comes back with the call's result, for the test
backend exactly as for the real host, and across a module swap."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tests.server.fake_backend import FakeBackend

from spacetimedb.control.hosted_database import DatabaseInfo, HostedDatabase
from spacetimedb.control.module_swap import serve_from

INFO = DatabaseInfo("test", bytes(31) + b"\x01", bytes(31) + b"\x02")
CALLER = bytes(31) + b"\x07"


@dataclass(eq=False)
class _Client:
    identity: bytes = CALLER
    connection_id: int = 1


def _add(backend: FakeBackend, name: str) -> object:
    result = backend.call_reducer("add", [name], caller=CALLER, connection_id=None, timestamp_us=1, args_format="json")
    assert result.committed
    return result.fanout


def test_commits_are_evaluated_through_the_declared_listener() -> None:
    async def run() -> None:
        backend = FakeBackend()
        db = HostedDatabase(INFO, backend)
        assert backend.commit_listener is db.subscriptions
        assert _add(backend, "ann") is None  # nothing subscribed: no evaluation at all
        sub = _Client()
        query = "SELECT * FROM person"
        db.subscriptions.add(sub, 0, backend.compile_subscription(query, CALLER, False), [query])
        fanout = _add(backend, "bob")
        assert isinstance(fanout, dict) and set(fanout) == {sub}
        swapped = FakeBackend()
        serve_from(db, swapped)  # a republish in place keeps the clients and their queries
        assert swapped.commit_listener is db.subscriptions
        fanout = _add(swapped, "cy")
        assert isinstance(fanout, dict) and set(fanout) == {sub}

    asyncio.run(run())
