"""`infer_type(value)`: an AlgebraicType from a Python value alone (for ad-hoc encoding and tools)."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.special import ConnectionId, Identity, ScheduleAt, TimeDuration, Timestamp, Uuid
from spacetimedb.sats.sums import Sum
from spacetimedb.sats.values import Some

_SPECIAL: dict[type, at.AlgebraicType] = {
    Identity: at.IDENTITY,
    ConnectionId: at.CONNECTION_ID,
    Timestamp: at.TIMESTAMP,
    TimeDuration: at.TIME_DURATION,
    Uuid: at.UUID,
    ScheduleAt: at.SCHEDULE_AT,
}

#: Integer types in the order infer_type tries them.
_INT_ORDER = (at.I64, at.U64, at.I128, at.U128, at.I256, at.U256)


def int_type_for(lo: int, hi: int) -> at.PrimitiveType:
    """The first of i64, u64, i128, u128, i256, u256 that holds every int in [lo, hi]."""
    for t in _INT_ORDER:
        tlo, thi = at.int_range(t.kind)
        if tlo <= lo and hi <= thi:
            return t
    raise SchemaError(f"integer {hi if hi > 0 else lo} does not fit in 256 bits")


def infer_type(value: Any, path: str = "value") -> at.AlgebraicType:
    """The AlgebraicType of `value`: ints by range, lists by their (homogeneous) elements,
    dicts and dataclass instances as products, Sum/Enum instances as their sum types."""
    if isinstance(value, bool):
        return at.BOOL
    if isinstance(value, int) and not isinstance(value, enum.Enum):
        return int_type_for(value, value)
    if isinstance(value, float):
        return at.F64
    if isinstance(value, str):
        return at.STRING
    if isinstance(value, bytes | bytearray | memoryview):
        return at.BYTES
    special = _SPECIAL.get(type(value))
    if special is not None:
        return special
    if isinstance(value, Some):
        return at.option(infer_type(value.value, path))
    if isinstance(value, list | tuple):
        return at.array(_infer_elements(list(value), path))
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise SchemaError(f"{path}: dict keys must be str field names to infer a product, got {k!r}")
        return at.product(*((k, infer_type(v, f"{path}.{k}")) for k, v in value.items()))
    if isinstance(value, enum.Enum | Sum) or dataclasses.is_dataclass(value):
        from spacetimedb.sats.infer import type_of

        return type_of(type(value))
    if value is None:
        raise SchemaError(f"{path}: cannot infer a type from None alone; give the type (e.g. Optional[int])")
    raise SchemaError(f"{path}: cannot infer a SATS type for {type(value).__name__}; give the type explicitly")


def _infer_elements(items: list[Any], path: str) -> at.AlgebraicType:
    if not items:
        raise SchemaError(f"{path}: cannot infer the element type of an empty list; give the type explicitly")
    if all(isinstance(x, int) and not isinstance(x, bool | enum.Enum) for x in items):
        return int_type_for(min(items), max(items))
    types = [infer_type(x, f"{path}[{i}]") for i, x in enumerate(items)]
    first = types[0]
    for i, t in enumerate(types):
        if t != first:
            raise SchemaError(
                f"{path}: list elements disagree: {path}[0] is {_short(first)} but {path}[{i}] is {_short(t)}; "
                "lists must be homogeneous"
            )
    return first


def _short(t: at.AlgebraicType) -> str:
    name = at.special_name(t)
    if name:
        return name
    if isinstance(t, at.PrimitiveType):
        return repr(t)
    return type(t).__name__.replace("Type", "")
