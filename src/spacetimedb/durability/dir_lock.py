"""An exclusive lock on a database directory, so two processes never append to one log."""

from __future__ import annotations

import os

from spacetimedb.durability.errors import DurabilityError


class DatabaseLockedError(DurabilityError):
    """Another process (or another open in this one) holds the database directory."""


class DirectoryLock:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform: the lock file is only a marker
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(self._fd)
            self._fd = None
            raise DatabaseLockedError(
                f"database directory {os.path.dirname(path)} is in use by another server process; stop it first"
            ) from e

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> DirectoryLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
