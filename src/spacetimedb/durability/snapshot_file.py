"""Snapshot files: a full image of every table and sequence at one tx offset, checksummed.

    <db>/snapshots/00000000000000000042.stdb.snap

    header (40 bytes): magic b"STDBSNAP" | version u32 | reserved u32 | tx_offset u64 |
                       body_len u64 | body_crc32c u32 | header_crc32c u32 (over the 36 bytes before it)
    body: BSATN of { sequences: Array<SequenceState>, tables: Array<{ table_id: U32, name: String,
                     rows: Array<Array<U8>> }> }   (rows are each row's BSATN, opaque here)

A snapshot is written to a hidden temp file, fsynced, renamed into place and the directory
fsynced, so a crash leaves either the complete file or none (stray temp files are removed on
the next write). Readers verify both checksums before trusting a byte.
"""

from __future__ import annotations

import logging
import os
import re
import struct
from dataclasses import dataclass, field

from crc32c import crc32c

from spacetimedb.durability.errors import CorruptSnapshotError
from spacetimedb.durability.files import REAL_FILE_OPS, FileOps
from spacetimedb.durability.tx_payload import SequenceState
from spacetimedb.sats.errors import ConversionError

log = logging.getLogger(__name__)

SNAPSHOT_MAGIC = b"STDBSNAP"
SNAPSHOT_VERSION = 1
SNAPSHOT_SUFFIX = ".stdb.snap"
_HEADER = struct.Struct("<8sIIQQI")
_HEADER_CRC = struct.Struct("<I")
HEADER_SIZE = _HEADER.size + _HEADER_CRC.size
_NAME = re.compile(r"^(\d{20})" + re.escape(SNAPSHOT_SUFFIX) + r"$")
_U32 = struct.Struct("<I")
_SEQ = struct.Struct("<IH")


@dataclass(slots=True)
class TableImage:
    table_id: int
    name: str
    #: Every row of the table, each as its BSATN bytes.
    rows: list[bytes] = field(default_factory=list)


@dataclass(slots=True)
class SnapshotData:
    """The state after every transaction up to and including `tx_offset`."""

    tx_offset: int
    tables: list[TableImage] = field(default_factory=list)
    sequences: list[SequenceState] = field(default_factory=list)


def snapshot_file_name(tx_offset: int) -> str:
    return f"{tx_offset:020d}{SNAPSHOT_SUFFIX}"


def list_snapshots(directory: str) -> list[tuple[int, str]]:
    """(tx offset, file name) of every snapshot file, oldest first."""
    if not os.path.isdir(directory):
        return []
    found = [(int(m.group(1)), n) for n in os.listdir(directory) if (m := _NAME.match(n))]
    found.sort()
    return found


def encode_snapshot(snap: SnapshotData) -> bytes:
    pack = _U32.pack
    parts: list[bytes] = [pack(len(snap.sequences))]
    for s in snap.sequences:
        parts.append(_SEQ.pack(s.table_id, s.column) + s.value.to_bytes(16, "little", signed=True))
    parts.append(pack(len(snap.tables)))
    for t in snap.tables:
        name = t.name.encode()
        parts.append(pack(t.table_id) + pack(len(name)) + name + pack(len(t.rows)))
        for r in t.rows:
            parts.append(pack(len(r)))
            parts.append(r)
    body = b"".join(parts)
    head = _HEADER.pack(SNAPSHOT_MAGIC, SNAPSHOT_VERSION, 0, snap.tx_offset, len(body), crc32c(body))
    return head + _HEADER_CRC.pack(crc32c(head)) + body


def decode_snapshot(data: bytes, name: str = "snapshot") -> SnapshotData:
    """Verify and decode a snapshot file's bytes; raises CorruptSnapshotError naming what is wrong."""
    if len(data) < HEADER_SIZE:
        raise CorruptSnapshotError(f"{name}: file is {len(data)} bytes, shorter than the {HEADER_SIZE}-byte header")
    (head_crc,) = _HEADER_CRC.unpack_from(data, _HEADER.size)
    if crc32c(data[: _HEADER.size]) != head_crc:
        raise CorruptSnapshotError(f"{name}: header checksum mismatch")
    magic, version, _, tx_offset, body_len, body_crc = _HEADER.unpack_from(data, 0)
    if magic != SNAPSHOT_MAGIC:
        raise CorruptSnapshotError(f"{name}: bad magic {magic!r}")
    if version != SNAPSHOT_VERSION:
        raise CorruptSnapshotError(f"{name}: snapshot format version {version} is not supported")
    body = data[HEADER_SIZE:]
    if len(body) != body_len:
        raise CorruptSnapshotError(f"{name}: body is {len(body)} bytes, header says {body_len}")
    if crc32c(body) != body_crc:
        raise CorruptSnapshotError(f"{name}: body checksum mismatch")
    try:
        return _decode_body(body, tx_offset)
    except (struct.error, UnicodeDecodeError, ConversionError) as e:
        raise CorruptSnapshotError(f"{name}: body does not decode: {e}") from e


def _decode_body(body: bytes, tx_offset: int) -> SnapshotData:
    unpack = _U32.unpack_from
    (nseq,) = unpack(body, 0)
    pos = 4
    seqs = []
    for _ in range(nseq):
        table_id, column = _SEQ.unpack_from(body, pos)
        seqs.append(SequenceState(table_id, column, int.from_bytes(body[pos + 6 : pos + 22], "little", signed=True)))
        pos += 22
    (ntables,) = unpack(body, pos)
    pos += 4
    tables = []
    for _ in range(ntables):
        table_id, name_len = struct.unpack_from("<II", body, pos)
        pos += 8
        name = body[pos : pos + name_len].decode()
        pos += name_len
        (nrows,) = unpack(body, pos)
        pos += 4
        rows = []
        for _ in range(nrows):
            (ln,) = unpack(body, pos)
            pos += 4
            rows.append(body[pos : pos + ln])
            pos += ln
        tables.append(TableImage(table_id, name, rows))
    if pos != len(body):
        raise ConversionError(f"snapshot body has {len(body) - pos} bytes left over", offset=pos)
    return SnapshotData(tx_offset, tables, seqs)


def write_snapshot(directory: str, snap: SnapshotData, file_ops: FileOps = REAL_FILE_OPS) -> str:
    """Write `snap` atomically (temp file, fsync, rename, fsync dir); returns the final path."""
    file_ops.make_dirs(directory)
    for name in os.listdir(directory):
        if name.startswith(".") and name.endswith(".tmp"):
            file_ops.remove(os.path.join(directory, name))
    data = encode_snapshot(snap)
    final = os.path.join(directory, snapshot_file_name(snap.tx_offset))
    tmp = os.path.join(directory, f".{snapshot_file_name(snap.tx_offset)}.tmp")
    fd = file_ops.open_new(tmp)
    try:
        file_ops.write(fd, data, tmp)
        file_ops.fsync(fd, tmp)
    except BaseException:
        file_ops.close(fd)
        file_ops.remove(tmp)
        raise
    file_ops.close(fd)
    try:
        file_ops.rename(tmp, final)
    except BaseException:
        file_ops.remove(tmp)
        raise
    file_ops.fsync_dir(directory)
    return final


def read_snapshot(path: str, file_ops: FileOps = REAL_FILE_OPS) -> SnapshotData:
    return decode_snapshot(file_ops.read_file(path), os.path.basename(path))


def load_newest_snapshot(
    directory: str, max_offset: int | None = None, file_ops: FileOps = REAL_FILE_OPS
) -> SnapshotData | None:
    """The newest snapshot that verifies (at or below `max_offset`), falling back with a warning."""
    for offset, name in reversed(list_snapshots(directory)):
        if max_offset is not None and offset > max_offset:
            continue
        try:
            snap = read_snapshot(os.path.join(directory, name), file_ops)
        except (CorruptSnapshotError, OSError) as e:
            log.warning("snapshot %s is unusable (%s); falling back to an older snapshot", name, e)
            continue
        if snap.tx_offset != offset:
            log.warning("snapshot %s says tx offset %d; ignoring it", name, snap.tx_offset)
            continue
        return snap
    return None


def prune_snapshots(directory: str, keep: int, file_ops: FileOps = REAL_FILE_OPS) -> list[str]:
    """Remove all but the newest `keep` snapshots; returns the removed file names."""
    snaps = list_snapshots(directory)
    doomed = snaps[: max(0, len(snaps) - max(1, keep))]
    for _, name in doomed:
        file_ops.remove(os.path.join(directory, name))
    return [n for _, n in doomed]
