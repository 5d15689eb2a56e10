"""Hypothesis strategies for SATS: arbitrary nested types and values of them (bare-type representation).

    from sats.strategies import algebraic_types, values_of, typed_values

`typed_values()` draws (AlgebraicType, value) pairs; values are what `bsatn.decode` returns for
the type (tuples, lists, bytes, SumValue, Some, special classes), so `decode(encode(v)) == v`
holds except for NaN floats, which these strategies leave out unless `allow_nan=True`.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.special import ConnectionId, Identity, ScheduleAt, TimeDuration, Timestamp, Uuid
from spacetimedb.sats.values import Some, SumValue

PRIMITIVES = [at.PrimitiveType(k) for k in at.Primitive]
SPECIALS = [at.IDENTITY, at.CONNECTION_ID, at.TIMESTAMP, at.TIME_DURATION, at.UUID, at.SCHEDULE_AT]
LEAVES = [*PRIMITIVES, *SPECIALS, at.UNIT, at.BYTES]

_names = st.sampled_from(["a", "b", "id", "name", "x", "y", "value", "next", "tag", "items"])


def _product(children: st.SearchStrategy[at.AlgebraicType]) -> st.SearchStrategy[at.AlgebraicType]:
    return st.lists(st.tuples(_names, children), max_size=4, unique_by=lambda f: f[0]).map(
        lambda fields: at.product(*fields)
    )


def _sum(children: st.SearchStrategy[at.AlgebraicType]) -> st.SearchStrategy[at.AlgebraicType]:
    variant_names = st.sampled_from(["A", "B", "C", "Circle", "Square", "Empty", "Ok", "Err"])
    return st.lists(st.tuples(variant_names, children), min_size=1, max_size=4, unique_by=lambda v: v[0]).map(
        lambda variants: at.sum_of(*variants)
    )


def algebraic_types(max_leaves: int = 8) -> st.SearchStrategy[at.AlgebraicType]:
    """Nested types over every primitive and special type: arrays, options, products, sums."""
    return st.recursive(
        st.sampled_from(LEAVES),
        lambda children: st.one_of(
            children.map(at.array),
            children.map(at.option),
            _product(children),
            _sum(children),
        ),
        max_leaves=max_leaves,
    )


def _float(width: int, allow_nan: bool, allow_infinity: bool = True) -> st.SearchStrategy[float]:
    return st.floats(width=width, allow_nan=allow_nan, allow_infinity=allow_infinity)  # type: ignore[arg-type]


def values_of(ty: at.AlgebraicType, allow_nan: bool = False, allow_infinity: bool = True) -> st.SearchStrategy[Any]:
    """Values of `ty` in the bare-type representation."""
    if isinstance(ty, at.PrimitiveType):
        k = ty.kind
        if k is at.Primitive.Bool:
            return st.booleans()
        if k is at.Primitive.String:
            return st.text(max_size=12)
        if k is at.Primitive.F32:
            return _float(32, allow_nan, allow_infinity)
        if k is at.Primitive.F64:
            return _float(64, allow_nan, allow_infinity)
        lo, hi = at.int_range(k)
        return st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, 0]).filter(lambda v: lo <= v <= hi))
    if isinstance(ty, at.ArrayType):
        if ty.elem_ty == at.U8:
            return st.binary(max_size=16)
        return st.lists(values_of(ty.elem_ty, allow_nan, allow_infinity), max_size=4)
    special = at.special_name(ty)
    if special is not None:
        return _special_values(special)
    if isinstance(ty, at.ProductType):
        return st.tuples(*(values_of(e.algebraic_type, allow_nan, allow_infinity) for e in ty.elements))
    assert isinstance(ty, at.SumType)
    if at.is_option(ty):
        inner = values_of(ty.variants[0].algebraic_type, allow_nan, allow_infinity)
        return st.one_of(st.none(), inner.map(lambda v: Some(v) if v is None or isinstance(v, Some) else v))
    return st.one_of(
        *(values_of(v.algebraic_type, allow_nan, allow_infinity).map(lambda p, i=i: SumValue(i, p)) for i, v in enumerate(ty.variants))
    )


def _special_values(name: str) -> st.SearchStrategy[Any]:
    i64 = st.integers(-(1 << 63), (1 << 63) - 1)
    if name == "Identity":
        return st.integers(0, (1 << 256) - 1).map(Identity)
    if name == "ConnectionId":
        return st.integers(0, (1 << 128) - 1).map(ConnectionId)
    if name == "Uuid":
        return st.integers(0, (1 << 128) - 1).map(Uuid)
    if name == "Timestamp":
        return i64.map(Timestamp)
    if name == "TimeDuration":
        return i64.map(TimeDuration)
    return st.one_of(i64.map(lambda m: ScheduleAt(TimeDuration(m))), i64.map(lambda m: ScheduleAt(Timestamp(m))))


def typed_values(
    max_leaves: int = 8, allow_nan: bool = False, allow_infinity: bool = True
) -> st.SearchStrategy[tuple[at.AlgebraicType, Any]]:
    """(type, value) pairs."""
    return algebraic_types(max_leaves).flatmap(
        lambda t: st.tuples(st.just(t), values_of(t, allow_nan, allow_infinity))
    )
