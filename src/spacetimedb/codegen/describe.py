"""Human-readable type names for `describe` and error messages: `Option<String>`, `Array<Player>`."""

from __future__ import annotations

from spacetimedb.codegen.module_view import ModuleView
from spacetimedb.sats.algebraic_type import (
    BYTES,
    UNIT,
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    RefType,
    SumType,
    is_option,
    special_name,
)


def describe_type(view: ModuleView, ty: AlgebraicType) -> str:
    if isinstance(ty, RefType):
        return view.type_names.get(ty.idx) or describe_type(view, view.types[ty.idx])
    special = special_name(ty)
    if special:
        return special
    if isinstance(ty, PrimitiveType):
        return ty.kind.name
    if ty == BYTES:
        return "Bytes"
    if isinstance(ty, ArrayType):
        return f"Array<{describe_type(view, ty.elem_ty)}>"
    if ty == UNIT:
        return "()"
    if isinstance(ty, SumType):
        if is_option(ty):
            return f"Option<{describe_type(view, ty.variants[0].algebraic_type)}>"
        return " | ".join(f"{v.name}({describe_type(view, v.algebraic_type)})" for v in ty.variants)
    if isinstance(ty, ProductType):
        return (
            "{" + ", ".join(f"{e.name}: {describe_type(view, e.algebraic_type)}" for e in ty.elements) + "}"
        )
    return repr(ty)
