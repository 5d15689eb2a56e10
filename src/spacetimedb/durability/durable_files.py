"""Writing files and directories so they survive a power cut.

After a power cut a disk keeps a file's data only as of its last `fsync`, and a name in a
directory (a new file, a rename, a removal, a new subdirectory) only once that directory was
fsynced. Every file the server relies on is therefore written here: a temp file in the same
directory, fsynced, renamed over the target, then the directory fsynced; and every directory it
creates has its parent fsynced. The durability layer and the server both use these (this module
imports nothing of the project, so any layer may).
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Callable

#: fsync on a directory: filesystems that cannot (some network/FUSE ones) answer one of these.
_DIR_FSYNC_UNSUPPORTED = (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF)


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make the creations, renames and removals in `directory` durable.

    A no-op where directories cannot be opened (Windows) or the filesystem does not support it;
    any other failure (EIO) raises: the names are then not known to be on disk.
    """
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        if os.name == "nt":
            return
        raise
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in _DIR_FSYNC_UNSUPPORTED:
            raise
    finally:
        os.close(fd)


def make_dirs(
    path: str | os.PathLike[str], *, sync_dir: Callable[[str], None] = fsync_dir
) -> None:
    """`mkdir -p` that survives a power cut: each directory it creates has its parent fsynced.

    Directories that already exist are left alone. `sync_dir` is the directory fsync to use (the
    durability layer passes its `FileOps.fsync_dir`, so tests can make it fail).
    """
    target = os.path.abspath(os.fspath(path))
    missing: list[str] = []
    current = target
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise
        sync_dir(os.path.dirname(directory))


def write_file(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` atomically and durably: temp file + fsync + rename + dir fsync.

    A crash leaves either the old content or the new, never a mix or an empty file. The parent
    directory must exist (see `make_dirs`). `mode` applies to the new file (umask aside).
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    tmp = os.path.join(directory, f".{os.path.basename(target)}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)


def fsync_tree(root: str | os.PathLike[str]) -> None:
    """fsync every file and directory under `root` (and `root`), deepest first.

    For a tree written by a library (an unpacked archive, a copied package): afterwards renaming
    `root` into place and fsyncing its parent makes the whole tree durable.
    """
    top = os.fspath(root)
    if not os.path.isdir(top):
        _fsync_file(top)
        return
    for directory, _dirs, files in os.walk(top, topdown=False):
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                _fsync_file(path)
        fsync_dir(directory)


def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """`os.replace` made durable: the directories of both names are fsynced."""
    os.replace(src, dst)
    src_dir = os.path.dirname(os.path.abspath(os.fspath(src)))
    dst_dir = os.path.dirname(os.path.abspath(os.fspath(dst)))
    fsync_dir(dst_dir)
    if src_dir != dst_dir:
        fsync_dir(src_dir)


def remove_tree(path: str | os.PathLike[str], *, ignore_errors: bool = False) -> None:
    """Delete a directory tree (if present) so the deletion survives a power cut (parent fsynced)."""
    target = os.path.abspath(os.fspath(path))
    if not os.path.lexists(target):
        return
    shutil.rmtree(target, ignore_errors=ignore_errors)
    try:
        fsync_dir(os.path.dirname(target))
    except OSError:
        if not ignore_errors:
            raise


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
