"""The power-cut filesystem itself keeps exactly what a disk keeps after losing power."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.durability.powercut_fs import PowerCutFS, fuse_unavailable_reason

from spacetimedb.durability import durable_files

_UNAVAILABLE = fuse_unavailable_reason()
pytestmark = pytest.mark.skipif(_UNAVAILABLE is not None, reason=f"no FUSE: {_UNAVAILABLE}")


def _tree(root: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for directory, dirs, files in os.walk(root):
        rel = Path(directory).relative_to(root)
        for d in dirs:
            out[str(rel / d) + "/"] = None
        for f in files:
            out[str(rel / f)] = (Path(directory) / f).read_bytes()
    return out


def test_only_fsynced_data_and_directory_entries_survive_the_cut(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "old.txt").write_bytes(b"there before the mount")
    with PowerCutFS(tmp_path / "fs", initial=seed) as fs:
        m = fs.mountpoint
        (m / "unsynced-name.txt").write_bytes(b"never in an fsynced directory")
        durable_files.make_dirs(m / "a" / "b")  # fsyncs m (so unsynced-name.txt's name survives), a
        (m / "unsynced-name.txt").write_bytes(b"data never fsynced")
        durable_files.write_file(m / "a" / "b" / "key", b"KEY")  # temp + fsync + rename + dir fsync
        (m / "a" / "lost-dir").mkdir()
        (m / "a" / "lost-dir" / "f").write_bytes(b"x")
        fd = os.open(m / "a" / "log", os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, b"12345")
        os.fsync(fd)
        os.write(fd, b"678")  # written, not fsynced
        durable_files.fsync_dir(m / "a")  # a's entries: b, lost-dir (empty: never fsynced), log
        os.remove(m / "old.txt")  # removal never made durable
        fs.cut()
        os.fsync(fd)  # after the cut: does not count
        os.close(fd)
        durable_files.write_file(m / "a" / "b" / "key", b"NEW KEY")
        durable_files.fsync_dir(m)
    assert _tree(fs.rebuilt) == {
        "a/": None,
        "old.txt": b"there before the mount",
        "unsynced-name.txt": b"",
        "a/b/": None,
        "a/lost-dir/": None,
        "a/log": b"12345",
        "a/b/key": b"KEY",
    }


def test_a_renamed_file_keeps_the_data_fsynced_under_its_old_name_and_truncation_counts(tmp_path: Path) -> None:
    with PowerCutFS(tmp_path / "fs") as fs:
        m = fs.mountpoint
        fd = os.open(m / "tmp", os.O_RDWR | os.O_CREAT, 0o600)
        os.write(fd, b"abcdefgh")
        os.fsync(fd)
        os.ftruncate(fd, 3)
        os.pwrite(fd, b"XY", 5)  # a hole of zeros at 3..5
        os.fsync(fd)
        os.close(fd)
        os.rename(m / "tmp", m / "final")
        durable_files.fsync_dir(m)
        (m / "final2").write_bytes(b"v1")
        os.rename(m / "final2", m / "final")  # replaces the durable file, but the dir is not fsynced
        fs.cut()
    assert _tree(fs.rebuilt) == {"final": b"abc\0\0XY"}


def test_a_write_with_rwf_dsync_is_a_durability_point_like_fdatasync(tmp_path: Path) -> None:
    """The commit log writes each group commit with `FileOps.write_dsync` (pwritev2 + RWF_DSYNC on
    Linux): the kernel follows such a write with a sync of the file, which this filesystem sees, so
    the power-cut test checks that path too. A plain write after it is lost at the cut."""
    from spacetimedb.durability.files import REAL_FILE_OPS

    with PowerCutFS(tmp_path / "fs") as fs:
        m = fs.mountpoint
        fd = REAL_FILE_OPS.open_new(str(m / "seg"))
        REAL_FILE_OPS.fsync(fd)
        durable_files.fsync_dir(m)
        REAL_FILE_OPS.write_dsync(fd, b"confirmed")
        os.write(fd, b"+unsynced")
        fs.cut()
        os.close(fd)
    assert _tree(fs.rebuilt) == {"seg": b"confirmed"}
