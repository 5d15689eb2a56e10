"""Confirmed reads take the commit log's direct callback when the waiter offers one (one loop hop)."""

from __future__ import annotations

import asyncio

from spacetimedb.control.confirmed_reads import LOG_FAILED_CLOSE_REASON, ConfirmedReads
from spacetimedb.durability.commit_log import DurableCallback


class _Client:
    def __init__(self) -> None:
        self.flushed = 0
        self.failed: tuple[int, str] | None = None

    def flush(self) -> None:
        self.flushed += 1

    def fail(self, code: int, reason: str) -> None:
        self.failed = (code, reason)


class _DirectWaiter:
    """A waiter like `DurableWaiter`: its future path must not be taken."""

    def __init__(self) -> None:
        self.callbacks: list[tuple[int, DurableCallback]] = []

    def __call__(self, tx_offset: int) -> asyncio.Future[None]:
        raise AssertionError("confirmed reads must use call_when_durable when the waiter has it")

    def call_when_durable(self, tx_offset: int, callback: DurableCallback) -> None:
        self.callbacks.append((tx_offset, callback))


def test_the_held_client_is_released_inside_the_durable_callback_itself() -> None:
    waiter = _DirectWaiter()
    reads = ConfirmedReads(waiter, "db")
    a, b = _Client(), _Client()
    reads.hold(a, 4)
    reads.hold_many([b], 5)
    reads.after_turn()
    assert [o for o, _ in waiter.callbacks] == [5]
    reads.after_turn()  # already waiting for 5: no second waiter
    assert len(waiter.callbacks) == 1
    waiter.callbacks[0][1](None)  # what the writer schedules on the loop: no further iteration needed
    assert a.flushed == 1 and b.flushed == 1 and reads.durable_offset == 5


def test_a_failure_reported_by_the_callback_fails_the_held_clients() -> None:
    waiter = _DirectWaiter()
    reads = ConfirmedReads(waiter, "db")
    a = _Client()
    reads.hold(a, 1)
    reads.after_turn()
    waiter.callbacks[0][1](OSError("disk gone"))
    assert a.failed == (1011, LOG_FAILED_CLOSE_REASON) and a.flushed == 0
