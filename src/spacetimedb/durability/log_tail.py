"""Where a verified commit log ends: the point the writer continues from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LogTail:
    #: First tx offset (= file name) of the last segment, or None when the log has no segment.
    segment_first_offset: int | None
    #: Verified size in bytes of that segment (the file has been truncated to it).
    segment_size: int
    #: The tx offset of the last record in the log, or -1 if the log is empty.
    last_offset: int

    @classmethod
    def empty(cls, last_offset: int = -1) -> LogTail:
        return cls(None, 0, last_offset)
