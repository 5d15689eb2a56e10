"""Our hand-written protocol encoders/decoder against the reference classes of `spacetimedb.protocol`."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from spacetimedb import protocol as p
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp
from spacetimedb.server import client_messages as cm
from spacetimedb.server import wire

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


def _same(ref: object, ours: cm.ClientMessage) -> bool:
    if isinstance(ref, p.Subscribe):
        return ours == cm.Subscribe(ref.request_id, ref.query_set_id.id, tuple(ref.query_strings))
    if isinstance(ref, p.Unsubscribe):
        return ours == cm.Unsubscribe(ref.request_id, ref.query_set_id.id, ref.flags is p.UnsubscribeFlags.SendDroppedRows)
    if isinstance(ref, p.OneOffQuery):
        return ours == cm.OneOffQuery(ref.request_id, ref.query_string)
    if isinstance(ref, p.CallReducer):
        return ours == cm.CallReducer(ref.request_id, ref.reducer, ref.args)
    assert isinstance(ref, p.CallProcedure)
    return ours == cm.CallProcedure(ref.request_id, ref.procedure, ref.args)


@given(st.lists(client_messages, min_size=1, max_size=4))
def test_client_frames_decode_like_reference(messages: list[object]) -> None:
    frame = b"".join(p.encode_client_message(m) for m in messages)  # type: ignore[arg-type]
    ours = cm.decode_frame(frame, many=True)
    assert len(ours) == len(messages)
    assert all(_same(r, o) for r, o in zip(messages, ours, strict=True))
    assert cm.decode_frame(p.encode_client_message(messages[0]), many=False) == ours[:1]  # type: ignore[arg-type]
