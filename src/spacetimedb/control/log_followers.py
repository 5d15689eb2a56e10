"""Followers of a hosted database's module logs (HTTP log streams), kept across module swaps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from spacetimedb.control.backend import DatabaseBackend, LogLine

#: One follower of the `/logs` stream: called on the event loop with each served log line (unlike
#: `spacetimedb.host.logs.LogListener`, which the host calls with its own records on the worker thread).
LogFollower = Callable[[LogLine], None]


class LogFollowers:
    """Forwards each new log record of whichever backend serves to listeners on the event loop.

    The backend tells records on the worker thread; listeners live on the loop. The backend is
    subscribed to only while someone follows."""

    def __init__(self) -> None:
        self._listeners: list[LogFollower] = []
        self._unsubscribe_backend: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def follow(self, backend: DatabaseBackend, listener: LogFollower) -> Callable[[], None]:
        """Call `listener` for each new record (worker only); returns the unfollow function."""
        self._listeners.append(listener)
        if self._unsubscribe_backend is None:
            self._unsubscribe_backend = backend.subscribe_logs(self._forward)

        def unfollow() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unfollow

    def rebind(self, backend: DatabaseBackend) -> None:
        """Follow `backend` from now on (a module swap), if anyone follows."""
        if self._unsubscribe_backend is not None:
            self._unsubscribe_backend()
            self._unsubscribe_backend = None
        if self._listeners:
            self._unsubscribe_backend = backend.subscribe_logs(self._forward)

    def _forward(self, record: LogLine) -> None:
        if self._loop is None:
            return
        for listener in list(self._listeners):
            try:
                self._loop.call_soon_threadsafe(listener, record)
            except RuntimeError:
                return  # the loop is closed
