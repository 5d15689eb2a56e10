"""Confirmed reads: a transaction's messages leave only once its commit is durable.

Clients flush what they can and report the offset they wait for (`hold`). After each worker turn
one durability waiter is started for the newest held offset (group commit makes one fsync cover
the batch); when it completes the held clients flush again, in order. With the commit log's own
waiter (`call_when_durable`) the writer thread schedules the release on the loop directly.

A commit's update shared by many clients (`send_shared`) is held once for all its clients, not
queued in each: when its commit is durable it is handed to them in one pass, each client writing the
one shared frame (`Subscriber.send_shared`). A client that is sent a message of its own while a
shared one it is in is still held first takes the shared one into its own queue (`claim`, the
marker that keeps its order): the later message cannot leave before it, and the shared pass skips it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import operator
from collections.abc import Awaitable, Callable, Sequence
from itertools import filterfalse
from typing import TYPE_CHECKING, Protocol

from spacetimedb.control.backend import DurableOffsetWaiter

if TYPE_CHECKING:
    from spacetimedb.control.subscriber import Subscriber
    from spacetimedb.durability.commit_log import CallWhenDurable

log = logging.getLogger("spacetimedb.server")
_CONFIRMED = operator.attrgetter("confirmed")

#: WebSocket close reason (1011) for every client of a database whose commit log failed (<= 123 bytes).
LOG_FAILED_CLOSE_REASON = "commit log failed: commits are no longer durable; restart the server once the disk is fixed"


def _pass(clients: Sequence[Subscriber], message: bytes, tx_offset: int | None) -> None:
    """`message` to each of `clients`, free to leave now. Through the clients' own pass when they
    have one (`shared_pass`, looked up on the first: a WebSocket session's write loop, a write per
    client), else `send_shared` each (a database process's subscriber forwards `tx_offset`)."""
    if not clients:
        return
    shared_pass = getattr(clients[0], "shared_pass", None)
    if shared_pass is not None:
        shared_pass(clients, message, tx_offset)
        return
    for client in clients:
        client.send_shared(message, tx_offset)


class Holder(Protocol):
    def flush(self) -> None: ...

    def fail(self, code: int, reason: str) -> None: ...


class _HeldShared:
    """One shared message held for its commit: its confirmed clients, and those of them that took
    it into their own queue meanwhile (`ConfirmedReads.claim`)."""

    __slots__ = ("clients", "members", "message", "offset", "taken")

    def __init__(self, offset: int, clients: Sequence[Holder], message: bytes | None) -> None:
        self.offset = offset
        self.clients = clients
        #: None: the clients just flush (`hold_many`, their messages are in their own queues).
        self.message = message
        #: `clients` as a set, built the first time a client claims (then O(1) per claim).
        self.members: set[Holder] | None = None
        self.taken: set[Holder] | None = None

    def targets(self) -> Sequence[Holder]:
        taken = self.taken
        return self.clients if not taken else [c for c in self.clients if c not in taken]


class ConfirmedReads:
    def __init__(self, waiter: DurableOffsetWaiter | None, name: str) -> None:
        self._waiter = waiter
        #: The commit log's own waiter, `call_when_durable` (looked up once, not per turn).
        self._direct: CallWhenDurable | None = getattr(waiter, "call_when_durable", None)
        #: The loop this runs on, once its database started (given to `call_when_durable`, which
        #: would otherwise ask asyncio for the running loop: a `getpid` system call on Python 3.11).
        self.loop: asyncio.AbstractEventLoop | None = None
        self._name = name
        #: Highest tx offset known durable (infinite without durability: nothing is ever held).
        self.durable_offset: float = -1 if waiter is not None else math.inf
        self._held: set[Holder] = set()
        #: Shared messages (or lists of clients to flush) waiting for their offsets, in hand-over order.
        self._held_lists: list[_HeldShared] = []
        self._held_until = -1
        #: The log's durable offset now (None: unknown), read when a waiter completes, so everything
        #: the same fsync covered is released at once, not one waiter round per held offset.
        self.durable_now: Callable[[], int | None] | None = None
        self._waiting_for = -1

    def rebind(self, waiter: DurableOffsetWaiter | None) -> None:
        """Wait on a new commit log from now on (a module swap reopened it). Clients held for the old
        one are released by its waiter: the old log was flushed before it closed."""
        self._waiter = waiter
        self._direct = getattr(waiter, "call_when_durable", None)
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
        self._held_lists.append(_HeldShared(tx_offset, clients, None))
        if tx_offset > self._held_until:
            self._held_until = tx_offset

    def holding(self) -> bool:
        """Some client or shared message waits for a commit to be durable."""
        return bool(self._held or self._held_lists)

    def send_shared(
        self,
        clients: list[Subscriber],
        message: bytes,
        tx_offset: int | None,
        flush_later: dict[Subscriber, None] | None = None,
    ) -> None:
        """Send one `message` to every client in `clients` (the list is ours from now on), in order
        with what each is sent before and after. Confirmed clients get it once `tx_offset` is
        durable, in one pass over the list then; the others now. With `flush_later` (other messages
        go out in the same pass, e.g. a hand-over of several commits), the clients sent it now are
        only queued and added there, to be flushed once for all (one frame for several messages)."""
        if tx_offset is not None and tx_offset > self.durable_offset:
            waiting = list(filter(_CONFIRMED, clients))
            if waiting:
                self._held_lists.append(_HeldShared(tx_offset, waiting, message))
                if tx_offset > self._held_until:
                    self._held_until = tx_offset
                if len(waiting) == len(clients):
                    return
                clients = list(filterfalse(_CONFIRMED, clients))
            claims = False  # clients without confirmed reads are never in a held message
        else:
            claims = bool(self._held_lists)
        if flush_later is None and not claims:
            _pass(clients, message, tx_offset)  # the one pass per client: its write of the shared frame
            return
        # A confirmed client may be in a held shared message: `enqueue` claims it first.
        for client in clients:
            client.enqueue(message, tx_offset)
        if flush_later is not None:
            flush_later.update(dict.fromkeys(clients))
        else:
            for client in clients:
                client.flush()

    def claim(self, client: Holder) -> list[tuple[int, bytes]]:
        """The held shared messages `client` is in and has not taken yet, in order (with their
        offsets), now taken: `client` queues them ahead of a message of its own sent after them,
        and they are no longer sent to it when released."""
        claimed: list[tuple[int, bytes]] = []
        for entry in self._held_lists:
            if entry.message is None:
                continue
            members = entry.members
            if members is None:
                members = entry.members = set(entry.clients)
            if client not in members:
                continue
            taken = entry.taken
            if taken is None:
                taken = entry.taken = set()
            elif client in taken:
                continue
            taken.add(client)
            claimed.append((entry.offset, entry.message))
        return claimed

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
        direct = self._direct
        if direct is not None:
            # The commit log's writer thread calls back on the loop itself (`DurableWaiter`): the
            # held replies leave in the loop iteration it wakes, not one later as a future's would.
            loop = self.loop
            if loop is None:
                direct(target, functools.partial(self._release, target))  # (error: the log failed)
            else:
                direct(target, functools.partial(self._release, target), loop)
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
        self._release(target, asyncio.CancelledError() if fut.cancelled() else fut.exception())

    def _failed(self, error: BaseException | None) -> None:
        log.error("database %s: a commit could not be made durable: %r", self._name, error)
        held, self._held = self._held, set()
        lists, self._held_lists = self._held_lists, []
        for clients in [held, *(e.clients for e in lists)]:
            for client in clients:  # their confirmed reads can never be released (a second fail is a no-op)
                client.fail(1011, LOG_FAILED_CLOSE_REASON)

    def note_durable(self, offset: int) -> None:
        """`offset` is durable (a database process's DURABLE record, read by the front): release
        what waits for it now, in this loop iteration, rather than from the waiter's callback."""
        if offset > self.durable_offset:
            self._release(offset)

    def _release(self, target: int, error: BaseException | None = None) -> None:
        """`target` is durable: what waits for it leaves now (`error`: it never will be)."""
        if error is not None:
            self._failed(error)
            return
        if self._held_until > target and self.durable_now is not None:
            # Something waits for a later commit: release all that the same fsync covered.
            now = self.durable_now()
            self.durable_offset = max(self.durable_offset, target, -1 if now is None else now)
        elif target > self.durable_offset:  # `target` covers all that waits (1 reply each turn)
            self.durable_offset = target
        held, self._held = self._held, set()
        # Clients held one by one first (a caller's ReducerResult): a shared update's list can be a
        # thousand writes long. Each client's own order is its outbox's, whichever flush comes first.
        for client in held:
            client.flush()
        if self._held_lists:
            durable = self.durable_offset
            lists, self._held_lists = self._held_lists, []
            ready: list[_HeldShared] = []
            for entry in lists:
                (ready if entry.offset <= durable else self._held_lists).append(entry)
            if len(ready) == 1 and ready[0].message is not None:
                entry = ready[0]  # one commit's update (the common case): one pass, one write each
                targets = entry.targets()
                if targets:
                    _pass(targets, entry.message, None)  # type: ignore[arg-type]  # (durable now)
            else:  # several commits at once: queued in order, then one flush (one frame) per client
                touched: dict[Holder, None] = {}
                for entry in ready:
                    targets = entry.targets()
                    if entry.message is not None:
                        message = entry.message
                        for client in targets:
                            client.send_shared(message, None, False)  # type: ignore[attr-defined]
                    touched.update(dict.fromkeys(targets))
                for client in touched:
                    client.flush()
        if self._held or self._held_lists:  # what waits for a later commit (else no call: per reply)
            self.after_turn()
