"""A FUSE filesystem that forgets, at a power cut, everything that was not fsynced.

It passes every operation through to a backing directory and keeps, beside it, what a disk would
still hold after losing power:

- a file's content as of its last `fsync` (ext4-like: data that was written but never fsynced is
  gone; a file whose name survived but that was never fsynced comes back empty);
- a directory's entries as of its last `fsync` of that directory: a new file or subdirectory, a
  rename or a removal counts only once its parent directory was fsynced (a directory created but
  never fsynced itself comes back empty).

Files are tracked by inode, so a temp file fsynced and then renamed keeps its content. Whatever
was in the backing directory at mount time counts as durable.

`stat("<mountpoint>/.powercut")` cuts the power: from then on nothing more becomes durable (the
stat returns ENOENT once the cut is in force). Unmounting then writes the durable state out as a
fresh directory tree: the disk as the next boot would find it.

    with PowerCutFS(work_dir, initial=None) as fs:     # mounted at fs.mountpoint
        ... run a server on fs.mountpoint, then:
        fs.cut()
        ... kill the server
    fs.rebuilt                                          # the directory after the power cut

Run as a script it is the FUSE daemon (single-threaded, so operations are applied in order):
    python -m tests.durability.powercut_fs BACKING MOUNTPOINT SHADOW OUT
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

CUT_NAME = ".powercut"
#: Beyond this many unsynced write ranges in one file, keep one covering range instead.
_MAX_RANGES = 256


def fuse_unavailable_reason() -> str | None:
    """Why a FUSE filesystem cannot be mounted here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "the power-cut filesystem needs Linux FUSE"
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing (no FUSE in this kernel or container); scripts/install-fuse cannot help"
    if os.geteuid() != 0 and shutil.which("fusermount3") is None and shutil.which("fusermount") is None:
        return "fusermount3 is missing (install Debian's fuse3: scripts/install-fuse)"
    try:
        import mfusepy  # noqa: F401
    except ImportError as e:
        return f"the FUSE binding cannot load ({e}); install the test extra and Debian's fuse3 (scripts/install-fuse)"
    except OSError as e:  # mfusepy raises OSError when libfuse is not installed
        return f"libfuse is not installed ({e}); scripts/install-fuse installs Debian's fuse3"
    return None


# ---- the daemon ---------------------------------------------------------------------------------


@dataclass
class _Dirty:
    """Writes to one file since its last fsync."""

    ranges: list[tuple[int, int]] = field(default_factory=list)  # (offset, end)
    truncated_to: int | None = None  # smallest size it was truncated to

    def add(self, start: int, end: int) -> None:
        self.ranges.append((start, end))
        if len(self.ranges) > _MAX_RANGES:
            self.ranges = [(min(s for s, _ in self.ranges), max(e for _, e in self.ranges))]

    def truncate(self, size: int) -> None:
        self.truncated_to = size if self.truncated_to is None else min(self.truncated_to, size)


def _make_operations(backing: str, shadow: str) -> Any:
    import mfusepy as fuse

    class PowerCutOperations(fuse.Operations):  # type: ignore[misc]
        use_ns = True

        def __init__(self) -> None:
            self.root = os.path.abspath(backing)
            self.shadow = os.path.abspath(shadow)
            self.cut = False
            self._next_id = 0
            self.ids: dict[int, int] = {}  # backing inode -> our id (retired when the inode dies)
            self.kinds: dict[int, str] = {}  # id -> "f" | "d"
            self.modes: dict[int, int] = {}  # id -> permission bits as of its last durable point
            self.fh_ids: dict[int, int] = {}  # open backing descriptor -> id
            self.dirty: dict[int, _Dirty] = {}
            self.durable_files: set[int] = set()  # ids with a shadow copy
            self.durable_dirs: dict[int, dict[str, int]] = {}  # id -> entries as of its last fsync
            self.root_id = self._import_tree(self.root)

        # -- ids --

        def _path(self, path: str) -> str:
            return os.path.join(self.root, path.lstrip("/"))

        def _id_of_stat(self, st: os.stat_result) -> int:
            ident = self.ids.get(st.st_ino)
            if ident is None:
                ident = self.ids[st.st_ino] = self._next_id
                self._next_id += 1
                self.kinds[ident] = "d" if stat.S_ISDIR(st.st_mode) else "f"
                self.modes[ident] = stat.S_IMODE(st.st_mode)
            return ident

        def _id(self, path: str) -> int:
            return self._id_of_stat(os.lstat(self._path(path)))

        def _retire(self, real: str) -> None:
            """The name `real` is going away: if it is the inode's last one, a reused inode number
            must get a new id."""
            try:
                st = os.lstat(real)
            except FileNotFoundError:
                return
            if stat.S_ISDIR(st.st_mode) or st.st_nlink <= 1:
                self.ids.pop(st.st_ino, None)

        def _import_tree(self, top: str) -> int:
            """Everything present at mount time is durable."""
            top_id = self._id_of_stat(os.lstat(top))
            for directory, dirs, files in os.walk(top):
                d_id = self._id_of_stat(os.lstat(directory))
                entries = {}
                for name in dirs + files:
                    real = os.path.join(directory, name)
                    st = os.lstat(real)
                    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                        continue
                    ident = entries[name] = self._id_of_stat(st)
                    if self.kinds[ident] == "f":
                        shutil.copyfile(real, self._shadow_path(ident))
                        self.durable_files.add(ident)
                self.durable_dirs[d_id] = entries
            return top_id

        def _shadow_path(self, ident: int) -> str:
            return os.path.join(self.shadow, str(ident))

        # -- the cut switch --

        def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
            if path == "/" + CUT_NAME:
                self.cut = True
                raise fuse.FuseOSError(errno.ENOENT)
            st = os.fstat(fh) if fh is not None else os.lstat(self._path(path))
            return {
                "st_mode": st.st_mode, "st_nlink": st.st_nlink, "st_size": st.st_size,
                "st_uid": st.st_uid, "st_gid": st.st_gid, "st_ino": st.st_ino,
                "st_atime": st.st_atime_ns, "st_mtime": st.st_mtime_ns, "st_ctime": st.st_ctime_ns,
            }

        # -- directories --

        def readdir(self, path: str, fh: int) -> list[str]:
            return [".", "..", *os.listdir(self._path(path))]

        def mkdir(self, path: str, mode: int) -> int:
            os.mkdir(self._path(path), mode)
            self._id(path)
            return 0

        def rmdir(self, path: str) -> int:
            real = self._path(path)
            st = os.lstat(real)
            os.rmdir(real)
            self.ids.pop(st.st_ino, None)
            return 0

        def unlink(self, path: str) -> int:
            real = self._path(path)
            self._retire(real)
            os.unlink(real)
            return 0

        def rename(self, old: str, new: str) -> int:
            src, dst = self._path(old), self._path(new)
            self._id(old)
            if os.path.lexists(dst) and not os.path.samefile(src, dst):
                self._retire(dst)
            os.rename(src, dst)
            return 0

        def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
            if not self.cut:
                real = self._path(path)
                d_id = self._id(path)
                entries = {}
                for name in os.listdir(real):
                    st = os.lstat(os.path.join(real, name))
                    if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                        ident = entries[name] = self._id_of_stat(st)
                        self.modes[ident] = stat.S_IMODE(st.st_mode)
                self.durable_dirs[d_id] = entries
            return 0

        # -- files --

        def create(self, path: str, mode: int, flags: int = os.O_RDWR) -> int:
            fd = os.open(self._path(path), _readable(flags) | os.O_CREAT, mode)
            ident = self._id_of_stat(os.fstat(fd))
            self.fh_ids[fd] = ident
            self.dirty.setdefault(ident, _Dirty()).truncate(0)
            return fd

        def open(self, path: str, flags: int) -> int:
            fd = os.open(self._path(path), _readable(flags) & ~(os.O_CREAT | os.O_EXCL))
            ident = self._id_of_stat(os.fstat(fd))
            self.fh_ids[fd] = ident
            if flags & os.O_TRUNC:
                self.dirty.setdefault(ident, _Dirty()).truncate(0)
            return fd

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            return os.pread(fh, size, offset)

        def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
            n = os.pwrite(fh, data, offset)
            self.dirty.setdefault(self.fh_ids[fh], _Dirty()).add(offset, offset + n)
            return n

        def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
            if fh is not None:
                os.ftruncate(fh, length)
                ident = self.fh_ids[fh]
            else:
                assert path is not None
                os.truncate(self._path(path), length)
                ident = self._id(path)
            self.dirty.setdefault(ident, _Dirty()).truncate(length)
            return 0

        def flush(self, path: str, fh: int) -> int:
            return 0

        def release(self, path: str, fh: int) -> int:
            self.fh_ids.pop(fh, None)
            os.close(fh)
            return 0

        def fsync(self, path: str, datasync: int, fh: int) -> int:
            if self.cut:
                return 0
            ident = self.fh_ids[fh]
            dirty = self.dirty.pop(ident, None)
            size = os.fstat(fh).st_size
            self.modes[ident] = stat.S_IMODE(os.fstat(fh).st_mode)
            flags = os.O_RDWR | os.O_CREAT
            with open(os.open(self._shadow_path(ident), flags, 0o600), "r+b") as out:
                if dirty is not None and dirty.truncated_to is not None:
                    out.truncate(dirty.truncated_to)
                out.truncate(size)
                for start, end in (dirty.ranges if dirty is not None else ()):
                    end = min(end, size)
                    if end > start:
                        out.seek(start)
                        out.write(os.pread(fh, end - start, start))
            self.durable_files.add(ident)
            return 0

        # -- metadata --

        def chmod(self, path: str, mode: int) -> int:
            os.chmod(self._path(path), mode)
            return 0

        def chown(self, path: str, uid: int, gid: int) -> int:
            os.chown(self._path(path), uid, gid)
            return 0

        def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
            os.utime(self._path(path), ns=times) if times else os.utime(self._path(path))
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            sv = os.statvfs(self._path(path))
            return {k: getattr(sv, k) for k in (
                "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag",
                "f_frsize", "f_namemax")}

        # -- after the cut --

        def rebuild(self, out: str) -> None:
            """Write the durable state as a directory tree at `out`."""
            os.makedirs(out)
            self._rebuild_dir(self.root_id, out, {self.root_id})

        def _rebuild_dir(self, d_id: int, out: str, seen: set[int]) -> None:
            for name, ident in sorted(self.durable_dirs.get(d_id, {}).items()):
                target = os.path.join(out, name)
                if self.kinds.get(ident) == "d":
                    if ident in seen:
                        continue  # a cycle from renames at different sync points: drop it
                    os.mkdir(target)
                    self._rebuild_dir(ident, target, seen | {ident})
                    os.chmod(target, self.modes.get(ident, 0o755))
                else:
                    if ident in self.durable_files:
                        shutil.copyfile(self._shadow_path(ident), target)
                    else:
                        open(target, "wb").close()  # the name survived, the data never was fsynced
                    os.chmod(target, self.modes.get(ident, 0o644))

    return PowerCutOperations()


def _readable(flags: int) -> int:
    """Open flags for the backing file: never write-only (fsync reads the new data back for the
    durable copy), never O_APPEND (the kernel gives every write its offset)."""
    if flags & os.O_ACCMODE == os.O_WRONLY:
        flags = (flags & ~os.O_ACCMODE) | os.O_RDWR
    return flags & ~os.O_APPEND


def _daemon(backing: str, mountpoint: str, shadow: str, out: str) -> None:
    import mfusepy as fuse

    ops = _make_operations(backing, shadow)
    # hard_remove: no .fuse_hidden files for unlinked open files (they would show up in fsyncdir).
    fuse.FUSE(ops, mountpoint, foreground=True, nothreads=True, hard_remove=True, fsname="powercut")
    ops.rebuild(out)


# ---- the test side --------------------------------------------------------------------------------


class PowerCutFS:
    """Mounts the power-cut filesystem over a fresh backing directory in `work` (optionally seeded
    with a copy of `initial`, which counts as durable), and rebuilds what survives at unmount."""

    def __init__(self, work: Path, initial: Path | None = None) -> None:
        self.work = work
        self.backing, self.mountpoint = work / "backing", work / "mnt"
        self.shadow, self.rebuilt = work / "shadow", work / "rebuilt"
        for d in (self.mountpoint, self.shadow):
            d.mkdir(parents=True)
        if initial is not None:
            shutil.copytree(initial, self.backing, symlinks=False)
        else:
            self.backing.mkdir()
        self._log = open(work / "fuse.log", "wb")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.durability.powercut_fs",
             str(self.backing), str(self.mountpoint), str(self.shadow), str(self.rebuilt)],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2],
        )
        deadline = time.monotonic() + 30
        while not os.path.ismount(self.mountpoint):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._proc.kill()
                raise RuntimeError(f"the power-cut filesystem did not mount: {self._read_log()}")
            time.sleep(0.02)

    def _read_log(self) -> str:
        self._log.flush()
        return (self.work / "fuse.log").read_text(errors="replace")[-4000:]

    def cut(self) -> None:
        """Cut the power: nothing written from now on becomes durable."""
        try:
            os.stat(self.mountpoint / CUT_NAME)
        except FileNotFoundError:
            return
        raise AssertionError("the power-cut filesystem did not take the cut")

    def unmount(self) -> Path:
        """Unmount (kill every process using it first) and return the rebuilt directory."""
        tool = shutil.which("fusermount3") or shutil.which("fusermount")
        cmd = [tool, "-u", "-z", str(self.mountpoint)] if tool else ["umount", "-l", str(self.mountpoint)]
        subprocess.run(cmd, check=False, capture_output=True)
        try:
            self._proc.wait(60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            raise AssertionError(f"the power-cut filesystem did not exit: {self._read_log()}") from None
        self._log.close()
        if self._proc.returncode != 0 or not self.rebuilt.is_dir():
            raise AssertionError(f"the power-cut filesystem failed (exit {self._proc.returncode}): {self._read_log()}")
        return self.rebuilt

    def __enter__(self) -> PowerCutFS:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._proc.poll() is None:
            if t is None:
                self.unmount()
            else:
                tool = shutil.which("fusermount3") or shutil.which("fusermount") or "umount"
                subprocess.run([tool, "-u", "-z", str(self.mountpoint)], check=False, capture_output=True)
                try:
                    self._proc.wait(30)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                self._log.close()


if __name__ == "__main__":
    _daemon(*sys.argv[1:5])
