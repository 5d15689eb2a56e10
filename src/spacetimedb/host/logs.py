"""The database log: what reducers print (`ctx.log`, stdlib `logging`) and what the host reports.

An in-memory ring buffer plus listeners (the server streams `/logs` from them). The stdlib
`logging` module reaches the log of whichever database is running a reducer right now, through
one handler installed on the root logger the first time a host is created.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spacetimedb.sats.special import Timestamp

LEVELS = ("trace", "debug", "info", "warn", "error", "panic")


@dataclass(frozen=True, slots=True)
class LogRecord:
    level: str
    timestamp: Timestamp
    message: str
    #: The reducer that was running, or None for the host's own messages.
    reducer: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "ts": self.timestamp.micros,
            "message": self.message,
            "reducer": self.reducer,
        }


LogListener = Callable[[LogRecord], None]


class DatabaseLog:
    """A bounded ring buffer of records, with listeners called for each new record."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._records: deque[LogRecord] = deque(maxlen=capacity)
        self._listeners: list[LogListener] = []

    def append(self, record: LogRecord) -> None:
        self._records.append(record)
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:  # a broken listener must not break reducers
                pass

    def write(self, level: str, message: str, *, reducer: str | None = None, timestamp: Timestamp | None = None) -> None:
        self.append(LogRecord(level, timestamp or Timestamp.now(), message, reducer))

    def records(self, *, level: str | None = None, reducer: str | None = None) -> list[LogRecord]:
        """Records still in the buffer, oldest first, optionally filtered."""
        return [
            r
            for r in self._records
            if (level is None or r.level == level) and (reducer is None or r.reducer == reducer)
        ]

    def tail(self, n: int) -> list[LogRecord]:
        return list(self._records)[-n:] if n > 0 else []

    def messages(self) -> list[str]:
        return [r.message for r in self._records]

    def clear(self) -> None:
        self._records.clear()

    def add_listener(self, listener: LogListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: LogListener) -> None:
        self._listeners.remove(listener)

    def __len__(self) -> int:
        return len(self._records)


# ---- stdlib logging -> the running reducer's database log -------------------------------------

#: (level, message) sink of the reducer running on this thread, if any.
_running = threading.local()


def set_running_sink(sink: Callable[[str, str], None] | None) -> None:
    _running.sink = sink


def _level_name(levelno: int) -> str:
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


class _ReducerLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        sink = getattr(_running, "sink", None)
        if sink is None:
            return
        try:
            sink(_level_name(record.levelno), record.getMessage())
        except Exception:
            self.handleError(record)


_handler_installed = False


def install_logging_bridge(logger_name: str | None = None) -> None:
    """Route stdlib `logging` records emitted during reducer calls to the database log.

    The handler sits on the root logger (installed once). `logger_name` (the module's import
    name) is opened to DEBUG so `logging.getLogger(__name__).info(...)` in module code is not
    dropped by the root logger's default WARNING level; other libraries' levels are untouched.
    """
    global _handler_installed
    if not _handler_installed:
        _handler_installed = True
        logging.getLogger().addHandler(_ReducerLogHandler(level=logging.DEBUG))
    if logger_name:
        logging.getLogger(logger_name).setLevel(logging.DEBUG)
