"""Reading and verifying one segment: yields its records, and says where and why it stops.

A record that fails verification is a *torn tail* when it is in the last segment and no valid
record follows it (a crash interrupted the last write; nothing after it was ever confirmed).
Anywhere else it is *corruption*.

The last segment's space is preallocated (see `commit_log`), so after its last record it may hold
zeros up to its end: there an all-zero record header followed by nothing but zeros is the clean end
of the log (an all-zero header is never a valid record: the CRC of a zero offset and length is not
zero). Zeros followed by anything else are a bad record like any other, and so are zeros at the end
of an earlier segment (the writer cuts a segment back to its records before starting the next one,
so there they can only be damage). "A valid record follows" is checked by searching the rest of
the segment for a record header carrying one of the next tx offsets whose CRC verifies, so a
damaged length field in the middle of the log is not mistaken for a torn tail.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from crc32c import crc32c

from spacetimedb.durability.segment_format import (
    MAX_PAYLOAD,
    RECORD_HEADER,
    RECORD_HEADER_SIZE,
    SEGMENT_HEADER,
    SEGMENT_HEADER_SIZE,
    SEGMENT_MAGIC,
    SEGMENT_VERSION,
)

#: How many following tx offsets the torn-tail check looks for.
RESYNC_WINDOW = 64
_U64 = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class ScanProblem:
    """Where a segment stopped verifying. `torn` means it is a crash-torn tail (safe to cut)."""

    segment: str
    #: Byte position in the segment file of the bad record (or 0 for a bad header).
    position: int
    #: The tx offset expected at that position (the last good offset + 1).
    tx_offset: int
    reason: str
    torn: bool


class SegmentScan:
    """Scans one segment's bytes. Iterate `records()`; afterwards read `end`, `last_offset`, `problem`."""

    def __init__(self, data: bytes, name: str, first_offset: int, is_last: bool, prev_offset: int) -> None:
        self.data = data
        self.name = name
        self.first_offset = first_offset
        self.is_last = is_last
        #: The tx offset of the last record before this segment (-1 if none).
        self.prev_offset = prev_offset
        #: Byte position just after the last good record.
        self.end = 0
        #: Offset of the last good record in this segment, or prev_offset if none.
        self.last_offset = prev_offset
        self.record_count = 0
        self.problem: ScanProblem | None = None

    def _fail(self, pos: int, reason: str, can_be_torn: bool = True) -> None:
        # A record that verifies but is out of order is never crash damage.
        torn = can_be_torn and self.is_last and not self._valid_record_follows(pos)
        self.problem = ScanProblem(
            segment=self.name, position=pos, tx_offset=self.last_offset + 1, reason=reason, torn=torn
        )

    def records(self, min_offset: int = -1) -> Iterator[tuple[int, bytes]]:
        """Yield (tx_offset, payload) of each verified record with tx_offset > min_offset."""
        data = self.data
        size = len(data)
        if size < SEGMENT_HEADER_SIZE:
            self.problem = ScanProblem(
                segment=self.name, position=0, tx_offset=self.first_offset,
                reason=f"segment header is incomplete ({size} bytes)", torn=self.is_last,
            )
            return
        magic, version, _ = SEGMENT_HEADER.unpack_from(data, 0)
        if magic != SEGMENT_MAGIC:
            # An all-zero header at the end of the log is a segment whose creation a crash cut short.
            zeroed = self.is_last and not any(data)
            self.problem = ScanProblem(
                segment=self.name, position=0, tx_offset=self.first_offset, reason=f"bad segment magic {magic!r}",
                torn=zeroed,
            )
            return
        if version != SEGMENT_VERSION:
            self.problem = ScanProblem(
                segment=self.name, position=0, tx_offset=self.first_offset,
                reason=f"segment format version {version} is not supported (this build reads {SEGMENT_VERSION})",
                torn=False,
            )
            return
        pos = SEGMENT_HEADER_SIZE
        self.end = pos
        unpack = RECORD_HEADER.unpack_from
        last = self.prev_offset
        expect_first = True
        while pos < size:
            if size - pos < RECORD_HEADER_SIZE:
                if not (self.is_last and self._zeros_from(pos)):
                    self._fail(pos, f"record header is incomplete ({size - pos} of {RECORD_HEADER_SIZE} bytes)")
                return
            offset, length, crc = unpack(data, pos)
            if not (offset or length or crc):
                if not self.is_last:
                    self._fail(pos, "zeroed bytes after the records of a finished segment")
                elif not self._zeros_from(pos):
                    self._fail(pos, "a zeroed record header is followed by non-zero bytes")
                return  # in the last segment: preallocated space never written, the clean end
            start = pos + RECORD_HEADER_SIZE
            stop = start + length
            if length > MAX_PAYLOAD or stop > size:
                self._fail(pos, f"record claims {length} payload bytes but only {size - start} remain")
                return
            payload = data[start:stop]
            if crc32c(payload, crc32c(data[pos : pos + 12])) != crc:
                self._fail(pos, "record checksum mismatch")
                return
            if expect_first and offset != self.first_offset:
                self._fail(pos, f"first record has tx offset {offset}, but the segment is named {self.first_offset}", False)
                return
            if offset <= last:
                self._fail(pos, f"tx offset {offset} does not increase (previous was {last})", False)
                return
            expect_first = False
            last = offset
            self.last_offset = offset
            self.end = stop
            self.record_count += 1
            if offset > min_offset:
                yield offset, payload
            pos = stop

    def _zeros_from(self, pos: int) -> bool:
        """Whether everything from `pos` to the end of the segment is zero bytes."""
        return self.data.count(0, pos) == len(self.data) - pos

    def _valid_record_follows(self, bad_pos: int) -> bool:
        data = self.data
        size = len(data)
        base = self.last_offset
        for k in range(1, RESYNC_WINDOW + 1):
            needle = _U64.pack(base + k)
            at = data.find(needle, bad_pos + 1)
            while at != -1:
                if self._verifies(at):
                    return True
                at = data.find(needle, at + 1)
        # A record header at bad_pos whose own length is intact, followed by a valid record.
        if size - bad_pos >= RECORD_HEADER_SIZE:
            _, length, _ = RECORD_HEADER.unpack_from(data, bad_pos)
            nxt = bad_pos + RECORD_HEADER_SIZE + length
            if length <= MAX_PAYLOAD and nxt < size and self._verifies(nxt):
                return True
        return False

    def _verifies(self, pos: int) -> bool:
        data = self.data
        if len(data) - pos < RECORD_HEADER_SIZE:
            return False
        _, length, crc = RECORD_HEADER.unpack_from(data, pos)
        start = pos + RECORD_HEADER_SIZE
        if length > MAX_PAYLOAD or start + length > len(data):
            return False
        return crc32c(data[start : start + length], crc32c(data[pos : pos + 12])) == crc
