"""Recovery's pass over the commit log: verify and replay records, cut a torn tail, stop at corruption.

Segments that end before the first offset to replay are not read. Every record from there on is
verified (CRC, increasing offsets, the first record matching the segment's name). A torn last
record is truncated away with a warning naming segment and byte position; corruption anywhere
else raises `CorruptLogError`, unless `allow_truncate=True`, which truncates the log at the
corruption and sets later segments aside as `<name>.discarded`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from spacetimedb.durability.errors import CorruptLogError, LogGapError
from spacetimedb.durability.files import REAL_FILE_OPS, FileOps
from spacetimedb.durability.log_tail import LogTail
from spacetimedb.durability.segment_format import list_segments
from spacetimedb.durability.segment_reader import ScanProblem, SegmentScan

log = logging.getLogger(__name__)

DISCARDED_SUFFIX = ".discarded"


@dataclass(slots=True)
class LogReplay:
    """What the pass found: where the log ends, how many records it replayed, what it cut."""

    tail: LogTail
    replayed: int = 0
    #: The torn tail or (with allow_truncate) the corruption that was cut off, if any.
    truncated: ScanProblem | None = None
    segments_read: int = 0


def replay_log(
    directory: str,
    on_record: Callable[[int, bytes], None],
    *,
    after_offset: int | None = None,
    allow_truncate: bool = False,
    file_ops: FileOps = REAL_FILE_OPS,
    read_only: bool = False,
) -> LogReplay:
    """Call `on_record(tx_offset, payload)` for every verified record with offset > `after_offset`.

    `read_only=True` (for readers of a log another process may be writing, e.g. an audit) stops
    at a torn tail without cutting it; corruption still raises.

    `after_offset` is the snapshot's tx offset (None without a snapshot: replay everything).
    Returns where the writer continues from.
    """
    file_ops.make_dirs(directory)
    segments = list_segments(directory)
    floor = -1 if after_offset is None else after_offset
    if not segments:
        return LogReplay(LogTail.empty(floor))
    start = 0
    if after_offset is not None:
        if segments[0][0] > after_offset + 1:
            raise LogGapError(
                f"the commit log in {directory} starts at tx offset {segments[0][0]} but the snapshot ends at "
                f"{after_offset}: transactions {after_offset + 1}..{segments[0][0] - 1} are missing. Restore the "
                f"missing segments, or start from a snapshot at or after offset {segments[0][0] - 1}."
            )
        for i, (first, _) in enumerate(segments):
            if first <= after_offset + 1:
                start = i
    result = LogReplay(LogTail.empty(floor))
    prev_offset = segments[start][0] - 1
    tail: LogTail | None = None
    last_index = len(segments) - 1
    for i in range(start, len(segments)):
        first, name = segments[i]
        path = os.path.join(directory, name)
        scan = SegmentScan(
            file_ops.read_file(path), name, first_offset=first, is_last=i == last_index, prev_offset=prev_offset
        )
        if first <= prev_offset:
            raise CorruptLogError(name, 0, prev_offset + 1, f"segment starts at tx offset {first}, "
                                  f"which the previous segment already reached ({prev_offset})")
        for offset, payload in scan.records(floor):
            on_record(offset, payload)
            result.replayed += 1
        result.segments_read += 1
        problem = scan.problem
        if problem is None:
            tail = LogTail(first, scan.end, scan.last_offset)
            prev_offset = scan.last_offset
            continue
        if not problem.torn and (not allow_truncate or read_only):
            raise CorruptLogError(problem.segment, problem.position, problem.tx_offset, problem.reason)
        if read_only:
            result.truncated = problem
            tail = LogTail(first, problem.position, scan.last_offset) if problem.position else tail
            break
        if problem.torn:
            log.warning(
                "commit log: cutting a torn last record off segment %s at byte %d (tx offset %d): %s; "
                "it was never confirmed durable",
                name, problem.position, problem.tx_offset, problem.reason,
            )
        else:
            log.warning(
                "commit log: allow_truncate: discarding everything from segment %s byte %d (tx offset %d "
                "on): %s",
                name, problem.position, problem.tx_offset, problem.reason,
            )
            for _, later in segments[i + 1 :]:
                later_path = os.path.join(directory, later)
                file_ops.rename(later_path, later_path + DISCARDED_SUFFIX)
        result.truncated = problem
        if problem.position == 0:
            # The segment's own header is bad: the segment holds nothing; set it aside.
            file_ops.rename(path, path + DISCARDED_SUFFIX)
        else:
            _truncate(file_ops, path, problem.position)
            tail = LogTail(first, problem.position, scan.last_offset)
        file_ops.fsync_dir(directory)
        break
    if tail is None:
        # Nothing usable from `start` on: continue after the previous segment (or start afresh).
        tail = _tail_before(directory, segments, start, file_ops, floor)
    if tail.last_offset < floor:
        if tail.last_offset >= 0 or tail.segment_first_offset is not None:
            log.warning("commit log in %s ends at tx offset %d, before the snapshot's %d", directory,
                        tail.last_offset, floor)
        tail = LogTail(tail.segment_first_offset, tail.segment_size, floor)
    result.tail = tail
    return result


def _truncate(file_ops: FileOps, path: str, length: int) -> None:
    fd = file_ops.open_append(path)
    try:
        file_ops.truncate(fd, length, path)
        file_ops.fsync(fd, path)
    finally:
        file_ops.close(fd)


def _tail_before(
    directory: str, segments: list[tuple[int, str]], index: int, file_ops: FileOps, floor: int
) -> LogTail:
    if index == 0:
        return LogTail.empty(floor)
    first, name = segments[index - 1]
    data = file_ops.read_file(os.path.join(directory, name))
    scan = SegmentScan(data, name, first_offset=first, is_last=False, prev_offset=first - 1)
    for _ in scan.records():
        pass
    if scan.problem is not None:
        p = scan.problem
        raise CorruptLogError(p.segment, p.position, p.tx_offset, p.reason)
    return LogTail(first, scan.end, scan.last_offset)
