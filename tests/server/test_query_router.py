"""Commits reach only the subscription queries they can affect (QueryRegistry routing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spacetimedb.control.database_registry import BackendSpec
from spacetimedb.control.host_backend import HostBackend, _Plan
from spacetimedb.control.hosted_database import DatabaseInfo
from spacetimedb.control.subscriptions import SubscriptionManager

CHAT = Path(__file__).parent / "modules" / "chat.py"
CALLER = bytes(31) + b"\x07"


def _host_and_manager(router: bool = True) -> tuple[HostBackend, SubscriptionManager]:
    info = DatabaseInfo("chat", bytes(31) + b"\x01", bytes(31) + b"\x02")
    host = HostBackend(BackendSpec(info, CHAT, None, fresh=True))  # type: ignore[arg-type]
    manager = SubscriptionManager(host.tables, host.plan_router if router else None)
    host.set_commit_listener(manager)
    return host, manager


def _adopt(host: HostBackend, name: str) -> Any:
    result = host.call_reducer("adopt", [name], caller=CALLER, connection_id=None, timestamp_us=1, args_format="json")
    assert result.committed, result.error
    return result.fanout


@pytest.mark.parametrize("router", [True, False])
def test_a_commit_evaluates_only_the_point_queries_it_matches(router: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    host, manager = _host_and_manager(router)
    evaluated: list[str] = []
    direct_delta = _Plan.delta
    monkeypatch.setattr(_Plan, "delta", lambda self, changes: (evaluated.append(self.sql), direct_delta(self, changes))[1])
    subscribers = [object() for _ in range(100)]
    for i, sub in enumerate(subscribers, start=1):  # pet ids are auto-incremented from 1
        manager.add(sub, 0, host.compile_subscription(f"SELECT * FROM pet WHERE id = {i}", CALLER, False))
    everything = object()
    manager.add(everything, 0, host.compile_subscription("SELECT * FROM pet", CALLER, False))
    fanout = _adopt(host, "rex")
    assert set(fanout) == {subscribers[0], everything}
    assert fanout[subscribers[0]] == fanout[everything]  # the same one-row update, encoded once
    if router:
        assert evaluated == []  # the point queries were routed by their constant, not evaluated
    else:
        assert len(evaluated) == 101
    manager.remove(subscribers[1], 0, with_rows=False)  # id 2's only subscriber leaves
    assert set(_adopt(host, "fido")) == {everything}
    assert set(_adopt(host, "tom")) == {subscribers[2], everything}


def test_a_failing_router_falls_back_to_evaluating_each_query(monkeypatch: pytest.MonkeyPatch) -> None:
    host, manager = _host_and_manager()
    sub = object()
    manager.add(sub, 0, host.compile_subscription("SELECT * FROM pet WHERE id = 1", CALLER, False))

    def broken(changes: Any) -> Any:
        raise RuntimeError("router bug")

    monkeypatch.setattr(host.plan_router, "evaluate", broken)
    assert set(_adopt(host, "rex")) == {sub}
    manager.remove(sub, 0, with_rows=False)
    assert len(host.plan_router.registry) == 0  # unregistered with its last subscriber
