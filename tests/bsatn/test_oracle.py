"""Byte-for-byte agreement with the pinned npm SDK's serializer (tests/node/oracle.mjs)."""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from node_oracle import BsatnOracle
from sats.strategies import typed_values
from spacetimedb import (
    ConnectionId,
    Identity,
    ScheduleAt,
    Some,
    SumValue,
    TimeDuration,
    Timestamp,
    Uuid,
    bsatn,
    type_of,
)
from spacetimedb import protocol as p
from spacetimedb.sats import algebraic_type as at

pytestmark = pytest.mark.node

#: At least one type per AlgebraicType variant, each with a few values (edges included).
EVERY_VARIANT: list[tuple[at.AlgebraicType, list[Any]]] = [
    (at.BOOL, [False, True]),
    (at.STRING, ["", "hi", "héllo 🌍 世界"]),
    (at.I8, [-128, 0, 127]),
    (at.U8, [0, 255]),
    (at.I16, [-32768, -2, 32767]),
    (at.U16, [0, 65535]),
    (at.I32, [-(1 << 31), (1 << 31) - 1]),
    (at.U32, [0, (1 << 32) - 1]),
    (at.I64, [-(1 << 63), -1, (1 << 63) - 1]),
    (at.U64, [0, (1 << 64) - 1]),
    (at.I128, [-(1 << 127), -1, (1 << 127) - 1]),
    (at.U128, [0, 1, (1 << 128) - 1]),
    (at.I256, [-(1 << 255), -1, (1 << 255) - 1]),
    (at.U256, [0, (1 << 256) - 1]),
    (at.F32, [0.0, -0.0, 1.5, 3.4028234663852886e38, float("inf"), float("-inf")]),
    (at.F64, [0.0, -0.0, -0.1, 1e308, float("inf")]),
    (at.BYTES, [b"", b"\x00\xff"]),
    (at.array(at.STRING), [[], ["a", "bc"]]),
    (at.array(at.array(at.U16)), [[[1], [], [2, 3]]]),
    (at.UNIT, [()]),
    (at.product(("id", at.U64), ("name", at.STRING), ("ok", at.BOOL)), [(1, "Alice", True)]),
    (at.product(("x", at.F32), ("y", at.F32), ("z", at.I8)), [(1.5, -2.0, -3)]),
    (at.product((None, at.U8), (None, at.STRING)), [(1, "unnamed fields")]),
    (at.sum_of(("A", at.UNIT), ("B", at.U8), ("C", at.product(("x", at.I32), ("y", at.F64)))),
     [SumValue(0, ()), SumValue(1, 9), SumValue(2, (-5, 2.5))]),
    (at.sum_of((None, at.U8), (None, at.STRING)), [SumValue(1, "unnamed variant")]),
    (at.option(at.STRING), [None, "x"]),
    (at.option(at.option(at.U8)), [None, Some(None), 7]),
    (at.result(at.U32, at.STRING), [SumValue(0, 5), SumValue(1, "bad")]),
    (at.IDENTITY, [Identity.ZERO, Identity.from_hex("c2" + "00" * 30 + "01")]),
    (at.CONNECTION_ID, [ConnectionId.from_hex("000102030405060708090a0b0c0d0e0f")]),
    (at.TIMESTAMP, [Timestamp(1700000000000000), Timestamp(-1)]),
    (at.TIME_DURATION, [TimeDuration(1_000_000)]),
    (at.UUID, [Uuid.parse("01234567-89ab-cdef-0123-456789abcdef")]),
    (at.SCHEDULE_AT, [ScheduleAt.interval(5), ScheduleAt.time(Timestamp(7))]),
]


@pytest.mark.parametrize(("ty", "values"), EVERY_VARIANT, ids=[repr(t)[:40] for t, _ in EVERY_VARIANT])
def test_every_variant_matches_the_sdk(bsatn_oracle: BsatnOracle, ty: at.AlgebraicType, values: list[Any]) -> None:
    ours = [bsatn.encode(v, ty) for v in values]
    assert bsatn_oracle.encode(ty, values) == ours
    decoded = bsatn_oracle.decode(ty, ours)
    assert [bsatn.encode(v, ty) for v in decoded] == ours


def test_refs_and_recursion_match_the_sdk(bsatn_oracle: BsatnOracle) -> None:
    ts = at.Typespace([at.product(("v", at.I32), ("next", at.option(at.RefType(0))))])
    value = (1, (2, (3, None)))
    assert bsatn_oracle.encode(at.RefType(0), [value], ts) == [bsatn.encode(value, at.RefType(0), typespace=ts)]


def test_meta_type_bytes_match_the_sdk_serializer_of_the_meta_type(bsatn_oracle: BsatnOracle) -> None:
    from spacetimedb.sats.infer import TypespaceBuilder

    b = TypespaceBuilder()
    ref = b.type_of(at.AlgebraicType)
    ty = at.product(("id", at.U32), ("tags", at.array(at.option(at.STRING))))
    ours = bsatn.encode(ty, at.AlgebraicType)
    bare = bsatn.decode(ours, ref, typespace=b.typespace)
    assert bsatn_oracle.encode(ref, [bare], b.typespace) == [ours]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(typed_values())
def test_random_values_match_the_sdk(bsatn_oracle: BsatnOracle, pair: tuple[at.AlgebraicType, Any]) -> None:
    ty, value = pair
    ours = bsatn.encode(value, ty)
    assert bsatn_oracle.encode(ty, [value]) == [ours]
    assert bsatn_oracle.decode(ty, [ours]) == [value]


def _protocol_cases() -> list[tuple[Any, Any]]:
    rl = p.BsatnRowList.from_rows([b"\x01\x00", b"\x02\x00"])
    update = p.TransactionUpdate([p.QuerySetUpdate(p.QuerySetId(1), [p.TableUpdate("person", [
        p.TableUpdateRows.PersistentTable(p.PersistentTableRows(rl, p.BsatnRowList.from_rows([]))),
        p.TableUpdateRows.EventTable(p.EventTableRows(p.BsatnRowList.from_rows([b"", b"x"]))),
    ])])])
    client = [
        p.Subscribe(0, p.QuerySetId(0), ["SELECT * FROM person"]),
        p.Unsubscribe(3, p.QuerySetId(0), p.UnsubscribeFlags.SendDroppedRows),
        p.OneOffQuery(4, "SELECT 1"),
        p.CallReducer(1, 0, "add", b"\x03\x00\x00\x00"),
        p.CallProcedure(2, 0, "proc", b""),
    ]
    server = [
        p.InitialConnection(Identity(12345), ConnectionId(678), "tok"),
        p.SubscribeApplied(1, p.QuerySetId(2), p.QueryRows([p.SingleTableRows("person", rl)])),
        p.UnsubscribeApplied(1, p.QuerySetId(2), None),
        p.UnsubscribeApplied(1, p.QuerySetId(2), p.QueryRows([])),
        p.SubscriptionError(None, p.QuerySetId(2), "boom"),
        update,
        p.OneOffQueryResult(5, p.QueryRowsResult.ok(p.QueryRows([]))),
        p.OneOffQueryResult(5, p.QueryRowsResult.err("no")),
        p.ReducerResult(1, Timestamp(9), p.ReducerOutcome.Ok(p.ReducerOk(b"", update))),
        p.ReducerResult(1, Timestamp(9), p.ReducerOutcome.OkEmpty()),
        p.ReducerResult(1, Timestamp(9), p.ReducerOutcome.Err(b"\x04\x00\x00\x00nope")),
        p.ReducerResult(1, Timestamp(9), p.ReducerOutcome.InternalError("panic")),
        p.ProcedureResult(p.ProcedureStatus.Returned(b"\x01"), Timestamp(1), TimeDuration(2), 3),
        p.ProcedureResult(p.ProcedureStatus.InternalError("x"), Timestamp(1), TimeDuration(2), 3),
    ]
    return [(p.ClientMessage, m) for m in client] + [(p.ServerMessage, m) for m in server]


@pytest.mark.parametrize(("ann", "msg"), _protocol_cases(), ids=lambda x: type(x).__name__)
def test_protocol_messages_match_the_sdk(bsatn_oracle: BsatnOracle, ann: Any, msg: Any) -> None:
    ty = type_of(ann)
    ours = bsatn.encode(msg, ann)
    bare = bsatn.decode(ours, ty)  # the same value as tuples / SumValues, for the oracle's JSON
    assert bsatn_oracle.encode(ty, [bare]) == [ours]
    assert bsatn_oracle.decode(ty, [ours]) == [bare]


def test_the_sdk_decoder_is_more_lenient_than_ours(bsatn_oracle: BsatnOracle) -> None:
    """Spec 4 caveat: the SDK reads bool 02 as true and invalid UTF-8 as U+FFFD; we reject both."""
    from spacetimedb import ConversionError

    assert bsatn_oracle.decode(at.BOOL, [b"\x02"]) == [True]
    with pytest.raises(ConversionError):
        bsatn.decode(b"\x02", at.BOOL)
    assert bsatn_oracle.decode(at.STRING, [b"\x01\x00\x00\x00\xff"]) == ["\ufffd"]
    with pytest.raises(ConversionError):
        bsatn.decode(b"\x01\x00\x00\x00\xff", at.STRING)
