"""Torn tails are cut with a warning; corruption anywhere else stops recovery, naming where."""

import logging
import os
import shutil
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb.durability.errors import CorruptLogError, LogGapError
from spacetimedb.durability.log_reader import DISCARDED_SUFFIX
from spacetimedb.durability.segment_format import SEGMENT_HEADER_SIZE, list_segments, segment_file_name

from .log_helpers import payload, read_log, write_log


def record_starts(path: str) -> list[int]:
    data = open(path, "rb").read()
    pos, starts = SEGMENT_HEADER_SIZE, []
    while pos < len(data):
        starts.append(pos)
        pos += 16 + int.from_bytes(data[pos + 8 : pos + 12], "little")
    return starts


def flip(path: str, pos: int, bit: int = 0) -> None:
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)[0]
        f.seek(pos)
        f.write(bytes([b ^ (1 << bit)]))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.data())
def test_crash_truncation_anywhere_recovers_a_prefix(count: int, data: st.DataObject) -> None:
    d = tempfile.mkdtemp()
    try:
        write_log(d, count, max_segment_bytes=200)
        segs = list_segments(d)
        last = os.path.join(d, segs[-1][1])
        size = os.path.getsize(last)
        cut = data.draw(st.integers(0, size))
        os.truncate(last, cut)
        got, result = read_log(d)
        n = len(got)
        assert got == [(i, payload(i)) for i in range(n)]
        # Only records of the last segment can be lost.
        assert n >= segs[-1][0]
        assert result.tail.last_offset == n - 1
        again, result2 = read_log(d)
        assert again == got and result2.truncated is None, "the torn tail was cut away for good"
    finally:
        shutil.rmtree(d)


def test_bit_flip_in_the_middle_refuses_to_start_and_names_the_place(tmp_path) -> None:
    d = str(tmp_path)
    write_log(d, 30)
    seg = os.path.join(d, segment_file_name(0))
    starts = record_starts(seg)
    flip(seg, starts[10] + 20)  # inside record 10's payload
    with pytest.raises(CorruptLogError) as e:
        read_log(d)
    err = e.value
    assert err.segment == segment_file_name(0) and err.position == starts[10] and err.tx_offset == 10
    assert "allow_truncate" in str(err) and "checksum" in str(err)


@pytest.mark.parametrize("field_pos", [0, 8, 9, 12])
def test_damaged_header_fields_in_the_middle_are_corruption_not_a_torn_tail(tmp_path, field_pos: int) -> None:
    d = str(tmp_path)
    write_log(d, 30)
    seg = os.path.join(d, segment_file_name(0))
    starts = record_starts(seg)
    # The length field (8..11) flipped high makes the record seem to run past the end of the file.
    flip(seg, starts[12] + field_pos, bit=7 if field_pos == 9 else 0)
    with pytest.raises(CorruptLogError) as e:
        read_log(d)
    assert e.value.tx_offset == 12 and e.value.position == starts[12]


def test_corruption_in_an_earlier_segment_is_never_a_torn_tail(tmp_path) -> None:
    d = str(tmp_path)
    write_log(d, 40, max_segment_bytes=300)
    segs = list_segments(d)
    first = os.path.join(d, segs[0][1])
    starts = record_starts(first)
    os.truncate(first, starts[-1] + 5)
    with pytest.raises(CorruptLogError) as e:
        read_log(d)
    assert e.value.segment == segs[0][1]


def test_bit_flip_in_the_last_record_is_cut_with_a_warning(tmp_path, caplog) -> None:
    d = str(tmp_path)
    write_log(d, 30)
    seg = os.path.join(d, segment_file_name(0))
    starts = record_starts(seg)
    flip(seg, os.path.getsize(seg) - 1)
    with caplog.at_level(logging.WARNING):
        got, result = read_log(d)
    assert [o for o, _ in got] == list(range(29))
    assert result.truncated is not None and result.truncated.torn
    assert os.path.getsize(seg) == starts[29]
    assert segment_file_name(0) in caplog.text and f"byte {starts[29]}" in caplog.text


def test_allow_truncate_cuts_the_log_at_the_corruption(tmp_path) -> None:
    d = str(tmp_path)
    write_log(d, 60, max_segment_bytes=400)
    segs = list_segments(d)
    assert len(segs) >= 3
    mid = os.path.join(d, segs[1][1])
    starts = record_starts(mid)
    flip(mid, starts[1] + 17)
    got, result = read_log(d, allow_truncate=True)
    assert [o for o, _ in got] == list(range(segs[1][0] + 1))
    assert result.tail.last_offset == segs[1][0]
    assert all(os.path.exists(os.path.join(d, n + DISCARDED_SUFFIX)) for _, n in segs[2:])
    got2, _ = read_log(d)
    assert got2 == got


def test_torn_segment_header_of_a_new_last_segment_is_set_aside(tmp_path) -> None:
    d = str(tmp_path)
    write_log(d, 5)
    with open(os.path.join(d, segment_file_name(5)), "wb") as f:
        f.write(b"STDB")
    got, result = read_log(d)
    assert len(got) == 5 and result.tail.segment_first_offset == 0 and result.tail.last_offset == 4


def test_a_snapshot_beyond_the_start_of_the_log_is_a_gap(tmp_path) -> None:
    d = str(tmp_path)
    write_log(d, 5, start=10)
    with pytest.raises(LogGapError, match=r"5\.\.9"):
        read_log(d, after_offset=4)


def test_out_of_order_offsets_are_corruption(tmp_path) -> None:
    d = str(tmp_path)
    write_log(d, 5)
    # A valid segment whose name disagrees with its first record.
    os.rename(os.path.join(d, segment_file_name(0)), os.path.join(d, segment_file_name(1)))
    with pytest.raises(CorruptLogError, match="named 1"):
        read_log(d)
