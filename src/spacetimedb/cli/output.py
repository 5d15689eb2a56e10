"""Where the CLI prints: a rich console that wraps only on a terminal, and the log line format
shared by `logs` and `dev`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

#: Width used when stdout is not a terminal (a pipe or a file): wide enough that no line wraps
#: (a wrapped identity cannot be grepped), tables still as narrow as their content.
UNWRAPPED_WIDTH = 100_000

LEVEL_STYLE = {"error": "red", "panic": "bold red", "warn": "yellow", "debug": "dim", "trace": "dim"}


def make_console() -> Console:
    """A console for stdout: rich's terminal width on a terminal, never wrapping otherwise."""
    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, width=UNWRAPPED_WIDTH, soft_wrap=True)


def log_line(rec: dict[str, Any]) -> str:
    """One log record as rich markup: `<ISO time> <LEVEL> <target>: <message>`."""
    lvl = str(rec.get("level", "info")).lower()
    ts = rec.get("ts")
    when = datetime.fromtimestamp(ts / 1e6, tz=UTC).isoformat(timespec="milliseconds") if ts else ""
    prefix = f"{when} {lvl.upper():>5}"
    target = f" {rec['target']}:" if rec.get("target") else ""
    message = escape(str(rec.get("message", "")))
    style = LEVEL_STYLE.get(lvl, "")
    return f"[{style}]{prefix}[/{style}]{escape(target)} {message}" if style else f"{prefix}{escape(target)} {message}"


def escape(text: str) -> str:
    """Text printed as is (a `[` in a log message is not rich markup)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)
