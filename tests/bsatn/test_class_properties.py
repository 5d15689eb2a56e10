"""Property test of the class path: random types rebuilt as dataclasses and Sum classes.

For each generated bare type, the same shape declared with Python classes must infer the same
AlgebraicType and encode to the same bytes, and decoding must rebuild equal instances.
"""

import dataclasses
import itertools
from typing import Any, Optional

from hypothesis import assume, given, settings

from sats.strategies import typed_values
from spacetimedb import Sum, bsatn, type_of
from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.special import ConnectionId, Identity, ScheduleAt, TimeDuration, Timestamp, Uuid
from spacetimedb.sats.values import Some, SumValue

_counter = itertools.count()
_SPECIAL = {"Identity": Identity, "ConnectionId": ConnectionId, "Timestamp": Timestamp,
            "TimeDuration": TimeDuration, "Uuid": Uuid, "ScheduleAt": ScheduleAt}


def _has_nested_option(ty: at.AlgebraicType) -> bool:
    if isinstance(ty, at.ArrayType):
        return _has_nested_option(ty.elem_ty)
    if isinstance(ty, at.ProductType):
        return any(_has_nested_option(e.algebraic_type) for e in ty.elements)
    if isinstance(ty, at.SumType):
        if at.is_option(ty) and at.is_option(ty.variants[0].algebraic_type):
            return True
        return any(_has_nested_option(v.algebraic_type) for v in ty.variants)
    return False


def to_annotation(ty: at.AlgebraicType) -> tuple[Any, Any]:
    """(annotation, function converting a bare value to the class representation)."""
    if isinstance(ty, at.PrimitiveType):
        from typing import Annotated

        base = {at.Primitive.Bool: bool, at.Primitive.String: str}.get(ty.kind)
        if base is not None:
            return base, lambda v: v
        base = float if ty.kind in (at.Primitive.F32, at.Primitive.F64) else int
        return Annotated[base, ty], lambda v: v
    if ty == at.BYTES:
        return bytes, lambda v: v
    if isinstance(ty, at.ArrayType):
        ann, conv = to_annotation(ty.elem_ty)
        return list[ann], lambda v: [conv(x) for x in v]  # type: ignore[valid-type]
    special = at.special_name(ty)
    if special is not None:
        return _SPECIAL[special], lambda v: v
    if ty == at.UNIT:
        return tuple[()], lambda v: v
    if isinstance(ty, at.ProductType):
        fields = [(e.name, *to_annotation(e.algebraic_type)) for e in ty.elements]
        cls = dataclasses.make_dataclass(f"P{next(_counter)}", [(n, a) for n, a, _ in fields])
        return cls, lambda v: cls(*(c(x) for (_, _, c), x in zip(fields, v, strict=True)))
    assert isinstance(ty, at.SumType)
    if at.is_option(ty):
        ann, conv = to_annotation(ty.variants[0].algebraic_type)
        return Optional[ann], lambda v: None if v is None else conv(v.value if isinstance(v, Some) else v)  # noqa: UP045
    variants = [(v.name, v.algebraic_type == at.UNIT, *to_annotation(v.algebraic_type)) for v in ty.variants]
    sum_cls: Any = type(f"S{next(_counter)}", (Sum,), {"__annotations__": {
        n: (None if unit else a) for n, unit, a, _ in variants
    }})

    def conv_sum(v: SumValue) -> Any:
        name, unit, _, conv = variants[v.tag]
        return sum_cls(name, None if unit else conv(v.value))

    return sum_cls, conv_sum


@settings(max_examples=150, deadline=None)
@given(typed_values())
def test_class_representation_matches_the_bare_type(pair: tuple[at.AlgebraicType, Any]) -> None:
    ty, value = pair
    assume(not _has_nested_option(ty))  # Optional[Optional[T]] collapses in Python's typing
    ann, conv = to_annotation(ty)
    assert type_of(ann) == ty
    obj = conv(value)
    data = bsatn.encode(obj, ann)
    assert data == bsatn.encode(value, ty)
    assert bsatn.decode(data, ann) == obj
