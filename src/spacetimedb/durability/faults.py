"""A fault-injecting `FileOps`: fail chosen writes, fsyncs or renames the way a broken disk does.

    ops = FaultyFileOps()
    ops.fail("fsync", after=3)                       # the 4th fsync raises EIO
    ops.fail("write", after=0, errno_=ENOSPC, partial=10)  # the next write stores 10 bytes, then ENOSPC

A rule fires once (or `times` times) on the matching call counted from when it was added; calls
for paths not containing `path_contains` are not counted.
"""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass

from spacetimedb.durability.files import FileOps

OPS = ("write", "fsync", "rename", "truncate", "open", "fsync_dir", "preallocate")


@dataclass
class FaultRule:
    op: str
    after: int
    errno_: int
    partial: int
    path_contains: str
    times: int
    seen: int = 0
    fired: int = 0


class FaultyFileOps(FileOps):
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        #: How many faults have fired, per op.
        self.fired: dict[str, int] = dict.fromkeys(OPS, 0)

    def fail(
        self,
        op: str,
        *,
        after: int = 0,
        errno_: int = errno.EIO,
        partial: int = 0,
        path_contains: str = "",
        times: int = 1,
    ) -> FaultRule:
        """Make the (after+1)-th matching `op` call from now on fail with `errno_`.

        For writes, `partial` bytes are really written before the error (a disk filling up).
        """
        if op not in OPS:
            raise ValueError(f"unknown file op {op!r}; choose one of {OPS}")
        rule = FaultRule(
            op=op, after=after, errno_=errno_, partial=partial, path_contains=path_contains, times=times
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def _check(self, op: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.op != op or rule.fired >= rule.times or rule.path_contains not in path:
                    continue
                rule.seen += 1
                if rule.seen > rule.after:
                    rule.fired += 1
                    self.fired[op] += 1
                    return rule
        return None

    @staticmethod
    def _raise(rule: FaultRule, op: str, path: str) -> None:
        raise OSError(rule.errno_, f"injected {os.strerror(rule.errno_)} on {op}", path)

    def open_append(self, path: str, position: int | None = None) -> int:
        if rule := self._check("open", path):
            self._raise(rule, "open", path)
        return super().open_append(path, position)

    def open_new(self, path: str) -> int:
        if rule := self._check("open", path):
            self._raise(rule, "open", path)
        return super().open_new(path)

    def write(self, fd: int, data: bytes, path: str = "") -> None:
        if rule := self._check("write", path):
            if rule.partial:
                super().write(fd, data[: rule.partial], path)
            self._raise(rule, "write", path)
        super().write(fd, data, path)

    def fsync(self, fd: int, path: str = "") -> None:
        if rule := self._check("fsync", path):
            self._raise(rule, "fsync", path)
        super().fsync(fd, path)

    def fdatasync(self, fd: int, path: str = "") -> None:
        # Counted and failed as an fsync: tests name the durability point, not the system call.
        if rule := self._check("fsync", path):
            self._raise(rule, "fsync", path)
        super().fdatasync(fd, path)

    def write_dsync(self, fd: int, data: bytes, path: str = "") -> None:
        # A write, then a sync: each fails (and is counted) as its own step, as in the real call's two halves.
        self.write(fd, data, path)
        self.fdatasync(fd, path)

    def preallocate(self, fd: int, offset: int, length: int, path: str = "") -> None:
        if rule := self._check("preallocate", path):
            self._raise(rule, "preallocate", path)
        super().preallocate(fd, offset, length, path)

    def truncate(self, fd: int, length: int, path: str = "") -> None:
        if rule := self._check("truncate", path):
            self._raise(rule, "truncate", path)
        super().truncate(fd, length, path)

    def rename(self, src: str, dst: str) -> None:
        if rule := self._check("rename", dst):
            self._raise(rule, "rename", dst)
        super().rename(src, dst)

    def fsync_dir(self, directory: str) -> None:
        if rule := self._check("fsync_dir", directory):
            self._raise(rule, "fsync_dir", directory)
        super().fsync_dir(directory)
