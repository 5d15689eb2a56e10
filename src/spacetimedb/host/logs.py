"""The database log: what reducers print (`ctx.log`, stdlib `logging`) and what the host reports.

An in-memory ring buffer plus listeners (the server streams `/logs` from them). Module code's
messages reach it through the module runner's log sink (`spacetimedb.module.runner`), which also
bridges the stdlib `logging` module (`spacetimedb.module.log_bridge`).
"""

from __future__ import annotations

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
