"""Splitting a BsatnRowList back into rows, including the empty list the server sends for no rows."""

from spacetimedb import protocol as p


def test_an_empty_row_list_splits_into_no_rows() -> None:
    empty = p.BsatnRowList.from_rows([])
    assert empty.rows() == [] and len(empty) == 0


def test_offset_row_lists_split_at_their_offsets() -> None:
    rows = [b"a", b"bcd", b""]
    assert p.BsatnRowList.from_rows(rows).rows() == rows
