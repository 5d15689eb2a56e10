"""CPU time of process trees, read from /proc, so the report can say how the 2 cores were shared."""

from __future__ import annotations

import os
from collections.abc import Iterable

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _fields(path: str) -> list[bytes] | None:
    """The fields of a /proc stat file after the command name, or None if the process is gone."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after its closing one.
    return raw[raw.rindex(b")") + 2 :].split()


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user+system seconds) of one process, or None if it is gone."""
    fields = _fields(f"/proc/{pid}/stat")
    if fields is None:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def tree_cpu_seconds(roots: Iterable[int]) -> float:
    """User+system CPU seconds of the given processes and all their live descendants."""
    if not os.path.isdir("/proc"):
        return 0.0
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                stats[int(entry)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total = 0.0
    todo = [pid for pid in roots if pid in stats]
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += stats[pid][1]
        todo.extend(children.get(pid, ()))
    return total


def main_thread_cpu(pid: int) -> float | None:
    """User+system CPU seconds of `pid`'s main thread alone (None: gone, or no /proc)."""
    fields = _fields(f"/proc/{pid}/task/{pid}/stat")  # (/proc/PID/stat is the whole process)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS
