"""The hand-written server encoders (`protocol.wire`) and client-frame decoder against the compiled codec."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from node_oracle import BsatnOracle
from spacetimedb import bsatn, type_of
from spacetimedb import protocol as p
from spacetimedb.protocol import wire
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

u32s = st.integers(0, 2**32 - 1)
texts = st.text(max_size=20)
rows = st.lists(st.binary(max_size=12), max_size=6)


def _ref_rows(encoded: list[bytes]) -> p.BsatnRowList:
    return p.BsatnRowList.from_rows(encoded)


@given(rows)
def test_row_list_matches_reference(encoded: list[bytes]) -> None:
    ref = p.SingleTableRows("t", _ref_rows(encoded))
    ours = wire.single_table_rows("t", wire.row_list(encoded))
    sub = p.SubscribeApplied(1, p.QuerySetId(2), p.QueryRows([ref]))
    assert wire.subscribe_applied(1, 2, [ours]) == p.encode_server_message(sub)


@given(u32s, st.integers(-(2**63), 2**63 - 1), rows, rows, texts)
def test_reducer_results_match_reference(rid: int, ts: int, ins: list[bytes], dels: list[bytes], msg: str) -> None:
    tu = p.TransactionUpdate(
        [p.QuerySetUpdate(p.QuerySetId(3), [p.TableUpdate("t", [p.TableUpdateRows.PersistentTable(p.PersistentTableRows(_ref_rows(ins), _ref_rows(dels)))])])]
    )
    ok = p.ReducerResult(rid, Timestamp(ts), p.ReducerOutcome.Ok(p.ReducerOk(b"", tu)))
    ours_sets = [wire.query_set_update(3, [wire.table_update("t", [wire.persistent_table_rows(wire.row_list(ins), wire.row_list(dels))])])]
    assert wire.reducer_ok(rid, ts, b"", ours_sets) == p.encode_server_message(ok)
    assert wire.transaction_update(ours_sets) == p.encode_server_message(tu)
    err = p.ReducerResult(rid, Timestamp(ts), p.ReducerOutcome.Err(wire.pack_str(msg)))
    assert wire.reducer_err(rid, ts, msg) == p.encode_server_message(err)
    internal = p.ReducerResult(rid, Timestamp(ts), p.ReducerOutcome.InternalError(msg))
    assert wire.reducer_internal_error(rid, ts, msg) == p.encode_server_message(internal)


@given(u32s, u32s, texts, st.booleans(), rows)
def test_subscription_messages_match_reference(rid: int, qs: int, msg: str, some: bool, encoded: list[bytes]) -> None:
    for request_id in (rid, None):
        ref = p.SubscriptionError(request_id, p.QuerySetId(qs), msg)
        assert wire.subscription_error(request_id, qs, msg) == p.encode_server_message(ref)
    tables = [wire.single_table_rows("x", wire.row_list(encoded))]
    ref_rows = p.QueryRows([p.SingleTableRows("x", _ref_rows(encoded))]) if some else None
    ref_un = p.UnsubscribeApplied(rid, p.QuerySetId(qs), ref_rows)
    assert wire.unsubscribe_applied(rid, qs, tables if some else None) == p.encode_server_message(ref_un)
    ok = p.OneOffQueryResult(rid, p.QueryRowsResult.ok(p.QueryRows([p.SingleTableRows("x", _ref_rows(encoded))])))
    assert wire.one_off_query_ok(rid, tables) == p.encode_server_message(ok)
    assert wire.one_off_query_err(rid, msg) == p.encode_server_message(p.OneOffQueryResult(rid, p.QueryRowsResult.err(msg)))


@given(st.integers(0, 2**256 - 1), st.integers(1, 2**128 - 1), texts)
def test_initial_connection_matches_reference(identity: int, conn: int, token: str) -> None:
    ref = p.InitialConnection(Identity(identity), ConnectionId(conn), token)
    assert wire.initial_connection(identity.to_bytes(32, "little"), conn, token) == p.encode_server_message(ref)


client_messages = st.one_of(
    st.builds(p.Subscribe, u32s, st.builds(p.QuerySetId, u32s), st.lists(texts, max_size=3)),
    st.builds(p.Unsubscribe, u32s, st.builds(p.QuerySetId, u32s), st.sampled_from(list(p.UnsubscribeFlags))),
    st.builds(p.OneOffQuery, u32s, texts),
    st.builds(p.CallReducer, u32s, st.just(0), texts, st.binary(max_size=20)),
    st.builds(p.CallProcedure, u32s, st.just(0), texts, st.binary(max_size=20)),
)


@given(st.lists(client_messages, min_size=1, max_size=4))
def test_client_frames_decode_like_the_compiled_codec(messages: list[p.ClientMessage]) -> None:
    frame = b"".join(p.encode_client_message(m) for m in messages)
    codec = p.client_message_codec()
    reference, off = [], 0
    while off < len(frame):
        msg, off = codec.decode_from(frame, off)
        reference.append(msg)
    assert reference == messages
    assert p.decode_client_frame(frame) == messages
    assert p.decode_client_frame(frame, many=True) == messages
    assert p.decode_client_message(p.encode_client_message(messages[0])) == messages[0]


def test_hot_messages_match_the_sdk(bsatn_oracle: BsatnOracle) -> None:
    """The hand-written server messages straight against the npm SDK's serializer (tests/node/oracle.mjs)."""
    rows = wire.row_list([b"\x01\x00", b"\x02\x00"])
    sets = [wire.query_set_update(1, [wire.table_update("person", [
        wire.persistent_table_rows(rows, wire.row_list([])), wire.event_table_rows(wire.row_list([b"", b"x"])),
    ])])]
    hot = [
        wire.reducer_ok(7, 9, b"", []),
        wire.reducer_ok(7, 9, b"\x01", sets),
        wire.reducer_err(7, -9, "nope"),
        wire.reducer_internal_error(7, 9, "panic"),
        wire.transaction_update(sets),
        wire.subscribe_applied(1, 2, [wire.single_table_rows("person", rows)]),
        wire.unsubscribe_applied(1, 2, None),
        wire.one_off_query_ok(5, [wire.single_table_rows("t", wire.row_list([b"abc", b"de"]))]),
    ]
    ty = type_of(p.ServerMessage)
    bare = [bsatn.decode(body, ty) for body in hot]
    assert bsatn_oracle.decode(ty, hot) == bare
    assert bsatn_oracle.encode(ty, bare) == hot


def test_client_frames_from_the_sdk_decode(bsatn_oracle: BsatnOracle) -> None:
    msgs: list[p.ClientMessage] = [
        p.Subscribe(0, p.QuerySetId(4), ["SELECT * FROM person", "SELECT * FROM t"]),
        p.Unsubscribe(3, p.QuerySetId(4), p.UnsubscribeFlags.SendDroppedRows),
        p.OneOffQuery(4, "SELECT 1"),
        p.CallReducer(1, 0, "add", b"\x03\x00\x00\x00"),
        p.CallProcedure(2, 0, "proc", b""),
    ]
    ty = type_of(p.ClientMessage)
    sdk = bsatn_oracle.encode(ty, [bsatn.decode(p.encode_client_message(m), ty) for m in msgs])
    assert p.decode_client_frame(b"".join(sdk)) == msgs
