"""The database state recovery rebuilds: snapshot rows plus every logged delta, folded as bytes.

Replay never decodes a row: BSATN is canonical (equal rows have equal bytes), so applying a
delta is dict operations on the rows' bytes, and only the final rows are decoded, once, when the
state is loaded into an engine. That keeps recovery of a million commits within seconds.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from spacetimedb.durability.errors import DurabilityError
from spacetimedb.durability.segment_reader import ScanProblem
from spacetimedb.durability.snapshot_file import SnapshotData, TableImage
from spacetimedb.durability.tx_payload import SequenceState
from spacetimedb.module.datastore import Row

if TYPE_CHECKING:
    from spacetimedb.engine.sequence import SequenceKey

_U32 = struct.Struct("<I")
_SEQ = struct.Struct("<IH")


class RowCodec(Protocol):
    """Encodes one table's rows (tuples in column order) to BSATN and back."""

    def encode(self, row: Row) -> bytes: ...

    def decode(self, data: bytes) -> Row: ...


class LogReplayError(DurabilityError):
    """A logged delta does not apply to the state rebuilt so far (the log and snapshot disagree)."""


@dataclass(slots=True)
class RecoveredTable:
    table_id: int
    name: str
    #: The table's rows as BSATN bytes (a dict used as an insertion-ordered set).
    rows: dict[bytes, None] = field(default_factory=dict)


@dataclass(slots=True)
class RecoveredState:
    """What was durable: the state after tx `tx_offset` (-1: nothing was ever committed)."""

    tx_offset: int = -1
    tables: dict[int, RecoveredTable] = field(default_factory=dict)
    sequences: dict[SequenceKey, int] = field(default_factory=dict)
    #: The snapshot recovery started from, or None when it replayed the whole log.
    snapshot_offset: int | None = None
    #: How many log records were replayed on top of the snapshot.
    replayed: int = 0
    #: The torn tail (or, with allow_truncate, the corruption) that recovery cut off, if any.
    truncated: ScanProblem | None = None

    @property
    def next_tx_offset(self) -> int:
        return self.tx_offset + 1

    @classmethod
    def from_snapshot(cls, snap: SnapshotData) -> RecoveredState:
        state = cls(tx_offset=snap.tx_offset, snapshot_offset=snap.tx_offset)
        for t in snap.tables:
            state.tables[t.table_id] = RecoveredTable(t.table_id, t.name, dict.fromkeys(t.rows))
        state.sequences = {(s.table_id, s.column): s.value for s in snap.sequences}
        return state

    def to_snapshot(self) -> SnapshotData:
        return SnapshotData(
            self.tx_offset,
            [TableImage(t.table_id, t.name, list(t.rows)) for t in self.tables.values()],
            [SequenceState(tid, col, v) for (tid, col), v in self.sequences.items()],
        )

    def decoded_rows(self, codecs: Mapping[int, RowCodec], table_ids: Mapping[str, int] | None = None) -> dict[int, list[Row]]:
        """Every table's rows decoded, keyed by table id.

        `table_ids` (name -> id of the module now loaded) maps tables whose id changed on
        republish; a logged table the module no longer has is an error naming it.
        """
        out: dict[int, list[Row]] = {}
        for t in self.tables.values():
            tid = t.table_id
            if table_ids is not None:
                if t.name not in table_ids:
                    raise LogReplayError(
                        f"the recovered data has table '{t.name}' (id {tid}) with {len(t.rows)} rows, which the "
                        f"loaded module does not declare; publish a module that keeps it, or delete the database"
                    )
                tid = table_ids[t.name]
            decode = codecs[tid].decode
            out[tid] = [decode(r) for r in t.rows]
        return out

    # ---- folding one log record in ----------------------------------------------------------------

    def fold(self, tx_offset: int, payload: bytes) -> None:
        """Apply one logged transaction (deletes, then inserts, then sequence states)."""
        try:
            self._fold(payload)
        except (struct.error, IndexError, UnicodeDecodeError) as e:
            raise LogReplayError(f"tx offset {tx_offset}: payload does not decode: {e}") from e
        except LogReplayError as e:
            raise LogReplayError(f"tx offset {tx_offset}: {e}") from e
        self.tx_offset = tx_offset
        self.replayed += 1

    def _fold(self, buf: bytes) -> None:
        unpack = _U32.unpack_from
        if buf[0] == 0:  # Some(reducer call): skip it, recovery needs only the delta
            (nlen,) = unpack(buf, 1)
            pos = 5 + nlen + 56
            (alen,) = unpack(buf, pos)
            pos += 4 + alen
        else:
            pos = 1
        (nseq,) = unpack(buf, pos)
        pos += 4
        seqs = self.sequences
        for _ in range(nseq):
            tid, col = _SEQ.unpack_from(buf, pos)
            seqs[(tid, col)] = int.from_bytes(buf[pos + 6 : pos + 22], "little", signed=True)
            pos += 22
        (ntables,) = unpack(buf, pos)
        pos += 4
        tables = self.tables
        for _ in range(ntables):
            tid, nlen = struct.unpack_from("<II", buf, pos)
            pos += 8
            name = buf[pos : pos + nlen]
            pos += nlen
            table = tables.get(tid)
            if table is None:
                table = tables[tid] = RecoveredTable(tid, name.decode())
            elif table.name.encode() != name:
                raise LogReplayError(f"table id {tid} is named '{name.decode()}' here but '{table.name}' before")
            rows = table.rows
            (n,) = unpack(buf, pos)
            pos += 4
            for _ in range(n):
                (ln,) = unpack(buf, pos)
                pos += 4
                row = buf[pos : pos + ln]
                pos += ln
                try:
                    del rows[row]
                except KeyError:
                    raise LogReplayError(f"delete of a row not present in table '{table.name}'") from None
            (n,) = unpack(buf, pos)
            pos += 4
            for _ in range(n):
                (ln,) = unpack(buf, pos)
                pos += 4
                rows[buf[pos : pos + ln]] = None
                pos += ln
        if pos != len(buf):
            raise LogReplayError(f"{len(buf) - pos} bytes left over after the delta")
