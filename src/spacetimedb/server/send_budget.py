"""The server-wide budget for bytes queued to WebSocket clients.

Each client already has its own cap (`ws_session.MAX_PENDING_SEND_BYTES`); many slow clients under
their caps can still hold more memory than the machine has (20 non-reading subscribers to a 50 MB
table). Every session charges the bytes it queues here; when the total passes the limit, the
clients with the largest backlog are closed (code 1013, with a reason) until it fits again.

`total` is kept incrementally and may overstate (bytes a socket sent since a session last looked
at its transport still count); it is recounted exactly before anyone is closed, so only a real
excess closes clients. Called on the event loop only.
"""

from __future__ import annotations

import os
from typing import Protocol

#: The default budget: 1/32 of physical memory, clamped to this range (740 MiB on a 23 GiB machine).
#: Queued bytes are copies of data the databases also hold, so a small share of memory is enough
#: for clients that read; it only has to absorb slow ones.
MIN_DEFAULT_BUDGET = 128 * 1024 * 1024
MAX_DEFAULT_BUDGET = 1024 * 1024 * 1024


def default_send_budget() -> int:
    """1/32 of this machine's memory, between 128 MiB and 1 GiB."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return 512 * 1024 * 1024
    return max(MIN_DEFAULT_BUDGET, min(MAX_DEFAULT_BUDGET, physical // 32))


class Sender(Protocol):
    """What the budget needs from a WebSocket session."""

    def backlog(self) -> int:
        """Bytes queued for the client now: frames not yet written plus the transport's buffer."""
        ...

    def recount(self) -> None:
        """Correct this session's charge to `backlog()` (through `SendBudget.correct`)."""
        ...

    def evict(self, code: int, reason: str) -> None:
        """First call: drop the queued frames and close with `code` and `reason` (the close frame
        follows what the transport already holds, a bounded amount). A second call drops the
        connection at once. Either way the session recounts."""
        ...


class SendBudget:
    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("the send budget must be positive")
        self.limit = limit
        #: Bytes charged by all sessions (an upper bound of what they hold; see the module doc).
        self.total = 0
        #: The largest `total` seen once a charge was settled (tests assert it stays <= limit).
        self.peak = 0
        #: Clients closed because of the budget.
        self.evictions = 0
        self._senders: set[Sender] = set()
        self._evicted: set[Sender] = set()

    def add(self, sender: Sender) -> None:
        self._senders.add(sender)

    def remove(self, sender: Sender) -> None:
        self._senders.discard(sender)
        self._evicted.discard(sender)

    def correct(self, delta: int) -> None:
        """A session's charge changed by `delta` without new bytes queued (a recount)."""
        self.total += delta

    def charge(self, delta: int) -> None:
        """A session queued `delta` more bytes: enforce the limit if the total passed it."""
        self.total += delta
        if self.total > self.limit:
            self.enforce()
        if self.total > self.peak:
            self.peak = self.total

    def enforce(self) -> None:
        """Recount exactly; close the largest backlogs until the total fits the limit."""
        for s in list(self._senders):
            s.recount()
        for _ in range(2 * len(self._senders)):  # each sender is closed, then dropped, at most once
            if self.total <= self.limit:
                break
            # Clients not closed yet first; then the closed ones whose transport still holds bytes.
            fresh = [s for s in self._senders if s not in self._evicted]
            victim = max(fresh or self._senders, key=lambda s: s.backlog(), default=None)
            if victim is None:
                break
            backlog = victim.backlog()
            if backlog == 0:
                break
            if victim not in self._evicted:
                self._evicted.add(victim)
                self.evictions += 1
            victim.evict(
                CLOSE_TRY_AGAIN,
                f"server send budget exceeded: this client had the largest backlog ({backlog} bytes "
                f"unread; {self.limit} bytes for all clients)",
            )


#: RFC 6455 "Try Again Later": the server is overloaded.
CLOSE_TRY_AGAIN = 1013
