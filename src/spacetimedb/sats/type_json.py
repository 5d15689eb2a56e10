"""A type in SATS-JSON, as a module definition's typespace carries it: `{"Ref": 3}`,
`{"Array": t}`, `{"Product": {"elements": [{"name": {"some": "x"}, "algebraic_type": t}]}}`,
`{"Sum": {"variants": [...]}}`, `{"U32": []}`. Read by the Python client (a server's schema) and by
codegen (a module definition), each of which reports a `TypeJsonError` as its own error."""

from __future__ import annotations

from typing import Any

from spacetimedb.sats.algebraic_type import (
    AlgebraicType,
    ArrayType,
    Primitive,
    PrimitiveType,
    ProductType,
    ProductTypeElement,
    RefType,
    SumType,
    SumTypeVariant,
)


class TypeJsonError(ValueError):
    """The JSON is not a SATS-JSON type."""


def option_value(obj: Any) -> Any:
    """SATS-JSON Option: {"some": v} -> v, {"none": []} -> None (a bare value is accepted too)."""
    if isinstance(obj, dict) and len(obj) == 1:
        if "some" in obj:
            return obj["some"]
        if "none" in obj:
            return None
    return obj


def algebraic_type_from_json(obj: Any) -> AlgebraicType:
    if not (isinstance(obj, dict) and len(obj) == 1):
        raise TypeJsonError(f"expected a one-key object for AlgebraicType, got {obj!r:.80}")
    ((tag, payload),) = obj.items()
    try:
        if tag == "Ref":
            return RefType(int(payload))
        if tag == "Array":
            return ArrayType(algebraic_type_from_json(payload))
        if tag == "Product":
            return ProductType(
                tuple(
                    ProductTypeElement(option_value(e.get("name")), algebraic_type_from_json(e["algebraic_type"]))
                    for e in payload["elements"]
                )
            )
        if tag == "Sum":
            return SumType(
                tuple(
                    SumTypeVariant(option_value(v.get("name")), algebraic_type_from_json(v["algebraic_type"]))
                    for v in payload["variants"]
                )
            )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        if isinstance(e, TypeJsonError):
            raise
        raise TypeJsonError(f"malformed {tag} type: {e!r:.80}") from None
    try:
        return PrimitiveType(Primitive[tag])
    except KeyError:
        raise TypeJsonError(f"unknown AlgebraicType variant {tag!r}") from None
