"""resolve_refs inlines every typespace ref, at any depth; a recursive type keeps only its self-ref."""

from __future__ import annotations

import pytest

from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.resolve_refs import resolve_refs

ENUM = at.sum_of(("One", at.UNIT), ("Two", at.UNIT))


def test_refs_nested_in_options_arrays_products_and_sums_are_inlined() -> None:
    ts = at.Typespace([ENUM, at.product(("e", at.RefType(0)), ("es", at.array(at.RefType(0))))])
    row = at.product(("a", at.option(at.RefType(0))), ("b", at.RefType(1)), ("c", at.U32))
    assert resolve_refs(row, ts) == at.product(
        ("a", at.option(ENUM)), ("b", at.product(("e", ENUM), ("es", at.array(ENUM)))), ("c", at.U32)
    )
    assert "RefType" not in repr(resolve_refs(row, ts))


def test_a_recursive_type_is_expanded_once_and_keeps_its_self_reference() -> None:
    node = at.product(("label", at.STRING), ("children", at.array(at.RefType(0))))
    ts = at.Typespace([node])
    assert resolve_refs(at.option(at.RefType(0)), ts) == at.option(node)
    # Through an alias ref, the cycle is still cut at the first ref met twice.
    ts2 = at.Typespace([node, at.RefType(0)])
    assert resolve_refs(at.RefType(1), ts2) == node


def test_a_ref_outside_the_typespace_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="outside the typespace"):
        resolve_refs(at.array(at.RefType(3)), at.Typespace([]))


def test_a_recursive_type_already_inlined_at_the_top_is_not_expanded_again() -> None:
    node = at.product(("label", at.STRING), ("children", at.array(at.RefType(0))))
    assert resolve_refs(node, at.Typespace([node])) == node
