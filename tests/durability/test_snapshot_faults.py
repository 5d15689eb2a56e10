"""A snapshot that cannot be written leaves no file behind and never harms the database."""

import errno
import os

import pytest

from spacetimedb.durability.database_durability import SNAPSHOT_DIR, DatabaseDurability
from spacetimedb.durability.errors import CorruptSnapshotError
from spacetimedb.durability.faults import FaultyFileOps
from spacetimedb.durability.snapshot_file import (
    SnapshotData,
    TableImage,
    decode_snapshot,
    encode_snapshot,
    list_snapshots,
    write_snapshot,
)
from spacetimedb.durability.tx_payload import SequenceState

from .bank import CODECS, new_db, open_accounts, state_of, transfer


def test_snapshot_round_trip_and_every_flipped_byte_is_detected() -> None:
    snap = SnapshotData(7, [TableImage(1, "account", [b"\x01" * 16, b"\x02" * 16])], [SequenceState(2, 0, 9)])
    raw = encode_snapshot(snap)
    assert decode_snapshot(raw) == snap
    for pos in range(len(raw)):
        bad = bytearray(raw)
        bad[pos] ^= 0x10
        with pytest.raises(CorruptSnapshotError):
            decode_snapshot(bytes(bad))


@pytest.mark.parametrize("op,kw", [("rename", {}), ("write", {"errno_": errno.ENOSPC, "partial": 7}), ("fsync", {})])
def test_failed_snapshot_write_leaves_nothing_behind(tmp_path, op: str, kw: dict) -> None:
    ops = FaultyFileOps()
    ops.fail(op, path_contains=".snap", **kw)
    d = str(tmp_path)
    with pytest.raises(OSError):
        write_snapshot(d, SnapshotData(3, [TableImage(1, "t", [b"x"])]), ops)
    assert os.listdir(d) == []


def test_database_keeps_working_when_a_snapshot_fails(tmp_path) -> None:
    d = str(tmp_path)
    ops = FaultyFileOps()
    ops.fail("rename", path_contains=".snap")
    dur = DatabaseDurability.open(d, file_ops=ops, snapshot_every=0)
    db = new_db()
    dur.attach(db, CODECS)
    dur.record_commit(0, open_accounts(db, 3, 10))
    assert dur.snapshot_now() and dur.snapshots.wait_idle(10)
    assert isinstance(dur.snapshots.last_error, OSError)
    dur.record_commit(1, transfer(db, 0, 1, 4))
    expected = state_of(db)
    dur.close()
    assert list_snapshots(os.path.join(d, SNAPSHOT_DIR)) == []
    with DatabaseDurability.open(d) as dur2:
        db2 = new_db()
        dur2.attach(db2, CODECS)
        assert state_of(db2) == expected
