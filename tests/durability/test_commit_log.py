import asyncio
import os
import threading

import pytest

from spacetimedb.durability.commit_log import CommitLog
from spacetimedb.durability.errors import LogClosedError
from spacetimedb.durability.log_reader import replay_log
from spacetimedb.durability.policy import FsyncPolicy
from spacetimedb.durability.segment_format import SEGMENT_HEADER_SIZE, list_segments, segment_file_name

from .log_helpers import payload, read_log, write_log


@pytest.mark.parametrize("policy", [FsyncPolicy.every_batch(), FsyncPolicy.every(5), FsyncPolicy.off()])
def test_appended_records_read_back_in_order(tmp_path, policy: FsyncPolicy) -> None:
    d = str(tmp_path)
    with CommitLog(d, policy=policy) as log:
        for i in range(50):
            log.append(i, payload(i))
        log.flush()
        assert log.durable_offset == 49
    got, result = read_log(d)
    assert got == [(i, payload(i)) for i in range(50)]
    assert result.tail.last_offset == 49 and result.truncated is None


@pytest.mark.parametrize("max_segment_bytes", [64 * 1024 * 1024, 100])
def test_offsets_that_skip_are_written_with_their_offsets(tmp_path, max_segment_bytes: int) -> None:
    """Offsets are not queued when they follow each other; a skip is queued with its offset, in a
    burst (one batch) as after a flush (the next batch), across segment rollovers too."""
    d = str(tmp_path)
    offsets = [0, 1, 5, 6, 7, 20, 21, 40]
    with CommitLog(d, policy=FsyncPolicy.every_batch(), max_segment_bytes=max_segment_bytes) as log:
        for o in offsets[:5]:
            log.append(o, payload(o))
        log.flush()
        assert log.durable_offset == 7
        for o in offsets[5:]:
            log.append(o, payload(o))
        log.flush()
        assert log.durable_offset == 40
    got, result = read_log(d)
    assert got == [(o, payload(o)) for o in offsets] and result.tail.last_offset == 40
    with CommitLog(d, result.tail, policy=FsyncPolicy.every_batch(), max_segment_bytes=max_segment_bytes) as log:
        log.append(41, payload(41))
        log.append(50, payload(50))
        log.flush()
    got, _ = read_log(d)
    assert got == [(o, payload(o)) for o in [*offsets, 41, 50]]
    assert (len(list_segments(d)) > 2) == (max_segment_bytes == 100)


def test_a_payload_over_the_record_limit_fails_the_log_not_the_writer_thread(tmp_path, monkeypatch) -> None:
    """A record the format cannot carry puts the log in its failed state (waiters told, later
    appends refused) instead of killing the writer thread and leaving everyone waiting."""
    from spacetimedb.durability import commit_log
    from spacetimedb.durability.errors import LogFailedError

    monkeypatch.setattr(commit_log, "MAX_PAYLOAD", 64)
    failures: list[LogFailedError] = []
    with CommitLog(str(tmp_path), policy=FsyncPolicy.every_batch()) as log:
        log.add_failure_listener(failures.append)
        log.append(0, b"fits")
        assert log.wait_durable_blocking(0, timeout=10)
        log.append(1, b"x" * 65)
        with pytest.raises(LogFailedError, match="record limit"):
            log.wait_durable_blocking(1, timeout=10)
        with pytest.raises(LogFailedError):
            log.append(2, b"later")
    assert len(failures) == 1 and log.durable_offset == 0
    got, _ = read_log(str(tmp_path))
    assert got == [(0, b"fits")]


def test_offsets_must_increase(tmp_path) -> None:
    with CommitLog(str(tmp_path), policy=FsyncPolicy.off()) as log:
        log.append(3, b"x")
        with pytest.raises(ValueError, match="greater than"):
            log.append(3, b"y")


def test_append_after_close_is_refused(tmp_path) -> None:
    log = CommitLog(str(tmp_path), policy=FsyncPolicy.off())
    log.close()
    with pytest.raises(LogClosedError):
        log.append(0, b"x")


def test_segments_roll_over_at_the_size_limit_and_are_named_by_first_offset(tmp_path) -> None:
    d = str(tmp_path)
    write_log(d, 200, max_segment_bytes=512)
    segs = list_segments(d)
    assert len(segs) > 5
    for first, name in segs:
        assert name == segment_file_name(first)
        assert os.path.getsize(os.path.join(d, name)) <= 512 + 64
    got, _ = read_log(d)
    assert [o for o, _ in got] == list(range(200))


def test_reopened_log_continues_the_last_segment(tmp_path) -> None:
    d = str(tmp_path)
    write_log(d, 10)
    _, result = read_log(d)
    with CommitLog(d, result.tail, policy=FsyncPolicy.every_batch()) as log:
        assert log.durable_offset == 9
        log.append(10, b"more")
        log.flush()
    assert len(list_segments(d)) == 1
    got, _ = read_log(d)
    assert got[-1] == (10, b"more") and len(got) == 11


def test_group_commit_batches_many_appends_into_few_fsyncs(tmp_path) -> None:
    with CommitLog(str(tmp_path), policy=FsyncPolicy.every_batch()) as log:
        for i in range(2000):
            log.append(i, b"p" * 20)
        log.flush()
        # One fsync per batch, not per record: batches form while the previous fsync runs.
        assert log.fsync_count < 2000
        assert log.durable_offset == 1999


def test_wait_durable_from_asyncio(tmp_path) -> None:
    async def main() -> None:
        with CommitLog(str(tmp_path), policy=FsyncPolicy.every_batch()) as log:
            for i in range(100):
                log.append(i, b"x")
            await asyncio.wait_for(log.wait_durable(99), 10)
            assert log.durable_offset >= 99
            fut = log.durable_future(50)
            await fut  # already durable: completes at once

    asyncio.run(main())


def test_wait_durable_from_threads_and_listeners(tmp_path) -> None:
    seen: list[int] = []
    with CommitLog(str(tmp_path), policy=FsyncPolicy.every(2)) as log:
        log.add_durable_listener(seen.append)
        results: list[bool] = []
        t = threading.Thread(target=lambda: results.append(log.wait_durable_blocking(4, timeout=10)))
        t.start()
        for i in range(5):
            log.append(i, b"y")
        t.join()
        assert results == [True]
    assert seen and seen[-1] == 4 and seen == sorted(seen)


def test_interval_policy_eventually_syncs_without_flush(tmp_path) -> None:
    with CommitLog(str(tmp_path), policy=FsyncPolicy.every(1)) as log:
        log.append(0, b"z")
        assert log.wait_durable_blocking(0, timeout=10)


def test_empty_last_segment_header_only_is_fine(tmp_path) -> None:
    d = str(tmp_path)
    write_log(d, 3)
    with open(os.path.join(d, segment_file_name(3)), "wb") as f:
        from spacetimedb.durability.segment_format import segment_header

        f.write(segment_header())
    got, result = read_log(d)
    assert len(got) == 3
    assert result.tail.segment_first_offset == 3 and result.tail.segment_size == SEGMENT_HEADER_SIZE


def test_replay_after_offset_skips_earlier_segments(tmp_path) -> None:
    d = str(tmp_path)
    write_log(d, 100, max_segment_bytes=300)
    got: list[int] = []
    result = replay_log(d, lambda o, p: got.append(o), after_offset=60)
    assert got == list(range(61, 100))
    assert result.segments_read < len(list_segments(d))


def test_close_fails_waiters_for_offsets_never_appended(tmp_path) -> None:
    async def main() -> None:
        log = CommitLog(str(tmp_path), policy=FsyncPolicy.off())
        fut = log.durable_future(5)
        log.close()
        with pytest.raises(LogClosedError):
            await asyncio.wait_for(fut, 10)

    asyncio.run(main())


def test_interval_policy_claims_nothing_before_its_fsync(tmp_path) -> None:
    with CommitLog(str(tmp_path), policy=FsyncPolicy.every(60_000)) as log:
        log.append(0, b"a")
        assert not log.wait_durable_blocking(0, timeout=0.2)
        assert log.durable_offset == -1 and log.fsync_count == 0
        log.flush()
        assert log.durable_offset == 0 and log.fsync_count == 1


def test_a_burst_of_appends_wakes_the_idle_writer_once(tmp_path) -> None:
    """Issue 14: appends that arrive before the woken writer runs do not each wake it again (one
    wake-up per group commit, not one per commit)."""
    import sys
    import time

    with CommitLog(str(tmp_path), policy=FsyncPolicy.off()) as log:
        log.append(0, payload(0))
        log.wait_durable_blocking(0)
        for _ in range(1000):  # bounded: until the writer waits for work again
            if log._writer_idle:
                break
            time.sleep(0.01)
        woken = []
        real = log._kick

        def counting() -> None:
            woken.append(1)
            real()

        log._kick = counting  # type: ignore[method-assign]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(5.0)  # the woken writer cannot take the GIL during the burst
        try:
            for i in range(1, 51):
                log.append(i, payload(i))
            during_burst = list(woken)
        finally:
            sys.setswitchinterval(interval)
        log.wait_durable_blocking(50)
        assert during_burst == [1]


def test_the_writer_sleeps_until_woken_and_a_stale_wake_costs_one_look(tmp_path) -> None:
    """The writer's wake-up is a lock released once per wake; waking it while it is busy (or twice)
    leaves one extra look at an empty queue, never a lost append or a stuck writer."""
    with CommitLog(str(tmp_path), policy=FsyncPolicy.every_batch()) as log:
        for round_ in range(20):
            log._kick()
            log._kick()  # a second release of a released lock is ignored
            for i in range(round_ * 5, round_ * 5 + 5):
                log.append(i, payload(i))
            assert log.wait_durable_blocking(round_ * 5 + 4, timeout=10)
        log.flush(timeout=10)
        assert log.durable_offset == 99
    got, _ = read_log(str(tmp_path))
    assert [o for o, _ in got] == list(range(100))


@pytest.mark.skipif(not hasattr(os, "fdatasync"), reason="no fdatasync on this platform")
def test_each_group_commit_is_a_data_sync(tmp_path, monkeypatch) -> None:
    """Issue 14: after its segment was created (fsync + directory fsync), each group commit makes
    the appended records and the file's size durable with a data sync (less to write than fsync):
    on Linux the write itself with RWF_DSYNC (one system call), elsewhere write + fdatasync."""
    calls: list[str] = []
    real_fsync, real_fdatasync = os.fsync, os.fdatasync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "fdatasync", lambda fd: (calls.append("fdatasync"), real_fdatasync(fd))[1])
    if hasattr(os, "RWF_DSYNC"):
        real_pwritev = os.pwritev

        def pwritev(fd: int, buffers: list[memoryview], offset: int, flags: int = 0) -> int:
            calls.append("fdatasync" if flags & os.RWF_DSYNC else "pwritev")
            return real_pwritev(fd, buffers, offset, flags)

        monkeypatch.setattr(os, "pwritev", pwritev)
    with CommitLog(str(tmp_path), policy=FsyncPolicy.every_batch()) as log:
        log.append(0, payload(0))
        log.wait_durable_blocking(0)
        calls.clear()  # the new segment's own fsyncs are behind us
        for i in range(1, 21):
            log.append(i, payload(i))
            log.wait_durable_blocking(i)
        assert calls and set(calls) == {"fdatasync"}
        assert log.fsync_count >= 1
    got, _ = read_log(str(tmp_path))
    assert got == [(i, payload(i)) for i in range(21)]


def test_call_when_durable_calls_back_on_the_loop_once_durable(tmp_path) -> None:
    async def main() -> None:
        loop_thread = threading.get_ident()
        seen: list[tuple[int, object, bool]] = []
        done = asyncio.Event()

        def callback(n: int) -> object:
            def cb(error: BaseException | None) -> None:
                seen.append((n, error, threading.get_ident() == loop_thread))
                if len(seen) == 3:
                    done.set()
            return cb

        with CommitLog(str(tmp_path), policy=FsyncPolicy.every_batch()) as log:
            log.call_when_durable(1, callback(1))  # type: ignore[arg-type]
            log.call_when_durable(3, callback(3))  # type: ignore[arg-type]
            for i in range(4):
                log.append(i, b"x")
            await asyncio.wait_for(log.wait_durable(3), 10)
            log.call_when_durable(2, callback(2))  # type: ignore[arg-type]  # already durable: soon
            await asyncio.wait_for(done.wait(), 10)
        assert sorted(seen, key=lambda s: s[0]) == [(1, None, True), (2, None, True), (3, None, True)]

    asyncio.run(main())


def test_call_when_durable_reports_a_log_that_closes_first(tmp_path) -> None:
    async def main() -> None:
        got: list[BaseException | None] = []
        log = CommitLog(str(tmp_path), policy=FsyncPolicy.every_batch())
        log.call_when_durable(7, got.append)
        log.close()
        log.call_when_durable(8, got.append)  # after the close: told at once, never left waiting
        for _ in range(3):
            await asyncio.sleep(0)
        assert len(got) == 2 and all(isinstance(e, LogClosedError) for e in got)

    asyncio.run(main())
