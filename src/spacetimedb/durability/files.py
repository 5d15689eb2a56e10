"""The file operations the durability layer uses, behind one seam so faults can be injected.

Everything that touches the disk (open, write, fsync, rename, truncate, remove) goes through a
`FileOps`; `RealFileOps` does it with `os`, `spacetimedb.durability.faults.FaultyFileOps` fails
chosen calls the way a full or broken disk would.
"""

from __future__ import annotations

import errno
import os

from spacetimedb.durability import durable_files

#: What `preallocate` writes, a step at a time.
_ZEROS = bytes(256 * 1024)


class FileOps:
    """Real file operations on raw descriptors (no userspace buffering: a write is a syscall)."""

    def open_append(self, path: str, position: int | None = None) -> int:
        """Open (creating if missing) for writing at `position` (default: the end); returns a descriptor."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0), 0o644)
        if position is None:
            os.lseek(fd, 0, os.SEEK_END)
        else:
            os.lseek(fd, position, os.SEEK_SET)
        return fd

    def open_new(self, path: str) -> int:
        """Create a new file for writing; fails if it exists."""
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)

    def write(self, fd: int, data: bytes, path: str = "") -> None:
        """Write all of `data`; a short write is continued, an error raises OSError."""
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]

    def fsync(self, fd: int, path: str = "") -> None:
        os.fsync(fd)

    def fdatasync(self, fd: int, path: str = "") -> None:
        """Make the file's data durable, and the metadata needed to read it back (its size), but
        not its times: what an append-only log needs after each group commit, with less to write
        than `fsync` (Linux, POSIX). Where there is no `fdatasync` this is `fsync`."""
        sync = getattr(os, "fdatasync", None)
        if sync is None:
            os.fsync(fd)
        else:
            sync(fd)

    def write_dsync(self, fd: int, data: bytes, path: str = "") -> None:
        """`write` then `fdatasync`, in one system call where the OS has one (Linux's `pwritev2`
        with `RWF_DSYNC`, at the file's position): a group commit's writer thread then crosses the
        GIL once per commit instead of twice. The same durability: the call returns once the bytes
        and the size needed to read them back are on disk."""
        flag = getattr(os, "RWF_DSYNC", None)
        if flag is None:
            self.write(fd, data, path)
            self.fdatasync(fd, path)
            return
        view = memoryview(data)
        while view:
            n = os.pwritev(fd, [view], -1, flag)  # offset -1: at (and advancing) the file position
            view = view[n:]

    def preallocate(self, fd: int, offset: int, length: int, path: str = "") -> None:
        """Write `length` zero bytes from `offset` on, without moving the file position: once they
        are synced, later writes there are overwrites of written blocks, whose sync journals neither
        a new size nor extent changes. (Not `posix_fallocate`: its extents stay "unwritten", and the
        first write into each is an extent conversion the next data sync must journal; measured
        here with 4 KB group commits, 211 us per synced write into fallocated space against 97 us
        into zeroed space, `benchmarks/sync_floor.py --record-bytes 4000`.) Raises OSError."""
        zeros = _ZEROS
        end = offset + length
        while offset < end:
            n = os.pwrite(fd, zeros if end - offset >= len(zeros) else zeros[: end - offset], offset)
            if n <= 0:
                raise OSError(errno.EIO, "zero-filling preallocated space wrote nothing", path)
            offset += n

    def size(self, fd: int) -> int:
        """The file's size in bytes (preallocated space included)."""
        return os.fstat(fd).st_size

    def truncate(self, fd: int, length: int, path: str = "") -> None:
        os.ftruncate(fd, length)
        os.lseek(fd, length, os.SEEK_SET)

    def close(self, fd: int) -> None:
        os.close(fd)

    def rename(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def remove(self, path: str) -> None:
        os.remove(path)

    def fsync_dir(self, directory: str) -> None:
        """Make a create/rename/remove in `directory` durable (see `durable_files.fsync_dir`)."""
        durable_files.fsync_dir(directory)

    def make_dirs(self, path: str) -> None:
        """Create `path` and missing parents, each new one's parent fsynced (through `fsync_dir`)."""
        durable_files.make_dirs(path, sync_dir=self.fsync_dir)

    def read_file(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()


REAL_FILE_OPS = FileOps()
