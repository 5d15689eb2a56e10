"""A failed write or fsync is never reported durable; the log fails closed; recovery = confirmed prefix."""

import asyncio
import errno

import pytest

from spacetimedb.durability.commit_log import CommitLog
from spacetimedb.durability.errors import LogFailedError
from spacetimedb.durability.faults import FaultyFileOps
from spacetimedb.durability.policy import FsyncPolicy

from .log_helpers import payload, read_log


def run_until_failure(directory: str, ops: FaultyFileOps, count: int, **kw: object) -> tuple[list[int], CommitLog]:
    """Append one record at a time waiting for each; returns the confirmed offsets."""
    confirmed: list[int] = []
    log = CommitLog(directory, policy=FsyncPolicy.every_batch(), file_ops=ops, **kw)  # type: ignore[arg-type]
    for i in range(count):
        try:
            log.append(i, payload(i))
            log.wait_durable_blocking(i, timeout=10)
        except LogFailedError:
            break
        confirmed.append(i)
    return confirmed, log


@pytest.mark.parametrize(
    "op,kw",
    [
        ("fsync", {"after": 5}),
        ("write", {"after": 7}),
        ("write", {"after": 7, "errno_": errno.ENOSPC, "partial": 9}),
    ],
)
def test_failure_is_reported_and_recovery_gives_exactly_the_confirmed_prefix(tmp_path, op: str, kw: dict) -> None:
    d = str(tmp_path)
    ops = FaultyFileOps()
    ops.fail(op, **kw)
    failures: list[LogFailedError] = []
    confirmed, log = run_until_failure(d, ops, 20)
    log.add_failure_listener(failures.append)  # late listeners are fine: the state is queryable
    assert 0 < len(confirmed) < 20
    assert log.failure is not None and log.durable_offset == confirmed[-1]
    with pytest.raises(LogFailedError):
        log.append(100, b"later")
    log.close()
    got, _ = read_log(d)
    assert [o for o, _ in got] == confirmed


def test_failure_listener_is_told_and_every_pending_waiter_fails(tmp_path) -> None:
    ops = FaultyFileOps()
    ops.fail("fsync", after=0)
    told: list[LogFailedError] = []

    async def main() -> None:
        log = CommitLog(str(tmp_path), policy=FsyncPolicy.every_batch(), file_ops=ops)
        log.add_failure_listener(told.append)
        for i in range(10):
            log.append(i, b"x")
        futs = [log.durable_future(i) for i in range(10)]
        results = await asyncio.gather(*futs, return_exceptions=True)
        log.close()
        assert all(isinstance(r, LogFailedError) for r in results)

    asyncio.run(main())
    assert len(told) == 1 and isinstance(told[0].cause, OSError)
    assert "restart" in str(told[0])
    got, _ = read_log(str(tmp_path))
    assert got == []


def test_fsync_failure_on_segment_rollover(tmp_path) -> None:
    d = str(tmp_path)
    ops = FaultyFileOps()
    ops.fail("fsync_dir", after=2)
    confirmed, log = run_until_failure(d, ops, 60, max_segment_bytes=200)
    log.close()
    assert confirmed
    got, _ = read_log(d)
    assert [o for o, _ in got] == confirmed


def test_a_durable_callback_is_told_the_failure(tmp_path) -> None:
    ops = FaultyFileOps()
    ops.fail("fsync", after=0)

    async def main() -> None:
        got: list[BaseException | None] = []
        told = asyncio.Event()
        log = CommitLog(str(tmp_path), policy=FsyncPolicy.every_batch(), file_ops=ops)
        log.call_when_durable(2, lambda e: (got.append(e), told.set()))
        for i in range(3):
            log.append(i, b"x")
        await asyncio.wait_for(told.wait(), 10)
        log.close()
        assert len(got) == 1 and isinstance(got[0], LogFailedError)

    asyncio.run(main())
