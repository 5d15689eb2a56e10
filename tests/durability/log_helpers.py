"""Small helpers shared by the commit-log tests."""

from __future__ import annotations

from spacetimedb.durability.commit_log import CommitLog
from spacetimedb.durability.log_reader import LogReplay, replay_log
from spacetimedb.durability.policy import FsyncPolicy


def payload(i: int) -> bytes:
    return f"tx-{i}-".encode() * (1 + i % 5)


def write_log(directory: str, count: int, *, start: int = 0, max_segment_bytes: int = 1 << 20) -> None:
    with CommitLog(directory, policy=FsyncPolicy.off(), max_segment_bytes=max_segment_bytes) as log:
        for i in range(start, start + count):
            log.append(i, payload(i))


def read_log(directory: str, **kw: object) -> tuple[list[tuple[int, bytes]], LogReplay]:
    got: list[tuple[int, bytes]] = []
    result = replay_log(directory, lambda o, p: got.append((o, p)), **kw)  # type: ignore[arg-type]
    return got, result
