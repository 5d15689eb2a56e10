"""Row lists and shared structures of the v2 protocol (`websocket/common.rs`, `v2.rs`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spacetimedb.sats.sums import Sum, Variant
from spacetimedb.sats.widths import u16, u32, u64

if TYPE_CHECKING:
    from spacetimedb.bsatn.codec import Codec


@dataclass(slots=True)
class QuerySetId:
    id: u32


class RowSizeHint(Sum):
    """How to split `rows_data`: every row is `FixedSize` bytes, or rows start at `RowOffsets`."""

    FixedSize: Variant[u16]
    RowOffsets: Variant[list[u64]]


def fixed_row_size(rows: Sequence[bytes], total: int) -> int:
    """The FixedSize hint the real server picks for encoded rows of `total` bytes, or 0 for RowOffsets.

    FixedSize(n) when every row has the same nonzero length n <= 65535; anything else (including
    no rows, or zero-length rows) is RowOffsets. FixedSize(0) is never produced.
    """
    if not rows:
        return 0
    first = len(rows[0])
    if 0 < first <= 0xFFFF and total == first * len(rows) and all(len(r) == first for r in rows):
        return first
    return 0


@dataclass(slots=True)
class BsatnRowList:
    size_hint: RowSizeHint
    rows_data: bytes

    @classmethod
    def from_rows(cls, rows: Sequence[bytes]) -> BsatnRowList:
        """Concatenate encoded rows with the hint the real server would send (`fixed_row_size`)."""
        data = b"".join(rows)
        size = fixed_row_size(rows, len(data))
        if size:
            return cls(RowSizeHint.FixedSize(size), data)
        offsets = []
        pos = 0
        for r in rows:
            offsets.append(pos)
            pos += len(r)
        return cls(RowSizeHint.RowOffsets(offsets), data)

    @classmethod
    def encode(cls, rows: Iterable[Any], codec: Codec) -> BsatnRowList:
        """Encode row values with `codec` straight into one buffer, with the hint `from_rows` would pick."""
        buf = bytearray()
        offsets: list[int] = []
        note, encode_into = offsets.append, codec.encode_into
        for row in rows:
            note(len(buf))
            encode_into(buf, row)
        data = bytes(buf)
        if offsets:
            size = len(data) // len(offsets)
            if 0 < size <= 0xFFFF and size * len(offsets) == len(data) and all(
                o == i * size for i, o in enumerate(offsets)
            ):
                return cls(RowSizeHint.FixedSize(size), data)
        return cls(RowSizeHint.RowOffsets(offsets), data)

    def rows(self) -> list[bytes]:
        """Split `rows_data` back into the encoded rows, using the hint."""
        data = self.rows_data
        if self.size_hint.tag == "FixedSize":
            size: int = self.size_hint.value
            if size == 0:
                raise ValueError("FixedSize(0) row hint is invalid")
            return [data[i : i + size] for i in range(0, len(data), size)]
        offsets: list[int] = self.size_hint.value
        if not offsets:
            return []
        ends = [*offsets[1:], len(data)]
        return [data[a:b] for a, b in zip(offsets, ends, strict=True)]

    def __len__(self) -> int:
        if self.size_hint.tag == "FixedSize":
            return len(self.rows_data) // int(self.size_hint.value)
        return len(self.size_hint.value)


EMPTY_ROW_LIST_BYTES = bytes.fromhex("01" + "00000000" + "00000000")


@dataclass(slots=True)
class SingleTableRows:
    table: str
    rows: BsatnRowList


@dataclass(slots=True)
class QueryRows:
    tables: list[SingleTableRows]


@dataclass(slots=True)
class PersistentTableRows:
    inserts: BsatnRowList
    deletes: BsatnRowList


@dataclass(slots=True)
class EventTableRows:
    events: BsatnRowList


class TableUpdateRows(Sum):
    PersistentTable: Variant[PersistentTableRows]
    EventTable: Variant[EventTableRows]


@dataclass(slots=True)
class TableUpdate:
    table_name: str
    rows: list[TableUpdateRows]


@dataclass(slots=True)
class QuerySetUpdate:
    query_set_id: QuerySetId
    tables: list[TableUpdate]


@dataclass(slots=True)
class TransactionUpdate:
    query_sets: list[QuerySetUpdate]
