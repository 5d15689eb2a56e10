"""durable_files: the fsyncs that make a file or a directory survive a power cut, in the right order."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from spacetimedb.durability import DatabaseDurability, durable_files
from spacetimedb.durability.snapshot_file import SnapshotData, write_snapshot

from .fsync_log import FsyncLog, needs_proc_fd

pytestmark = needs_proc_fd


def test_write_file_fsyncs_a_temp_file_renames_it_then_fsyncs_the_directory(tmp_path: Path, monkeypatch) -> None:
    log = FsyncLog.install(monkeypatch)
    target = tmp_path / "key"
    durable_files.write_file(target, b"secret", mode=0o600)
    assert target.read_bytes() == b"secret"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    [(_kind, src, dst)] = [e for e in log.events if e[0] == "rename"]
    assert dst == str(target) and src != dst
    assert log.file_durable(target)
    assert [p.name for p in tmp_path.iterdir()] == ["key"]  # no temp file left


def test_write_file_replaces_atomically_and_a_failed_write_leaves_the_old_content(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "meta.json"
    durable_files.write_file(target, b"old")
    durable_files.write_file(target, b"new")
    assert target.read_bytes() == b"new"

    def broken_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "disk on fire")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk on fire"):
        durable_files.write_file(target, b"newer")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]


def test_make_dirs_fsyncs_the_parent_of_every_directory_it_creates(tmp_path: Path, monkeypatch) -> None:
    log = FsyncLog.install(monkeypatch)
    durable_files.make_dirs(tmp_path / "a" / "b" / "c")
    for d in ("a", "a/b", "a/b/c"):
        assert log.dir_durable(tmp_path / d), d
    before = len(log.events)
    durable_files.make_dirs(tmp_path / "a" / "b")  # exists: nothing to do
    assert len(log.events) == before


def test_fsync_tree_fsyncs_every_file_and_directory(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("x = 1\n")
    (root / "sub" / "m.py").write_text("y = 2\n")
    log = FsyncLog.install(monkeypatch)
    durable_files.fsync_tree(root)
    for p in (root, root / "sub", root / "__init__.py", root / "sub" / "m.py"):
        assert log.fsynced(p), p


def test_remove_tree_fsyncs_the_parent(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "db" / "x").mkdir(parents=True)
    log = FsyncLog.install(monkeypatch)
    durable_files.remove_tree(tmp_path / "db")
    assert not (tmp_path / "db").exists()
    assert log.fsynced(tmp_path)


def test_fsync_dir_ignores_unsupported_but_raises_io_errors(tmp_path: Path, monkeypatch) -> None:
    def fsync_einval(fd: int) -> None:
        raise OSError(errno.EINVAL, "not supported here")

    monkeypatch.setattr(os, "fsync", fsync_einval)
    durable_files.fsync_dir(tmp_path)

    def fsync_eio(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "fsync", fsync_eio)
    with pytest.raises(OSError, match="I/O error"):
        durable_files.fsync_dir(tmp_path)


def test_a_new_database_directory_and_its_log_and_snapshot_dirs_survive_a_power_cut(tmp_path: Path, monkeypatch) -> None:
    log = FsyncLog.install(monkeypatch)
    db_dir = tmp_path / "databases" / "bank" / "data" / "durability"
    dur = DatabaseDurability.open(str(db_dir))
    try:
        dur.record_commit(0, _EmptyDelta())
        dur.flush()
    finally:
        dur.close()
    for d in ("databases", "databases/bank", "databases/bank/data", "databases/bank/data/durability",
              "databases/bank/data/durability/log"):
        assert log.dir_durable(tmp_path / d), d
    [segment] = (db_dir / "log").iterdir()
    assert log.file_durable(segment)
    snaps = tmp_path / "snaps" / "nested"
    path = write_snapshot(str(snaps), SnapshotData(0, [], []))
    assert log.dir_durable(snaps.parent) and log.dir_durable(snaps)
    assert log.file_durable(path)


class _EmptyDelta:
    tables: dict[int, object] = {}
    sequences: dict[object, int] = {}
