"""The v2 message classes against the spec's verified byte examples (wire spec 5.8)."""

import pytest

from spacetimedb import ConnectionId, ConversionError, Identity, TimeDuration, Timestamp
from spacetimedb import protocol as p


def _h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", "").replace("|", ""))


SUBSCRIBE = _h("00 | 00000000 | 00000000 | 01000000 | 14000000 53454c454354202a2046524f4d20706572736f6e")
CALL_REDUCER = _h("03 | 01000000 | 00 | 03000000 616464 | 0d000000 | 03000000 05000000 6361726f6c")
UNSUBSCRIBE = _h("01 | 03000000 | 00000000 | 01")


def test_client_messages_match_the_sdk_bytes() -> None:
    assert p.encode_client_message(p.Subscribe(0, p.QuerySetId(0), ["SELECT * FROM person"])) == SUBSCRIBE
    call = p.CallReducer(1, 0, "add", _h("03000000 05000000 6361726f6c"))
    assert p.encode_client_message(call) == CALL_REDUCER
    unsub = p.Unsubscribe(3, p.QuerySetId(0), p.UnsubscribeFlags.SendDroppedRows)
    assert p.encode_client_message(unsub) == UNSUBSCRIBE
    assert p.decode_client_message(CALL_REDUCER) == call
    assert p.decode_client_frame(SUBSCRIBE + CALL_REDUCER + UNSUBSCRIBE) == [
        p.Subscribe(0, p.QuerySetId(0), ["SELECT * FROM person"]),
        call,
        unsub,
    ]


def test_client_frame_errors() -> None:
    with pytest.raises(ConversionError, match="empty"):
        p.decode_client_frame(b"")
    with pytest.raises(ConversionError, match="unknown ClientMessage tag 9"):
        p.decode_client_frame(b"\x09")
    with pytest.raises(ConversionError, match="trailing"):
        p.decode_client_message(UNSUBSCRIBE + b"\x00")
    with pytest.raises(ConversionError, match="truncated: reducer arguments"):
        p.decode_client_frame(SUBSCRIBE + CALL_REDUCER[:-2])


def test_initial_connection_frame() -> None:
    ident = Identity.from_bytes_le(_h("592066fb512fb27d8b65b1d1097cb9e604208fc68d29e09ba9c1644388ef00c2"))
    assert ident.to_hex().startswith("c200ef88") and ident.to_hex().endswith("2059")
    msg = p.InitialConnection(ident, ConnectionId.from_bytes_le(bytes(range(1, 17))), "my.jwt.token")
    body = p.encode_server_message(msg)
    assert b"\x00" + body == _h(
        "00 | 00 | 592066fb512fb27d8b65b1d1097cb9e604208fc68d29e09ba9c1644388ef00c2"
        "| 0102030405060708090a0b0c0d0e0f10 | 0c000000 6d792e6a77742e746f6b656e"
    )
    assert p.decode_server_message(body) == msg


def test_subscribe_applied_with_row_offsets() -> None:
    rows = [_h("01000000 05000000 616c696365"), _h("02000000 03000000 626f62")]
    rl = p.BsatnRowList.from_rows(rows)
    assert rl.size_hint == p.RowSizeHint.RowOffsets([0, 13]) and rl.rows() == rows and len(rl) == 2
    msg = p.SubscribeApplied(7, p.QuerySetId(2), p.QueryRows([p.SingleTableRows("person", rl)]))
    assert p.encode_server_message(msg) == _h(
        "01 | 07000000 | 02000000 | 01000000 | 06000000 706572736f6e | 01 | 02000000 | 0000000000000000 0d00000000000000"
        "| 18000000 | 01000000 05000000 616c696365 02000000 03000000 626f62"
    )


def test_row_list_hints() -> None:
    assert p.encode_server_message(
        p.TransactionUpdate([p.QuerySetUpdate(p.QuerySetId(0), [p.TableUpdate("t", [p.TableUpdateRows.PersistentTable(
            p.PersistentTableRows(p.BsatnRowList.from_rows([]), p.BsatnRowList.from_rows([b"ab", b"cd"]))
        )])])])
    ).endswith(p.EMPTY_ROW_LIST_BYTES + _h("00 0200 04000000 61626364"))
    fixed = p.BsatnRowList.from_rows([b"ab", b"cd"])
    assert fixed.size_hint == p.RowSizeHint.FixedSize(2) and fixed.rows() == [b"ab", b"cd"] and len(fixed) == 2
    zero = p.BsatnRowList.from_rows([b"", b""])
    assert zero.size_hint == p.RowSizeHint.RowOffsets([0, 0])


def test_reducer_results() -> None:
    ok = p.ReducerResult(1, Timestamp(5), p.ReducerOutcome.Ok(p.ReducerOk(b"", p.TransactionUpdate([]))))
    assert p.encode_server_message(ok) == _h("06 01000000 0500000000000000 00 00000000 00000000")
    err = p.ReducerResult(1, Timestamp(5), p.ReducerOutcome.Err(_h("04000000 6e6f7065")))
    assert p.encode_server_message(err) == _h("06 01000000 0500000000000000 02 08000000 04000000 6e6f7065")
    empty = p.ReducerResult(2, Timestamp(0), p.ReducerOutcome.OkEmpty())
    assert p.encode_server_message(empty) == _h("06 02000000 0000000000000000 01")
    proc = p.ProcedureResult(p.ProcedureStatus.Returned(b"\x01"), Timestamp(1), TimeDuration(2), 9)
    assert p.encode_server_message(proc) == _h("07 00 01000000 01 0100000000000000 0200000000000000 09000000")
    for msg in (ok, err, empty, proc):
        assert p.decode_server_message(p.encode_server_message(msg)) == msg


def test_other_server_messages_round_trip() -> None:
    msgs = [
        p.UnsubscribeApplied(1, p.QuerySetId(0), None),
        p.UnsubscribeApplied(1, p.QuerySetId(0), p.QueryRows([])),
        p.SubscriptionError(None, p.QuerySetId(3), "bad query"),
        p.SubscriptionError(4, p.QuerySetId(3), "bad query"),
        p.OneOffQueryResult(1, p.QueryRowsResult.ok(p.QueryRows([]))),
        p.OneOffQueryResult(1, p.QueryRowsResult.err("nope")),
    ]
    for msg in msgs:
        assert p.decode_server_message(p.encode_server_message(msg)) == msg
    assert p.encode_server_message(msgs[2]) == _h("03 01 03000000 09000000") + b"bad query"
    assert p.encode_server_message(msgs[5])[:6] == _h("05 01000000 01")


def test_row_list_encode_picks_the_same_hint_as_from_rows() -> None:
    from spacetimedb import bsatn
    from spacetimedb.sats import algebraic_type as at

    fixed = bsatn.compile(at.product(("id", at.U32), ("x", at.F32)))
    rows = [(1, 1.0), (2, 2.0)]
    assert p.BsatnRowList.encode(rows, fixed) == p.BsatnRowList.from_rows([fixed.encode(r) for r in rows])
    assert p.BsatnRowList.encode(rows, fixed).size_hint == p.RowSizeHint.FixedSize(8)
    var = bsatn.compile(at.product(("name", at.STRING),))
    names = [("a",), ("bcd",), ("",)]
    assert p.BsatnRowList.encode(names, var) == p.BsatnRowList.from_rows([var.encode(r) for r in names])
    assert p.BsatnRowList.encode([], var) == p.BsatnRowList.from_rows([])
    same = [("ab",), ("cd",)]
    assert p.BsatnRowList.encode(same, var).size_hint == p.RowSizeHint.FixedSize(6)
