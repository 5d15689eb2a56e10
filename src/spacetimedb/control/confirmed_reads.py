"""Confirmed reads: a transaction's messages leave only once its commit is durable.

Clients flush what they can and report the offset they wait for (`hold`). After each worker turn
one durability waiter is started for the newest held offset (group commit makes one fsync cover
the batch); when it completes the held clients flush again, in order. With the commit log's own
waiter (`call_when_durable`) the writer thread schedules the release on the loop directly. A commit's shared update is
held once for all its clients (`hold_many`), not once per client.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from spacetimedb.control.backend import DurableOffsetWaiter

log = logging.getLogger("spacetimedb.server")

#: WebSocket close reason (1011) for every client of a database whose commit log failed (<= 123 bytes).
LOG_FAILED_CLOSE_REASON = "commit log failed: commits are no longer durable; restart the server once the disk is fixed"


class Holder(Protocol):
    def flush(self) -> None: ...

    def fail(self, code: int, reason: str) -> None: ...


class ConfirmedReads:
    def __init__(self, waiter: DurableOffsetWaiter | None, name: str) -> None:
        self._waiter = waiter
        self._name = name
        #: Highest tx offset known durable (infinite without durability: nothing is ever held).
        self.durable_offset: float = -1 if waiter is not None else math.inf
        self._held: set[Holder] = set()
        #: (tx offset, clients): a shared message's clients, flushed once that offset is durable.
        self._held_lists: list[tuple[int, Sequence[Holder]]] = []
        self._held_until = -1
        #: The log's durable offset now (None: unknown), read when a waiter completes, so everything
        #: the same fsync covered is released at once, not one waiter round per held offset.
        self.durable_now: Callable[[], int | None] | None = None
        self._waiting_for = -1

    def rebind(self, waiter: DurableOffsetWaiter | None) -> None:
        """Wait on a new commit log from now on (a module swap reopened it). Clients held for the old
        one are released by its waiter: the old log was flushed before it closed."""
        self._waiter = waiter
        self._waiting_for = -1
        if waiter is None:
            self.durable_offset = math.inf

    def hold(self, client: Holder, tx_offset: int) -> None:
        """`client` has messages waiting for `tx_offset` (called from its flush)."""
        self._held.add(client)  # once per held client per commit: kept cheap
        if tx_offset > self._held_until:
            self._held_until = tx_offset

    def hold_many(self, clients: Sequence[Holder], tx_offset: int) -> None:
        """`clients` have a message waiting for `tx_offset` (one call per shared message)."""
        self._held_lists.append((tx_offset, clients))
        if tx_offset > self._held_until:
            self._held_until = tx_offset

    async def wait_durable(self, tx_offset: int | None) -> None:
        """Return once `tx_offset` is durable (at once without durability or without an offset)."""
        if tx_offset is None or self._waiter is None or tx_offset <= self.durable_offset:
            return
        await self._waiter(tx_offset)

    def after_turn(self) -> None:
        """Start one waiter for the newest held offset, if none covers it yet."""
        if not (self._held or self._held_lists) or self._waiter is None or self._held_until <= self._waiting_for:
            return
        target = self._held_until
        self._waiting_for = target
        direct = getattr(self._waiter, "call_when_durable", None)
        if direct is not None:
            # The commit log's writer thread calls back on the loop itself (`DurableWaiter`): the
            # held replies leave in the loop iteration it wakes, not one later as a future's would.
            direct(target, functools.partial(self._durable_or_failed, target))
            return
        waiting = self._waiter(target)
        if isinstance(waiting, asyncio.Future):
            # The commit log's own future (the usual case): a callback, not a task per turn.
            waiting.add_done_callback(functools.partial(self._durable, target))
        else:
            asyncio.get_running_loop().create_task(self._release_when_durable(waiting, target))

    async def _release_when_durable(self, waiting: Awaitable[object], target: int) -> None:
        try:
            await waiting
        except Exception as e:
            self._failed(e)
            return
        self._release(target)

    def _durable(self, target: int, fut: asyncio.Future[object]) -> None:
        error = None if fut.cancelled() else fut.exception()
        if fut.cancelled() or error is not None:
            self._failed(error)
            return
        self._release(target)

    def _durable_or_failed(self, target: int, error: BaseException | None) -> None:
        if error is not None:
            self._failed(error)
        else:
            self._release(target)

    def _failed(self, error: BaseException | None) -> None:
        log.error("database %s: a commit could not be made durable: %r", self._name, error)
        held, self._held = self._held, set()
        lists, self._held_lists = self._held_lists, []
        for clients in [held, *(c for _, c in lists)]:
            for client in clients:  # their confirmed reads can never be released (a second fail is a no-op)
                client.fail(1011, LOG_FAILED_CLOSE_REASON)

    def _release(self, target: int) -> None:
        now = self.durable_now() if self.durable_now is not None else None
        self.durable_offset = max(self.durable_offset, target, -1 if now is None else now)
        held, self._held = self._held, set()
        # Clients held one by one first (a caller's ReducerResult): a shared update's list can be a
        # thousand writes long. Each client's own order is its outbox's, whichever flush comes first.
        for client in held:
            client.flush()
        if self._held_lists:
            durable = self.durable_offset
            lists, self._held_lists = self._held_lists, []
            for offset, clients in lists:
                if offset > durable:
                    self._held_lists.append((offset, clients))
                    continue
                for client in clients:
                    client.flush()
        self.after_turn()
