"""SATS-JSON of untyped values, as upstream writes `/sql` result rows (wire spec section 2).

Products are positional arrays, sums `[tag, payload]`, unit `[]`, byte arrays lowercase hex,
integers of every width plain JSON numbers. Types (the `schema` of a result) use the typed form:
`{"Product": {"elements": [{"name": {"some": "x"}, "algebraic_type": {"U32": []}}]}}`.
"""

from __future__ import annotations

import enum
import math
from typing import Any

from spacetimedb.sats import algebraic_type as at


def type_json(ty: at.AlgebraicType) -> dict[str, Any]:
    if isinstance(ty, at.RefType):
        return {"Ref": ty.idx}
    if isinstance(ty, at.PrimitiveType):
        return {ty.kind.name: []}
    if isinstance(ty, at.ArrayType):
        return {"Array": type_json(ty.elem_ty)}
    if isinstance(ty, at.ProductType):
        return {"Product": product_type_json(ty)}
    if isinstance(ty, at.SumType):
        return {
            "Sum": {
                "variants": [
                    {"name": _opt_name(v.name), "algebraic_type": type_json(v.algebraic_type)} for v in ty.variants
                ]
            }
        }
    raise TypeError(f"not an AlgebraicType: {ty!r}")


def product_type_json(ty: at.ProductType) -> dict[str, Any]:
    return {"elements": [{"name": _opt_name(e.name), "algebraic_type": type_json(e.algebraic_type)} for e in ty.elements]}


def _opt_name(name: str | None) -> dict[str, Any]:
    return {"none": []} if name is None else {"some": name}


def value_json(value: Any, ty: at.AlgebraicType, typespace: at.Typespace | None = None) -> Any:
    if isinstance(ty, at.RefType):
        if typespace is None:
            raise TypeError("a Ref type needs the module typespace")
        ty = typespace.resolve(ty)
    if isinstance(ty, at.PrimitiveType):
        if isinstance(value, float) and not math.isfinite(value):
            return None if math.isnan(value) else (1e999 if value > 0 else -1e999)
        if isinstance(value, enum.Enum):
            return value.value
        return value
    if isinstance(ty, at.ArrayType):
        if ty.elem_ty == at.U8 and isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).hex()
        return [value_json(v, ty.elem_ty, typespace) for v in value]
    if isinstance(ty, at.ProductType):
        if at.special_name(ty) is not None:
            return [_special_int(value)]
        if isinstance(value, tuple | list):
            items = list(value)
        else:
            items = [getattr(value, e.name or "") for e in ty.elements]
        return [value_json(v, e.algebraic_type, typespace) for v, e in zip(items, ty.elements, strict=False)]
    if isinstance(ty, at.SumType):
        return _sum_json(value, ty, typespace)
    raise TypeError(f"not an AlgebraicType: {ty!r}")


def _special_int(value: Any) -> int:
    for attr in ("micros", "value"):
        inner = getattr(value, attr, None)
        if isinstance(inner, int):
            return inner
    return int(value)


def _sum_json(value: Any, ty: at.SumType, typespace: at.Typespace | None) -> Any:
    if at.is_option(ty):
        if value is None:
            return [1, []]
        inner = getattr(value, "value", value) if type(value).__name__ == "Some" else value
        return [0, value_json(inner, ty.variants[0].algebraic_type, typespace)]
    tag = getattr(value, "tag", None)
    if isinstance(tag, int) and hasattr(value, "value"):
        return [tag, value_json(value.value, ty.variants[tag].algebraic_type, typespace)]
    if isinstance(value, enum.Enum):
        names = [v.name for v in ty.variants]
        index = names.index(value.name) if value.name in names else int(value.value)
        return [index, []]
    if ty == at.SCHEDULE_AT:
        micros = _special_int(getattr(value, "value", value))
        is_time = type(getattr(value, "value", value)).__name__ == "Timestamp"
        return [1 if is_time else 0, [micros]]
    name = type(value).__name__
    for i, v in enumerate(ty.variants):
        if v.name == name:
            payload = getattr(value, "value", ())
            return [i, value_json(payload, v.algebraic_type, typespace)]
    raise TypeError(f"cannot write {value!r} as a value of sum type {ty!r}")
