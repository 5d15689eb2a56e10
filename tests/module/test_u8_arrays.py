"""`list[u8]` columns and arguments: stored as `bytes` (the engine's bare Array<U8>), handed back to
the author as the annotation says (a list of ints for `list[u8]`, `bytes` for `bytes`)."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from spacetimedb import bsatn
from spacetimedb.module import ModuleDef, primary_key, table
from spacetimedb.module.declarations import collecting
from spacetimedb.module.value_conv import value_converters
from spacetimedb.sats.annotations import AnnotationLowering
from spacetimedb.sats.errors import ConversionError
from spacetimedb.sats.widths import u8, u32

with collecting() as _found:

    @table
    class Blobs:
        id: Annotated[u32, primary_key]
        octets: list[u8]
        raw: bytes
        fixed: tuple[u8, ...]
        maybe: list[u8] | None


MODULE = ModuleDef.build(_found)
TABLE = MODULE.table("blobs")
CODEC = bsatn.compile(TABLE.schema.row_type, MODULE.typespace)


def test_list_of_u8_is_stored_as_bytes_and_encodes_with_the_bare_codec() -> None:
    stored = TABLE.converter.to_row(Blobs(1, [0, 7, 255], b"\x01\x02", (3, 4), [9]))
    assert stored == (1, b"\x00\x07\xff", b"\x01\x02", b"\x03\x04", b"\x09")
    assert all(type(v) is bytes for v in stored[1:])
    assert CODEC.decode(CODEC.encode(stored)) == stored  # the commit log's encoding of the row


def test_rows_come_back_as_the_annotation_says() -> None:
    back: Any = TABLE.converter.from_row((1, b"\x00\xff", b"\x05", b"\x03", None))
    assert back.octets == [0, 255] and type(back.octets) is list
    assert back.raw == b"\x05" and type(back.raw) is bytes
    assert back.fixed == (3,) and type(back.fixed) is tuple
    assert back.maybe is None


@pytest.mark.parametrize(
    ("octets", "message"),
    [
        ([1, 256], "out of range"),
        ([-1], "out of range"),
        ([True], "expected u8"),
        (["a"], "expected u8"),
        (b"\x01", "expected a list of u8"),
    ],
)
def test_bad_u8_elements_name_the_element(octets: Any, message: str) -> None:
    with pytest.raises(ConversionError, match=message) as err:
        TABLE.converter.to_row(Blobs(1, octets, b"", (), None))
    assert "Blobs.octets" in str(err.value)
    if isinstance(octets, list):
        assert f"[{len(octets) - 1}]" in str(err.value)


def test_a_list_u8_reducer_argument_converts_both_ways() -> None:
    to_bare, from_bare = value_converters(AnnotationLowering().lower(list[u8]))
    assert to_bare([1, 2], "arg") == b"\x01\x02"
    assert from_bare(b"\x01\x02") == [1, 2]
    to_bytes, from_bytes = value_converters(AnnotationLowering().lower(bytes))
    assert to_bytes(bytearray(b"\x01"), "arg") == b"\x01" and from_bytes(b"\x01") == b"\x01"
