import os
import random
import shutil
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb.durability.database_durability import LOG_DIR, SNAPSHOT_DIR, DatabaseDurability
from spacetimedb.durability.dir_lock import DatabaseLockedError
from spacetimedb.durability.errors import DurabilityError, LogFailedError
from spacetimedb.durability.faults import FaultyFileOps
from spacetimedb.durability.policy import FsyncPolicy
from spacetimedb.durability.segment_format import list_segments
from spacetimedb.durability.snapshot_file import list_snapshots
from spacetimedb.durability.tx_payload import ReducerCallInfo

from .bank import CODECS, TRANSFER, new_db, open_accounts, state_of, transfer


def open_attached(d: str, **kw: object) -> tuple[DatabaseDurability, object]:
    dur = DatabaseDurability.open(d, **kw)  # type: ignore[arg-type]
    db = new_db()
    dur.attach(db, CODECS)
    return dur, db


def run_transfers(dur: DatabaseDurability, db, n: int, seed: int = 1, accounts: int = 8) -> None:
    rng = random.Random(seed)
    off = dur.next_tx_offset
    if db.count(1) == 0:
        dur.record_commit(off, open_accounts(db, accounts, 100))
        off += 1
    for _ in range(n):
        call = ReducerCallInfo("transfer", 7, 9, 1_700_000_000_000_000 + off, b"\x01")
        dur.record_commit(off, transfer(db, rng.randrange(accounts), rng.randrange(accounts), rng.randrange(5)), call)
        off += 1


def test_a_fresh_directory_recovers_to_nothing(tmp_path) -> None:
    with DatabaseDurability.open(str(tmp_path / "db")) as dur:
        assert dur.recovered.tx_offset == -1 and dur.next_tx_offset == 0 and dur.recovered.tables == {}


def test_reopen_recovers_rows_and_sequences(tmp_path) -> None:
    d = str(tmp_path)
    dur, db = open_attached(d, policy=FsyncPolicy.every_batch())
    run_transfers(dur, db, 50)
    expected = state_of(db)
    dur.close()
    dur2, db2 = open_attached(d)
    assert state_of(db2) == expected
    assert dur2.next_tx_offset == 51 and dur2.recovered.replayed == 51
    # The transfer id sequence continues: no id is handed out twice.
    tx = db2.begin()
    row = tx.insert(TRANSFER, (0, 1, 2, 3))
    tx.commit()
    assert row[0] == 51
    dur2.close()


def test_snapshot_plus_replay_equals_full_replay(tmp_path) -> None:
    d = str(tmp_path)
    dur, db = open_attached(d, snapshot_every=20, keep_snapshots=2)
    run_transfers(dur, db, 75)
    expected = state_of(db)
    dur.close()
    snaps = list_snapshots(os.path.join(d, SNAPSHOT_DIR))
    # Every 20 commits (offsets 19, 39, 59; one may be superseded while waiting), newest 2 kept.
    assert snaps[-1][0] == 59 and 1 <= len(snaps) <= 2
    dur2, db2 = open_attached(d)
    assert dur2.recovered.snapshot_offset == 59 and dur2.recovered.replayed == 16
    assert state_of(db2) == expected
    dur2.close()
    shutil.rmtree(os.path.join(d, SNAPSHOT_DIR))
    dur3, db3 = open_attached(d)
    assert dur3.recovered.snapshot_offset is None and dur3.recovered.replayed == 76
    assert state_of(db3) == expected
    dur3.close()


def test_a_snapshot_failing_its_checksum_falls_back_to_an_older_one(tmp_path, caplog) -> None:
    d = str(tmp_path)
    dur, db = open_attached(d, snapshot_every=0, keep_snapshots=3)
    for _ in range(3):
        run_transfers(dur, db, 10)
        assert dur.snapshot_now() and dur.snapshots.wait_idle(10)
    run_transfers(dur, db, 5)
    expected = state_of(db)
    dur.close()
    newest = os.path.join(d, SNAPSHOT_DIR, list_snapshots(os.path.join(d, SNAPSHOT_DIR))[-1][1])
    with open(newest, "r+b") as f:
        f.seek(os.path.getsize(newest) - 3)
        f.write(b"\xff\xfe\xfd")
    dur2, db2 = open_attached(d)
    assert dur2.recovered.snapshot_offset == 20 and dur2.recovered.replayed == 15
    assert state_of(db2) == expected
    assert "falling back" in caplog.text and os.path.basename(newest) in caplog.text
    dur2.close()


def test_snapshot_on_demand(tmp_path) -> None:
    d = str(tmp_path)
    dur, db = open_attached(d, snapshot_every=0)
    run_transfers(dur, db, 5)
    assert dur.snapshot_now()
    assert dur.snapshots.wait_idle(10)
    assert not dur.snapshot_now(), "nothing new since the last snapshot"
    dur.close()
    assert [o for o, _ in list_snapshots(os.path.join(d, SNAPSHOT_DIR))] == [5]


def test_request_snapshot_waits_for_the_file_and_retries_one_that_failed(tmp_path) -> None:
    d = str(tmp_path)
    ops = FaultyFileOps()
    dur, db = open_attached(d, snapshot_every=0, file_ops=ops)
    assert dur.request_snapshot() is None, "nothing committed yet"
    run_transfers(dur, db, 3)
    ops.fail("rename", path_contains=SNAPSHOT_DIR)  # the first snapshot file never lands
    offset = dur.request_snapshot()
    assert offset == 3
    with pytest.raises(DurabilityError, match="tx offset 3 was not written"):
        dur.wait_snapshot(offset, 10)
    assert dur.request_snapshot() == 3, "the failed snapshot is taken again"
    dur.wait_snapshot(3, 10)
    assert dur.request_snapshot() == 3  # already on disk: nothing new is written
    dur.wait_snapshot(3, 10)
    dur.close()
    assert [o for o, _ in list_snapshots(os.path.join(d, SNAPSHOT_DIR))] == [3]
    dur, db = open_attached(d, snapshot_every=0)
    assert dur.request_snapshot() == 3  # the recovered snapshot counts as written
    dur.wait_snapshot(3, 10)
    dur.close()


def test_a_second_open_of_the_same_directory_is_refused(tmp_path) -> None:
    d = str(tmp_path)
    with DatabaseDurability.open(d), pytest.raises(DatabaseLockedError):
        DatabaseDurability.open(d)
    DatabaseDurability.open(d).close()  # released on close


def test_destroy_removes_the_database(tmp_path) -> None:
    d = str(tmp_path / "db")
    dur, db = open_attached(d)
    run_transfers(dur, db, 3)
    dur.close()
    DatabaseDurability.destroy(d)
    assert not os.path.exists(d)


def test_log_failure_reaches_the_host_and_recovery_gives_the_confirmed_prefix(tmp_path) -> None:
    d = str(tmp_path)
    ops = FaultyFileOps()
    dur, db = open_attached(d, file_ops=ops)
    told: list[LogFailedError] = []
    dur.add_failure_listener(told.append)
    states = {}
    off = 0
    dur.record_commit(off, open_accounts(db, 4, 50))
    dur.wait_durable_blocking(off)
    states[off] = state_of(db)
    ops.fail("fsync", after=3)
    confirmed = off
    for i in range(10):
        off += 1
        try:
            dur.record_commit(off, transfer(db, i % 4, (i + 1) % 4, 1))
            dur.wait_durable_blocking(off, 10)
        except LogFailedError:
            break
        confirmed = off
        states[off] = state_of(db)
    assert told and dur.failure is not None
    with pytest.raises(LogFailedError):
        dur.record_commit(off + 1, transfer(db, 0, 1, 1))
    dur.close()
    dur2, db2 = open_attached(d)
    assert dur2.recovered.tx_offset == confirmed
    assert state_of(db2) == states[confirmed]
    dur2.close()


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 60), st.integers(0, 2**32), st.data())
def test_crash_at_any_byte_recovers_exactly_a_committed_prefix(n: int, seed: int, data: st.DataObject) -> None:
    d = tempfile.mkdtemp()
    try:
        dur, db = open_attached(d, policy=FsyncPolicy.off(), max_segment_bytes=600)
        states = {}
        rng = random.Random(seed)
        dur.record_commit(0, open_accounts(db, 5, 100))
        states[0] = state_of(db)
        for off in range(1, n + 1):
            dur.record_commit(off, transfer(db, rng.randrange(5), rng.randrange(5), rng.randrange(9)))
            states[off] = state_of(db)
        dur.close()
        log_dir = os.path.join(d, LOG_DIR)
        segs = list_segments(log_dir)
        last = os.path.join(log_dir, segs[-1][1])
        os.truncate(last, data.draw(st.integers(0, os.path.getsize(last))))
        dur2, db2 = open_attached(d)
        got = dur2.recovered.tx_offset
        assert got >= segs[-1][0] - 1, "only the last segment's records can be torn off"
        assert state_of(db2) == (states[got] if got >= 0 else {1: set(), 2: set()})
        assert sum(b for _, b in state_of(db2)[1]) in (0, 500)
        dur2.close()
    finally:
        shutil.rmtree(d)


def test_corruption_refuses_to_open_then_allow_truncate_recovers_the_prefix(tmp_path) -> None:
    from spacetimedb.durability.errors import CorruptLogError
    from spacetimedb.durability.segment_format import SEGMENT_HEADER_SIZE

    d = str(tmp_path)
    dur, db = open_attached(d, policy=FsyncPolicy.off())
    states = {}
    dur.record_commit(0, open_accounts(db, 4, 100))
    states[0] = state_of(db)
    for off in range(1, 20):
        dur.record_commit(off, transfer(db, off % 4, (off + 1) % 4, 3))
        states[off] = state_of(db)
    dur.close()
    seg = os.path.join(d, LOG_DIR, list_segments(os.path.join(d, LOG_DIR))[0][1])
    data = bytearray(open(seg, "rb").read())
    pos = SEGMENT_HEADER_SIZE
    for _ in range(7):  # skip 7 records: damage tx offset 7
        pos += 16 + int.from_bytes(data[pos + 8 : pos + 12], "little")
    data[pos + 20] ^= 0xFF
    open(seg, "wb").write(bytes(data))
    with pytest.raises(CorruptLogError) as e:
        DatabaseDurability.open(d)
    assert e.value.tx_offset == 7 and e.value.position == pos
    dur2, db2 = open_attached(d, allow_truncate=True)  # the failed open released the lock
    assert dur2.recovered.tx_offset == 6 and state_of(db2) == states[6]
    dur2.close()


def test_republish_reattaches_without_reloading_and_keeps_data(tmp_path) -> None:
    d = str(tmp_path)
    dur, db = open_attached(d)
    run_transfers(dur, db, 5)
    dur.attach(db, CODECS, load=False)  # a republish with the same tables: names/codecs refreshed
    run_transfers(dur, db, 5, seed=2)
    expected = state_of(db)
    dur.close()
    dur2, db2 = open_attached(d)
    assert state_of(db2) == expected and dur2.recovered.tx_offset == 10
    dur2.close()
