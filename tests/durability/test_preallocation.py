"""Preallocated segments: a zeroed tail is the clean end of the log; damage next to it is still damage."""

from __future__ import annotations

import json
import logging
import os
import shutil

import pytest
from tests.durability.powercut_fs import PowerCutFS, fuse_unavailable_reason

from spacetimedb.durability.commit_log import CommitLog
from spacetimedb.durability.database_durability import DatabaseDurability
from spacetimedb.durability.errors import CorruptLogError, LogFailedError
from spacetimedb.durability.faults import FaultyFileOps
from spacetimedb.durability.segment_format import SEGMENT_HEADER_SIZE, list_segments

from .bank import CODECS, new_db, state_of
from .log_helpers import payload, read_log
from .test_database_durability import run_transfers
from .test_log_verification import record_starts

_NO_FUSE = fuse_unavailable_reason()
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def crash_image(d: str, out: str, count: int, *, start: int = 0, **kw: object) -> CommitLog:
    """Append `count` records durably, then copy the directory as a crash at that moment would leave
    it (the log is still open, its segment preallocated). Returns the open log (close it)."""
    log = CommitLog(d, **kw)  # type: ignore[arg-type]
    for i in range(start, start + count):
        log.append(i, payload(i))
    log.flush()
    shutil.copytree(d, out)
    return log


def last_segment(d: str) -> str:
    return os.path.join(d, list_segments(d)[-1][1])


def records_end(path: str) -> int:
    """Byte position just after the last record (the zeroed tail starts there)."""
    data = open(path, "rb").read()
    pos = SEGMENT_HEADER_SIZE
    while pos + 16 <= len(data) and any(data[pos : pos + 16]):
        pos += 16 + int.from_bytes(data[pos + 8 : pos + 12], "little")
    return pos


def test_a_preallocated_tail_is_the_clean_end_and_writing_continues_after_the_records(tmp_path) -> None:
    d, img = str(tmp_path / "log"), str(tmp_path / "crash")
    crash_image(d, img, 20, preallocate_bytes=64 * 1024).close()
    seg = last_segment(img)
    end = records_end(seg)
    assert os.path.getsize(seg) > end and not any(open(seg, "rb").read()[end:]), "a zeroed tail was preallocated"
    got, result = read_log(img)
    assert got == [(i, payload(i)) for i in range(20)]
    assert result.truncated is None and result.tail.segment_size == end and result.tail.last_offset == 19
    # The writer continues at the end of the records, not of the file; closing cuts the zeros off.
    with CommitLog(img, result.tail, preallocate_bytes=64 * 1024) as log:
        for i in range(20, 30):
            log.append(i, payload(i))
        log.flush()
    assert os.path.getsize(seg) == records_end(seg), "a cleanly closed segment ends at its last record"
    got, result = read_log(img)
    assert got == [(i, payload(i)) for i in range(30)] and result.truncated is None


def test_a_torn_record_followed_by_zeros_is_a_torn_tail(tmp_path, caplog) -> None:
    d, img = str(tmp_path / "log"), str(tmp_path / "crash")
    crash_image(d, img, 12, preallocate_bytes=64 * 1024).close()
    seg = last_segment(img)
    starts = record_starts_before_zeros(seg)
    # The last group commit reached the disk only in part: its second half reads as zeros.
    cut = starts[-1] + 20
    with open(seg, "r+b") as f:
        f.seek(cut)
        f.write(bytes(records_end(seg) - cut))
    with caplog.at_level(logging.WARNING):
        got, result = read_log(img)
    assert got == [(i, payload(i)) for i in range(11)]
    assert result.truncated is not None and result.truncated.torn and result.truncated.position == starts[-1]
    assert "torn" in caplog.text
    again, result2 = read_log(img)
    assert again == got and result2.truncated is None


def record_starts_before_zeros(path: str) -> list[int]:
    end = records_end(path)
    with open(path, "rb") as f:
        data = f.read(end)
    trimmed = path + ".records"
    with open(trimmed, "wb") as f:
        f.write(data)
    try:
        return record_starts(trimmed)
    finally:
        os.remove(trimmed)


def test_a_zeroed_region_in_the_middle_followed_by_valid_records_is_corruption(tmp_path) -> None:
    d, img = str(tmp_path / "log"), str(tmp_path / "crash")
    crash_image(d, img, 12, preallocate_bytes=64 * 1024).close()
    seg = last_segment(img)
    starts = record_starts_before_zeros(seg)
    with open(seg, "r+b") as f:  # records 4 and 5 zeroed, 6.. intact
        f.seek(starts[4])
        f.write(bytes(starts[6] - starts[4]))
    with pytest.raises(CorruptLogError) as e:
        read_log(img)
    assert e.value.position == starts[4] and e.value.tx_offset == 4
    assert os.path.getsize(seg) > records_end(seg), "nothing was cut"


def test_zeros_then_garbage_at_the_end_is_a_torn_tail_not_a_clean_end(tmp_path) -> None:
    d, img = str(tmp_path / "log"), str(tmp_path / "crash")
    crash_image(d, img, 5, preallocate_bytes=64 * 1024).close()
    seg = last_segment(img)
    end = records_end(seg)
    with open(seg, "r+b") as f:  # a later sector of a torn write landed, the first did not
        f.seek(end + 40)
        f.write(b"\x07garbage")
    got, result = read_log(img)
    assert got == [(i, payload(i)) for i in range(5)]
    assert result.truncated is not None and result.truncated.torn and result.truncated.position == end
    assert os.path.getsize(seg) == end


def test_a_bit_flip_before_the_zeroed_tail_is_still_caught(tmp_path) -> None:
    d, img = str(tmp_path / "log"), str(tmp_path / "crash")
    crash_image(d, img, 12, preallocate_bytes=64 * 1024).close()
    seg = last_segment(img)
    starts = record_starts_before_zeros(seg)
    with open(seg, "r+b") as f:
        f.seek(starts[3] + 18)
        b = f.read(1)[0]
        f.seek(starts[3] + 18)
        f.write(bytes([b ^ 4]))
    with pytest.raises(CorruptLogError) as e:
        read_log(img)
    assert e.value.position == starts[3]


def test_rolling_over_cuts_the_finished_segment_back_to_its_records(tmp_path) -> None:
    d, img = str(tmp_path / "log"), str(tmp_path / "crash")
    crash_image(d, img, 40, max_segment_bytes=300, preallocate_bytes=4096).close()
    segs = list_segments(img)
    assert len(segs) > 3
    for _, name in segs[:-1]:
        path = os.path.join(img, name)
        assert os.path.getsize(path) == records_end(path) <= 300 + 64
    last = os.path.join(img, segs[-1][1])
    assert os.path.getsize(last) == 300 > records_end(last), "the open segment is preallocated up to the limit"
    got, result = read_log(img)
    assert got == [(i, payload(i)) for i in range(40)] and result.truncated is None


def test_zeros_at_the_end_of_a_finished_segment_are_corruption_not_a_clean_end(tmp_path) -> None:
    d, img = str(tmp_path / "log"), str(tmp_path / "crash")
    crash_image(d, img, 40, max_segment_bytes=300, preallocate_bytes=4096).close()
    first = os.path.join(img, list_segments(img)[0][1])
    starts = record_starts(first)
    with open(first, "r+b") as f:  # its last record lost to zeros: a gap before the next segment
        f.seek(starts[-1])
        f.write(bytes(os.path.getsize(first) - starts[-1]))
    with pytest.raises(CorruptLogError) as e:
        read_log(img)
    assert e.value.position == starts[-1] and "finished segment" in e.value.reason


def test_rotation_after_a_crash_counts_records_not_the_preallocated_size(tmp_path) -> None:
    d, img = str(tmp_path / "log"), str(tmp_path / "crash")
    crash_image(d, img, 3, max_segment_bytes=400, preallocate_bytes=4096).close()
    _, result = read_log(img)
    before = len(list_segments(img))
    with CommitLog(img, result.tail, max_segment_bytes=400, preallocate_bytes=4096) as log:
        log.append(3, payload(3))
        log.flush()
    assert len(list_segments(img)) == before, "the next record still fits the segment: no roll"


def test_a_filesystem_that_cannot_preallocate_only_costs_the_speed_up(tmp_path, caplog) -> None:
    ops = FaultyFileOps()
    ops.fail("preallocate", times=1_000)
    d = str(tmp_path / "log")
    with caplog.at_level(logging.WARNING), CommitLog(d, file_ops=ops, max_segment_bytes=300) as log:
        for i in range(20):
            log.append(i, payload(i))
        log.flush()
        assert log.failure is None and log.durable_offset == 19
    assert "cannot preallocate" in caplog.text and ops.fired["preallocate"] >= 2
    got, result = read_log(d)
    assert got == [(i, payload(i)) for i in range(20)] and result.truncated is None


def test_a_failed_sync_of_the_preallocated_space_fails_the_log(tmp_path) -> None:
    ops = FaultyFileOps()
    d = str(tmp_path / "log")
    log = CommitLog(d, file_ops=ops, preallocate_bytes=1024)
    log.append(0, payload(0))
    log.flush()
    # The next batch's own sync succeeds; then less than half a chunk is left, and the sync of
    # the space preallocated after it fails: a failed sync is never shrugged off.
    ops.fail("fsync", after=1)
    log.append(1, b"x" * 700)
    log.flush(timeout=10)
    log.close()
    assert ops.fired["fsync"] == 1 and log.failure is not None and log.durable_offset == 1
    with pytest.raises(LogFailedError):
        log.append(2, payload(2))
    got, _ = read_log(d)
    assert [o for o, _ in got] == [0, 1]


def test_a_directory_written_before_preallocation_opens_with_the_same_rows(tmp_path) -> None:
    with open(os.path.join(FIXTURES, "v1_log.json")) as f:
        expected = json.load(f)
    d = str(tmp_path / "db")
    shutil.copytree(os.path.join(FIXTURES, "v1_log"), d)
    want = {int(tid): {tuple(r) for r in rows} for tid, rows in expected["tables"].items()}
    dur = DatabaseDurability.open(d, max_segment_bytes=2048)
    db = new_db()
    dur.attach(db, CODECS)
    assert state_of(db) == want and dur.next_tx_offset == expected["next_tx_offset"]
    assert dur.recovered.truncated is None
    run_transfers(dur, db, 30, seed=5)  # the new code appends to the old last segment, preallocated
    after = state_of(db)
    dur.close()
    dur2 = DatabaseDurability.open(d, max_segment_bytes=2048, snapshot_every=0)
    db2 = new_db()
    dur2.attach(db2, CODECS)
    assert state_of(db2) == after and dur2.recovered.truncated is None
    dur2.close()


@pytest.mark.skipif(_NO_FUSE is not None, reason=f"no FUSE: {_NO_FUSE}")
def test_after_a_power_cut_the_preallocated_segment_holds_every_confirmed_record(tmp_path) -> None:
    with PowerCutFS(tmp_path / "fs") as fs:
        d = str(fs.mountpoint / "log")
        log = CommitLog(d, max_segment_bytes=8192, preallocate_bytes=2048)
        for i in range(60):
            log.append(i, payload(i))
            log.wait_durable_blocking(i)  # confirmed
        log.append(60, payload(60))  # written, maybe, never confirmed
        fs.cut()
        log.close()
    rebuilt = str(fs.rebuilt / "log")
    seg = last_segment(rebuilt)
    assert os.path.getsize(seg) > records_end(seg), "the cut left a preallocated tail"
    got, _ = read_log(rebuilt)
    assert got[:60] == [(i, payload(i)) for i in range(60)] and len(got) <= 61


def test_preallocated_space_is_written_zeros_not_reserved_extents(tmp_path, monkeypatch) -> None:
    """Reserved (`posix_fallocate`) extents stay unwritten, and the sync after the first write into
    one journals its conversion: the log writes its zeros (and so needs no `posix_fallocate`)."""

    def refuse(*_: object) -> None:
        raise AssertionError("posix_fallocate reserves unwritten extents; the log writes zeros")

    monkeypatch.setattr(os, "posix_fallocate", refuse, raising=False)
    d = str(tmp_path / "log")
    with CommitLog(d, preallocate_bytes=64 * 1024) as log:
        log.append(0, payload(0))
        log.flush()
        seg = last_segment(d)
        end = records_end(seg)
        data = open(seg, "rb").read()
        assert len(data) >= end + 32 * 1024 and not any(data[end:]), "zeros written ahead of the records"
    assert os.path.getsize(seg) == records_end(seg)


def test_preallocation_advances_a_step_at_a_time(tmp_path, monkeypatch) -> None:
    """The zeros are written between group commits on the writer thread: one step each, not the
    whole `preallocate_bytes`, so no group commit waits for megabytes of them."""
    from spacetimedb.durability import commit_log

    monkeypatch.setattr(commit_log, "PREALLOCATE_STEP", 16 * 1024)
    d = str(tmp_path / "log")
    with CommitLog(d, preallocate_bytes=256 * 1024) as log:
        log.append(0, payload(0))
        log.flush()
        size_after_one = os.path.getsize(last_segment(d))
        assert size_after_one <= SEGMENT_HEADER_SIZE + 2 * 16 * 1024 + 4096, size_after_one
        for i in range(1, 40):
            log.append(i, payload(i))
            log.flush()
        assert os.path.getsize(last_segment(d)) > size_after_one, "later batches extend the zeroed space"
    got, _ = read_log(d)
    assert got == [(i, payload(i)) for i in range(40)]
