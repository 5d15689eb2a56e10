"""Which cores a running server may use, and how its CPU time splits over its threads (from /proc).

`pin(pid, cpus)` sets the affinity of every thread of `pid` and of its child processes (a process's
affinity call reaches one thread only; threads started later inherit their creator's). `thread_cpu(pid)` reads each thread's
user+system seconds; `thread_names(pyspy, pid)` names them from `py-spy dump` (Python 3.11 does not
give its threads OS names), so a split reads "MainThread 0.95 cores, db:bank 0.40".
"""

from __future__ import annotations

import os
import re
import subprocess

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def tids(pid: int) -> list[int]:
    """Every thread of `pid` and of its descendants (a server with `--database-processes` runs each
    database in a child process: its threads count as the server's)."""
    return [tid for _, tid in threads_of(pid)]


def threads_of(pid: int) -> list[tuple[int, int]]:
    """(process, thread) of every thread of `pid` and of its descendants."""
    out: list[tuple[int, int]] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            threads = [int(t) for t in os.listdir(f"/proc/{p}/task")]
        except OSError:
            continue
        out += [(p, t) for t in threads]
        for t in threads:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo += [int(c) for c in f.read().split()]
            except OSError:
                pass
    return out


def process_of(tid: int) -> int:
    """The process (thread group) a thread belongs to."""
    try:
        with open(f"/proc/{tid}/status") as f:
            for line in f:
                if line.startswith("Tgid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return tid


def process_label(pid: int) -> str:
    """`db NAME` for a database process (its last argument), else its command name."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return f"pid {pid}"
    if b"spacetimedb.control.database_process" in argv:
        return f"db {argv[-2].decode() if len(argv) >= 2 and not argv[-1] else argv[-1].decode()}"
    return f"pid {pid}"


def pin(pid: int, cpus: set[int]) -> None:
    """Let every thread of `pid` run on `cpus` only."""
    for tid in tids(pid):
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            pass  # the thread ended meanwhile


def thread_cpu(pid: int) -> dict[int, float]:
    """{tid: user+system CPU seconds} of every live thread of `pid`."""
    out: dict[int, float] = {}
    for proc, tid in threads_of(pid):
        try:  # (/proc/TID/stat of a main thread would be its whole process)
            with open(f"/proc/{proc}/task/{tid}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rindex(b")") + 2 :].split()
        out[tid] = (int(fields[11]) + int(fields[12])) / _TICKS
    return out


def cpu_between(before: dict[int, float], after: dict[int, float]) -> dict[int, float]:
    return {tid: after[tid] - before.get(tid, 0.0) for tid in after}


_THREAD_LINE = re.compile(r'^Thread (0x[0-9a-fA-F]+|\d+) \([a-z]+\): "([^"]*)"', re.M)


def thread_names(pyspy: str | None, pid: int) -> dict[int, str]:
    """{tid: Python thread name} from `py-spy dump` (empty without py-spy); the main thread's tid
    is the pid either way."""
    names = {pid: "MainThread"}
    if pyspy is None:
        return names
    try:
        dump = subprocess.run([pyspy, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return names
    for ident, name in _THREAD_LINE.findall(dump):
        if not ident.startswith("0x"):
            names[int(ident)] = name
    return names


def comm(pid: int, tid: int) -> str:
    try:
        with open(f"/proc/{tid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"
