"""SATS-JSON types (a module definition's typespace) read back into AlgebraicTypes."""

from __future__ import annotations

import pytest

from spacetimedb.sats.algebraic_type import (
    ArrayType,
    Primitive,
    PrimitiveType,
    ProductType,
    ProductTypeElement,
    RefType,
    SumType,
    SumTypeVariant,
)
from spacetimedb.sats.type_json import TypeJsonError, algebraic_type_from_json


def test_every_form_reads_back() -> None:
    doc = {
        "Product": {
            "elements": [
                {"name": {"some": "id"}, "algebraic_type": {"U32": []}},
                {"name": {"none": []}, "algebraic_type": {"Array": {"String": []}}},
                {"name": {"some": "kind"}, "algebraic_type": {"Sum": {"variants": [
                    {"name": {"some": "a"}, "algebraic_type": {"Ref": 3}},
                ]}}},
            ]
        }
    }  # fmt: skip
    assert algebraic_type_from_json(doc) == ProductType(
        (
            ProductTypeElement("id", PrimitiveType(Primitive.U32)),
            ProductTypeElement(None, ArrayType(PrimitiveType(Primitive.String))),
            ProductTypeElement("kind", SumType((SumTypeVariant("a", RefType(3)),))),
        )
    )


@pytest.mark.parametrize(
    "doc",
    [[], {"U32": [], "U8": []}, {"Nope": []}, {"Product": {}}, {"Product": {"elements": [{}]}}, {"Ref": "x"}],
)
def test_malformed_types_are_named_errors(doc: object) -> None:
    with pytest.raises(TypeJsonError):
        algebraic_type_from_json(doc)
