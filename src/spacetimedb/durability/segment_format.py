"""The on-disk format of commit-log segments: file names, the segment header, record framing.

A segment file is named by the tx offset of its first record, `00000000000000000042.stdb.log`,
and holds a 16-byte header followed by records back to back:

    segment header:  magic b"STDBCLOG" | version u32 LE | reserved u32 (0)
    record:          tx_offset u64 LE | payload_len u32 LE | crc32c u32 LE | payload

The CRC32C covers the first 12 header bytes (offset and length) and then the payload, so a
flipped bit anywhere in a record other than the CRC field itself, and a flip in the CRC field,
both fail verification.
"""

from __future__ import annotations

import os
import re
import struct

from crc32c import crc32c

SEGMENT_MAGIC = b"STDBCLOG"
SEGMENT_VERSION = 1
SEGMENT_HEADER = struct.Struct("<8sII")
SEGMENT_HEADER_SIZE = SEGMENT_HEADER.size
SEGMENT_SUFFIX = ".stdb.log"
RECORD_HEADER = struct.Struct("<QII")
RECORD_HEADER_SIZE = RECORD_HEADER.size
_OFFSET_LEN = struct.Struct("<QI")
#: Payloads larger than this are refused (and a length field above it is treated as damage).
MAX_PAYLOAD = 1 << 30
_SEGMENT_NAME = re.compile(r"^(\d{20})" + re.escape(SEGMENT_SUFFIX) + r"$")


def segment_header() -> bytes:
    return SEGMENT_HEADER.pack(SEGMENT_MAGIC, SEGMENT_VERSION, 0)


def segment_file_name(first_offset: int) -> str:
    return f"{first_offset:020d}{SEGMENT_SUFFIX}"


def list_segments(directory: str) -> list[tuple[int, str]]:
    """(first tx offset, file name) of every segment in `directory`, oldest first."""
    found = []
    for name in os.listdir(directory):
        m = _SEGMENT_NAME.match(name)
        if m:
            found.append((int(m.group(1)), name))
    found.sort()
    return found


def encode_record(tx_offset: int, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"transaction payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte limit")
    head = _OFFSET_LEN.pack(tx_offset, len(payload))
    return head + struct.pack("<I", crc32c(payload, crc32c(head))) + payload


def record_header(tx_offset: int, payload: bytes) -> bytes:
    """The 16-byte header of a record carrying `payload` (write it, then the payload)."""
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise ValueError(f"transaction payload of {n} bytes exceeds the {MAX_PAYLOAD}-byte limit")
    return RECORD_HEADER.pack(tx_offset, n, crc32c(payload, crc32c(_OFFSET_LEN.pack(tx_offset, n))))


def record_crc(data: bytes, pos: int, payload_len: int) -> int:
    """The CRC32C a record at `pos` should carry (over its offset+length and payload)."""
    start = pos + RECORD_HEADER_SIZE
    return crc32c(data[start : start + payload_len], crc32c(data[pos : pos + 12]))
