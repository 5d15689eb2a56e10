"""The client-frame decoder's strictness: every malformed frame is a `MalformedMessage`, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spacetimedb import protocol as p
from spacetimedb.protocol.client_frames import (
    MalformedMessage,
    _decode_one,
    _Reader,
    count_client_frame,
    decode_client_frame,
)
from spacetimedb.protocol.wire import pack_str


@pytest.mark.parametrize(
    "frame,needle",
    [
        (b"", "empty frame"),
        (b"\x09", "unknown ClientMessage tag 9"),
        (b"\x03\x00\x00\x00\x00\x01" + pack_str("add") + b"\x00\x00\x00\x00", "flags"),
        (b"\x04\x00\x00\x00\x00\x01" + pack_str("p") + b"\x00\x00\x00\x00", "CallProcedure flags"),
        (b"\x03\x00\x00", "truncated"),
        (b"\x02\x00\x00\x00\x00\x02\x00\x00\x00\xff\xfe", "UTF-8"),
        (b"\x01\x00\x00\x00\x00\x00\x00\x00\x00\x07", "UnsubscribeFlags"),
        (b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff", "query count"),
    ],
)
def test_decoder_rejects(frame: bytes, needle: str) -> None:
    with pytest.raises(MalformedMessage, match=needle):
        decode_client_frame(frame, many=True)


def test_malformed_is_a_conversion_error_with_the_plain_text() -> None:
    with pytest.raises(p.MalformedMessage) as info:
        p.decode_client_frame(b"\x09")
    assert isinstance(info.value, ValueError) and str(info.value) == "unknown ClientMessage tag 9"


def test_decoder_v3_loops_and_v2_forbids_trailing() -> None:
    two = b"\x02\x00\x00\x00\x00" + pack_str("a") + b"\x02\x01\x00\x00\x00" + pack_str("b")
    assert decode_client_frame(two, many=True) == [p.OneOffQuery(0, "a"), p.OneOffQuery(1, "b")]
    assert decode_client_frame(memoryview(two)) == decode_client_frame(bytearray(two))
    with pytest.raises(MalformedMessage, match="trailing"):
        decode_client_frame(two, many=False)
    with pytest.raises(MalformedMessage, match="trailing"):
        p.decode_client_message(two)


@given(st.binary(max_size=64), st.booleans())
def test_decoder_never_fails_any_other_way(data: bytes, many: bool) -> None:
    try:
        decode_client_frame(data, many=many)
    except MalformedMessage:
        pass


def _call(rid: int, name: str, args: bytes) -> bytes:
    return p.encode_client_message(p.CallReducer(rid, 0, name, args))


@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.text(max_size=8), st.binary(max_size=8)), min_size=1, max_size=5))
def test_call_reducer_fast_path_agrees_with_the_general_decoder(calls: list[tuple[int, str, bytes]]) -> None:
    frame = b"".join(_call(rid, name, args) for rid, name, args in calls)
    r = _Reader(frame)
    general = []
    while r.pos < len(frame):
        general.append(_decode_one(r))
    assert decode_client_frame(frame, many=True) == general == [p.CallReducer(rid, 0, n, a) for rid, n, a in calls]
    # Every strict prefix is malformed (truncated), never mis-decoded.
    for cut in range(1, len(frame)):
        try:
            decoded = decode_client_frame(frame[:cut], many=True)
        except MalformedMessage:
            continue
        assert decoded == general[: len(decoded)]
        assert b"".join(p.encode_client_message(m) for m in decoded) == frame[:cut]


def _count_agrees(frame: bytes, many: bool) -> None:
    """The front's count (database processes) is the decoder's whenever the frame decodes, and a
    frame it cannot count fails with the decoder's own reason (the client sees the same close)."""
    try:
        decoded: list[p.ClientMessage] | str = decode_client_frame(frame, many=many)
    except MalformedMessage as e:
        decoded = str(e)
    try:
        count: int | str = count_client_frame(frame, many=many)
    except MalformedMessage as e:
        count = str(e)
    if isinstance(decoded, list):
        assert count == len(decoded)
    elif isinstance(count, str):
        assert count == decoded
    # (Counted but malformed, e.g. bad UTF-8 or flags: the database process closes with its reason.)


@given(st.binary(max_size=64), st.booleans())
def test_the_count_agrees_with_the_decoder_on_any_bytes(data: bytes, many: bool) -> None:
    _count_agrees(data, many)


@given(
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.text(max_size=8), st.binary(max_size=8)), min_size=1, max_size=5),
    st.booleans(),
)
def test_the_count_agrees_with_the_decoder_on_calls_and_their_prefixes(calls: list[tuple[int, str, bytes]], other: bool) -> None:
    frame = b"".join(_call(rid, name, args) for rid, name, args in calls)
    if other:
        frame += p.encode_client_message(p.OneOffQuery(7, "SELECT * FROM t"))
    assert count_client_frame(frame, many=True) == len(calls) + other
    for cut in range(len(frame) + 1):
        _count_agrees(frame[:cut], True)
        _count_agrees(frame[:cut], False)
    _count_agrees(b"\x09" + frame, True)
