"""The packed fast path of CommitEncoder (tables of fixed-width integer rows) writes the same
bytes as the row codecs and `encode_tx_payload`, and falls back to the codec's error."""

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spacetimedb.durability.row_codecs import flat_row_format, flat_row_formats, row_codecs
from spacetimedb.durability.tx_payload import (
    CommitEncoder,
    EncodedTableDelta,
    ReducerCallInfo,
    TxPayload,
    encode_tx_payload,
)
from spacetimedb.module.schema import ColumnSchema, TableSchema
from spacetimedb.sats.algebraic_type import BOOL, I8, I64, STRING, U16, U32
from spacetimedb.sats.errors import ConversionError

FLAT, MIXED, TEXT = 1, 2, 3
SCHEMAS = [
    TableSchema(FLAT, "accounts", (ColumnSchema("id", U32), ColumnSchema("balance", I64))),
    TableSchema(MIXED, "small", (ColumnSchema("a", I8), ColumnSchema("b", U16), ColumnSchema("c", BOOL))),
    TableSchema(TEXT, "names", (ColumnSchema("id", U32), ColumnSchema("name", STRING))),
]
CODECS = row_codecs(SCHEMAS)
NAMES = {s.table_id: s.name for s in SCHEMAS}
ENCODERS = {tid: c.encode for tid, c in CODECS.items()}

flat_rows = st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(-(2**63), 2**63 - 1)), max_size=40)
text_rows = st.lists(st.tuples(st.integers(0, 2**32 - 1), st.text(max_size=8)), max_size=4)
reducers = st.none() | st.builds(
    ReducerCallInfo, name=st.sampled_from(["transfer", "seed"]), caller_identity=st.integers(0, 3),
    caller_connection_id=st.integers(0, 3), timestamp_us=st.integers(0, 2**40), args=st.binary(max_size=16),
)


def test_flat_formats_only_for_fixed_width_integer_tuples() -> None:
    assert flat_row_formats(CODECS) == {FLAT: "Iq"}
    assert flat_row_format(object()) is None


@given(flat_rows, flat_rows, text_rows, text_rows, reducers)
def test_packed_and_row_by_row_encodings_are_identical(fd, fi, td, ti, reducer) -> None:  # type: ignore[no-untyped-def]
    delta = {FLAT: SimpleNamespace(deletes=fd, inserts=fi), TEXT: SimpleNamespace(deletes=td, inserts=ti)}
    packed = CommitEncoder(NAMES, ENCODERS, flat_row_formats(CODECS))
    plain = CommitEncoder(NAMES, ENCODERS)
    expected = encode_tx_payload(
        TxPayload(
            [EncodedTableDelta(tid, NAMES[tid], [ENCODERS[tid](r) for r in d.deletes], [ENCODERS[tid](r) for r in d.inserts])
             for tid, d in delta.items()],
            reducer,
        )
    )
    assert packed.encode(delta, {}, reducer) == expected
    assert plain.encode(delta, {}, reducer) == expected
    # A second call reuses the cached caller header and packer.
    assert packed.encode(delta, {}, reducer) == expected


def test_a_row_the_packer_refuses_gets_the_codecs_error() -> None:
    packed = CommitEncoder(NAMES, ENCODERS, flat_row_formats(CODECS))
    for bad in [(1, "x"), (-1, 5), (1,), (1, 2, 3), 7]:
        with pytest.raises(ConversionError):
            packed.encode({FLAT: SimpleNamespace(deletes=[], inserts=[(2, 3), bad])}, {}, None)
    # and it still encodes good rows afterwards
    good = packed.encode({FLAT: SimpleNamespace(deletes=[], inserts=[(2, 3)])}, {}, None)
    assert good == CommitEncoder(NAMES, ENCODERS).encode({FLAT: SimpleNamespace(deletes=[], inserts=[(2, 3)])}, {}, None)


call_reducers = st.builds(
    ReducerCallInfo, name=st.sampled_from(["transfer", "seed", "a" * 40]), caller_identity=st.integers(0, 2**256 - 1),
    caller_connection_id=st.integers(0, 2**128 - 1), timestamp_us=st.integers(-(2**63), 2**63 - 1),
    args=st.binary(max_size=300),
)


@given(flat_rows, flat_rows, call_reducers)
def test_a_one_table_call_packed_in_one_struct_call_is_the_same_bytes(fd, fi, reducer) -> None:  # type: ignore[no-untyped-def]
    delta = {FLAT: SimpleNamespace(deletes=fd, inserts=fi)}
    packed = CommitEncoder(NAMES, ENCODERS, flat_row_formats(CODECS))
    expected = encode_tx_payload(
        TxPayload([EncodedTableDelta(FLAT, NAMES[FLAT], [ENCODERS[FLAT](r) for r in fd], [ENCODERS[FLAT](r) for r in fi])],
                  reducer)
    )
    assert packed.encode(delta, {}, reducer) == expected
    assert packed.encode(delta, {}, reducer) == expected  # the cached one-call packer
    small = len(fd) + len(fi) <= 32 and len(reducer.args) <= 256
    assert bool(packed._call_packers) == small


def test_a_one_table_call_with_a_bad_row_gets_the_codecs_error() -> None:
    packed = CommitEncoder(NAMES, ENCODERS, flat_row_formats(CODECS))
    call = ReducerCallInfo("transfer", 1, 2, 3, b"args")
    for bad in [(1, "x"), (-1, 5), (1,), (1, 2, 3), 7, (1, 2**63)]:
        with pytest.raises(ConversionError):
            packed.encode({FLAT: SimpleNamespace(deletes=[], inserts=[(2, 3), bad])}, {}, call)
    good = {FLAT: SimpleNamespace(deletes=[(2, 3)], inserts=[(2, 4)])}
    assert packed.encode(good, {}, call) == CommitEncoder(NAMES, ENCODERS).encode(good, {}, call)


def _result(delta: dict, reducer: ReducerCallInfo, connection: bool = True) -> SimpleNamespace:
    from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

    return SimpleNamespace(
        reducer=reducer.name, caller=Identity(reducer.caller_identity),
        connection_id=ConnectionId(reducer.caller_connection_id) if connection else None,
        timestamp=Timestamp(reducer.timestamp_us), args=reducer.args,
        delta=SimpleNamespace(tables=delta, sequences={}),
    )


@given(flat_rows, flat_rows, text_rows, call_reducers, call_reducers)
def test_encode_result_is_the_same_bytes_as_encode(fd, fi, ti, first, second) -> None:  # type: ignore[no-untyped-def]
    """The host's per-call path (`encode_result`, caller head reused while the caller objects are
    the same) writes what `encode` writes, for one flat table, another table, and a caller change."""
    packed = CommitEncoder(NAMES, ENCODERS, flat_row_formats(CODECS))
    plain = CommitEncoder(NAMES, ENCODERS)
    one = {FLAT: SimpleNamespace(deletes=fd, inserts=fi)}
    two = {FLAT: SimpleNamespace(deletes=fd, inserts=fi), TEXT: SimpleNamespace(deletes=[], inserts=ti)}
    for reducer in (first, second, first):
        for delta in (one, two, one):
            result = _result(delta, reducer)
            expected = plain.encode(delta, {}, reducer)
            assert packed.encode_result(result, reducer.args) == expected  # type: ignore[arg-type]
            assert packed.encode_result(result, reducer.args) == expected  # type: ignore[arg-type]  # cached objects
        # A new call object with equal values, and then one without a connection id.
        assert packed.encode_result(_result(one, reducer), reducer.args) == plain.encode(one, {}, reducer)  # type: ignore[arg-type]
        no_conn = ReducerCallInfo(reducer.name, reducer.caller_identity, 0, reducer.timestamp_us, reducer.args)
        assert packed.encode_result(_result(one, reducer, connection=False), reducer.args) == plain.encode(  # type: ignore[arg-type]
            one, {}, no_conn
        )


def test_encode_result_with_a_bad_row_gets_the_codecs_error() -> None:
    packed = CommitEncoder(NAMES, ENCODERS, flat_row_formats(CODECS))
    call = ReducerCallInfo("transfer", 1, 2, 3, b"args")
    for bad in [(1, "x"), (-1, 5), (1,), (1, 2, 3), 7, (1, 2**63)]:
        with pytest.raises(ConversionError):
            packed.encode_result(_result({FLAT: SimpleNamespace(deletes=[], inserts=[(2, 3), bad])}, call), b"args")  # type: ignore[arg-type]
    good = {FLAT: SimpleNamespace(deletes=[(2, 3)], inserts=[(2, 4)])}
    assert packed.encode_result(_result(good, call), b"args") == CommitEncoder(NAMES, ENCODERS).encode(good, {}, call)  # type: ignore[arg-type]


def test_encode_result_follows_changing_shapes_and_callers() -> None:
    """The last shape's packer is reused only for the same table, row counts, args length and
    caller head length: every change in between gets the right bytes."""
    packed = CommitEncoder(NAMES, ENCODERS, flat_row_formats(CODECS))
    plain = CommitEncoder(NAMES, ENCODERS)
    calls = [ReducerCallInfo(name, 7, 9, 11, args) for name in ("t", "transfer", "t") for args in (b"", b"ab", b"ab")]
    for k, call in enumerate(calls):
        for n_del, n_ins in ((0, 1), (2, 2), (2, 2), (1, 0), (2, 2)):
            delta = {FLAT: SimpleNamespace(deletes=[(k, j) for j in range(n_del)], inserts=[(j, k) for j in range(n_ins)])}
            assert packed.encode_result(_result(delta, call), call.args) == plain.encode(delta, {}, call)  # type: ignore[arg-type]


def test_a_record_over_the_log_limit_is_refused_by_the_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit is refused (and undone by the host) instead of failing the whole log's writer."""
    from spacetimedb.durability import segment_format

    monkeypatch.setattr(segment_format, "MAX_PAYLOAD", 200)
    packed = CommitEncoder(NAMES, ENCODERS, flat_row_formats(CODECS))
    call = ReducerCallInfo("transfer", 1, 2, 3, b"x" * 300)  # past the one-call packer's args limit
    small = {FLAT: SimpleNamespace(deletes=[], inserts=[(1, 2)])}
    with pytest.raises(ConversionError, match="limit of one commit-log record"):
        packed.encode(small, {}, call)
    with pytest.raises(ConversionError, match="limit of one commit-log record"):
        packed.encode({TEXT: SimpleNamespace(deletes=[], inserts=[(1, "y" * 300)])}, {}, None)
    with pytest.raises(ConversionError, match="limit of one commit-log record"):
        packed.encode_result(_result(small, call), call.args)  # type: ignore[arg-type]
    assert packed.encode(small, {}, ReducerCallInfo("transfer", 1, 2, 3, b"x"))  # under the limit: fine
