"""Which cores a running server may use, and how its CPU time splits over its threads (from /proc).

`pin(pid, cpus)` sets the affinity of every thread of `pid` (a process's affinity call reaches one
thread only; threads started later inherit their creator's). `thread_cpu(pid)` reads each thread's
user+system seconds; `thread_names(pyspy, pid)` names them from `py-spy dump` (Python 3.11 does not
give its threads OS names), so a split reads "MainThread 0.95 cores, db:bank 0.40".
"""

from __future__ import annotations

import os
import re
import subprocess

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def tids(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


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
    for tid in tids(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
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
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"
