"""Record the fsyncs, renames and mkdirs a piece of code makes, to check what would survive a power cut.

    log = FsyncLog.install(monkeypatch)
    ... run the code ...
    assert log.file_durable(path)      # content fsynced, name made durable by a directory fsync
    assert log.dir_durable(path)       # created, then its parent fsynced

Linux only (an fsync'd descriptor is named through /proc/self/fd). The end-to-end check is the
power-cut filesystem (tests/durability/powercut_fs.py); these are the unit-level checks.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field

import pytest

needs_proc_fd = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="names fsynced descriptors through /proc/self/fd (Linux)"
)


@dataclass
class FsyncLog:
    #: ("fsync", path) | ("rename", src, dst) | ("mkdir", path), in call order.
    events: list[tuple[str, ...]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch) -> FsyncLog:
        log = cls()
        real_fsync, real_replace, real_rename, real_mkdir = os.fsync, os.replace, os.rename, os.mkdir

        def fsync(fd: int) -> None:
            path = os.readlink(f"/proc/self/fd/{fd}")
            real_fsync(fd)
            log._add("fsync", path)

        def replace(src: str, dst: str, *a: object, **kw: object) -> None:
            real_replace(src, dst, *a, **kw)  # type: ignore[arg-type]
            log._add("rename", _abs(src), _abs(dst))

        def rename(src: str, dst: str, *a: object, **kw: object) -> None:
            real_rename(src, dst, *a, **kw)  # type: ignore[arg-type]
            log._add("rename", _abs(src), _abs(dst))

        def mkdir(path: str, *a: object, **kw: object) -> None:
            real_mkdir(path, *a, **kw)  # type: ignore[arg-type]
            log._add("mkdir", _abs(path))

        monkeypatch.setattr(os, "fsync", fsync)
        if hasattr(os, "fdatasync"):  # the commit log's per-batch sync: a durability point of the content
            real_fdatasync = os.fdatasync

            def fdatasync(fd: int) -> None:
                path = os.readlink(f"/proc/self/fd/{fd}")
                real_fdatasync(fd)
                log._add("fsync", path)

            monkeypatch.setattr(os, "fdatasync", fdatasync)
        if hasattr(os, "RWF_DSYNC"):  # the commit log's write + data sync in one call (FileOps.write_dsync)
            real_pwritev = os.pwritev

            def pwritev(fd: int, buffers: list[memoryview], offset: int, flags: int = 0) -> int:
                n = real_pwritev(fd, buffers, offset, flags)
                if flags & os.RWF_DSYNC:
                    log._add("fsync", os.readlink(f"/proc/self/fd/{fd}"))
                return n

            monkeypatch.setattr(os, "pwritev", pwritev)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(os, "rename", rename)
        monkeypatch.setattr(os, "mkdir", mkdir)
        return log

    def _add(self, *event: str) -> None:
        with self._lock:
            self.events.append(event)

    def fsynced(self, path: os.PathLike[str] | str) -> list[int]:
        """Indexes of the fsyncs of `path`."""
        p = _abs(path)
        return [i for i, e in enumerate(self.events) if e == ("fsync", p)]

    def file_durable(self, path: os.PathLike[str] | str) -> bool:
        """`path`'s content was fsynced (under this name or a temp name renamed to it) and its
        directory fsynced after the name appeared."""
        p = _abs(path)
        parent = os.path.dirname(p)
        renames = [i for i, e in enumerate(self.events) if e[0] == "rename" and e[2] == p]
        if renames:
            r = renames[-1]
            src = self.events[r][1]
            content = any(i < r for i in self.fsynced(src)) or bool(self.fsynced(p))
            named_at = r
        else:
            syncs = self.fsynced(p)
            if not syncs:
                return False
            content, named_at = True, syncs[0]
        return content and any(i > named_at for i in self.fsynced(parent))

    def dir_durable(self, path: os.PathLike[str] | str) -> bool:
        """`path` was created (mkdir or renamed into place) and its parent fsynced afterwards."""
        p = _abs(path)
        made = [i for i, e in enumerate(self.events) if (e[0] == "mkdir" and e[1] == p) or (e[0] == "rename" and e[2] == p)]
        return bool(made) and any(i > made[-1] for i in self.fsynced(os.path.dirname(p)))


def _abs(path: os.PathLike[str] | str) -> str:
    return os.path.realpath(os.fspath(path))
