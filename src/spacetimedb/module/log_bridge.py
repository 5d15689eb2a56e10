"""The stdlib `logging` module -> the log of the module call running on this thread.

Module code may log with `logging.getLogger(__name__).info(...)` as well as `ctx.log`. One
handler on the root logger (installed once per process) hands records emitted during a call to
the sink the runner set for that call; records outside calls are left to the other handlers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

#: `.sink`: the (level, message) sink of the call running on this thread, or None between calls.
#: The runner sets and clears it around every call.
running = threading.local()


def level_name(levelno: int) -> str:
    """A stdlib logging level as a database log level."""
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


class _CallLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        sink: Callable[[str, str], None] | None = getattr(running, "sink", None)
        if sink is None:
            return
        try:
            sink(level_name(record.levelno), record.getMessage())
        except Exception:
            self.handleError(record)


_handler_installed = False


def install_logging_bridge(logger_name: str | None = None) -> None:
    """Route stdlib `logging` records emitted during module calls to the call's log sink.

    The handler sits on the root logger (installed once). `logger_name` (the module's import
    name) is opened to DEBUG so `logging.getLogger(__name__).info(...)` in module code is not
    dropped by the root logger's default WARNING level; other libraries' levels are untouched.
    """
    global _handler_installed
    if not _handler_installed:
        _handler_installed = True
        logging.getLogger().addHandler(_CallLogHandler(level=logging.DEBUG))
    if logger_name:
        logging.getLogger(logger_name).setLevel(logging.DEBUG)
