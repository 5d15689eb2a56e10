from hypothesis import given
from hypothesis import strategies as st

from spacetimedb.durability.tx_payload import (
    EncodedTableDelta,
    ReducerCallInfo,
    SequenceState,
    TxPayload,
    decode_tx_payload,
    encode_tx_payload,
)
from spacetimedb.sats.errors import ConversionError

rows = st.lists(st.binary(max_size=40), max_size=5)
reducers = st.none() | st.builds(
    ReducerCallInfo,
    name=st.text(max_size=20),
    caller_identity=st.integers(0, (1 << 256) - 1),
    caller_connection_id=st.integers(0, (1 << 128) - 1),
    timestamp_us=st.integers(-(1 << 63), (1 << 63) - 1),
    args=st.binary(max_size=30),
)
tables = st.builds(EncodedTableDelta, table_id=st.integers(0, (1 << 32) - 1), name=st.text(max_size=12), deletes=rows, inserts=rows)
sequences = st.builds(
    SequenceState, table_id=st.integers(0, 2**32 - 1), column=st.integers(0, 2**16 - 1), value=st.integers(-(2**127), 2**127 - 1)
)
payloads = st.builds(TxPayload, tables=st.lists(tables, max_size=4), reducer=reducers, sequences=st.lists(sequences, max_size=3))


@given(payloads)
def test_payload_round_trips(p: TxPayload) -> None:
    assert decode_tx_payload(encode_tx_payload(p)) == p


def test_payload_layout_is_bsatn_of_the_declared_type() -> None:
    p = TxPayload(
        [EncodedTableDelta(7, "t", [b"\x01"], [b"\x02\x03"])],
        ReducerCallInfo("r", 1, 2, 3, b"\x09"),
        [SequenceState(7, 0, 5)],
    )
    expected = (
        b"\x00" + b"\x01\x00\x00\x00r" + (1).to_bytes(32, "little") + (2).to_bytes(16, "little")
        + (3).to_bytes(8, "little") + b"\x01\x00\x00\x00\x09"
        + b"\x01\x00\x00\x00" + b"\x07\x00\x00\x00\x00\x00" + (5).to_bytes(16, "little")
        + b"\x01\x00\x00\x00" + b"\x07\x00\x00\x00" + b"\x01\x00\x00\x00t"
        + b"\x01\x00\x00\x00" + b"\x01\x00\x00\x00\x01"
        + b"\x01\x00\x00\x00" + b"\x02\x00\x00\x00\x02\x03"
    )
    assert encode_tx_payload(p) == expected


@given(payloads, st.data())
def test_truncated_payload_is_a_conversion_error(p: TxPayload, data: st.DataObject) -> None:
    raw = encode_tx_payload(p)
    cut = data.draw(st.integers(0, len(raw) - 1))
    try:
        decode_tx_payload(raw[:cut])
    except ConversionError:
        return
    raise AssertionError("a truncated payload decoded")


@given(payloads)
def test_the_payload_is_exactly_bsatn_of_tx_payload_type(p: TxPayload) -> None:
    from spacetimedb import bsatn
    from spacetimedb.durability.tx_payload import TX_PAYLOAD_TYPE

    raw = encode_tx_payload(p)
    codec = bsatn.compile(TX_PAYLOAD_TYPE)
    assert codec.encode(codec.decode(raw)) == raw


def test_bank_struct_codecs_match_bsatn() -> None:
    from .bank import ACCOUNT, CODECS, STRUCT_CODECS, TRANSFER

    assert CODECS[ACCOUNT].encode((3, -5)) == STRUCT_CODECS[ACCOUNT].encode((3, -5))
    assert CODECS[TRANSFER].encode((1, 2, 3, 4)) == STRUCT_CODECS[TRANSFER].encode((1, 2, 3, 4))


@given(payloads)
def test_the_commit_path_encoder_writes_the_same_bytes(p: TxPayload) -> None:
    from types import SimpleNamespace

    from spacetimedb.durability.tx_payload import CommitEncoder

    # One table per id, as the engine's delta has (later duplicates dropped).
    unique = {t.table_id: t for t in p.tables}
    p = TxPayload(list(unique.values()), p.reducer, list({(s.table_id, s.column): s for s in p.sequences}.values()))
    enc = CommitEncoder({t.table_id: t.name for t in p.tables}, {t.table_id: bytes for t in p.tables})
    tables = {t.table_id: SimpleNamespace(deletes=t.deletes, inserts=t.inserts) for t in p.tables}
    seqs = {(s.table_id, s.column): s.value for s in p.sequences}
    assert enc.encode(tables, seqs, p.reducer) == encode_tx_payload(p)
