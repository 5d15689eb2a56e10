"""Inline every typespace ref inside a type, as upstream's `resolve_refs` does for column types.

Upstream's column schemas hold no refs (`crates/sats/src/resolve_refs.rs`, used by
`crates/schema/src/schema.rs`), so a client reading a `/sql` result schema needs no typespace.
Upstream cannot host a recursive column type: its validation accepts one, but resolving it fails
(`RecursiveTypeRef`) where `ColumnSchema::from_module_def` expects success. This server allows
recursive columns, so a ref that would close a cycle is left in place: a ref is kept when the
type it names is already being expanded (found by ref index, or by value when an outer caller
has inlined the top-level ref already), so each recursive type is expanded exactly once.
"""

from __future__ import annotations

from spacetimedb.sats.algebraic_type import (
    AlgebraicType,
    ArrayType,
    ProductType,
    ProductTypeElement,
    RefType,
    SumType,
    SumTypeVariant,
    Typespace,
)
from spacetimedb.sats.errors import SchemaError


def resolve_refs(ty: AlgebraicType, typespace: Typespace) -> AlgebraicType:
    """`ty` with every `RefType` replaced by the type it names, recursively (see module doc)."""
    return _Resolver(typespace).resolve(ty)


class _Resolver:
    def __init__(self, typespace: Typespace) -> None:
        self.types = typespace.types
        self.refs: list[int] = []  # refs being expanded
        self.outer: list[AlgebraicType] = []  # products and sums being expanded

    def resolve(self, ty: AlgebraicType) -> AlgebraicType:
        if isinstance(ty, RefType):
            if not 0 <= ty.idx < len(self.types):
                raise SchemaError(f"type ref {ty.idx} is outside the typespace ({len(self.types)} types)")
            target = self.types[ty.idx]
            if ty.idx in self.refs or target in self.outer:
                return ty  # a recursive type: expanding it again would never end
            self.refs.append(ty.idx)
            try:
                return self.resolve(target)
            finally:
                self.refs.pop()
        if isinstance(ty, ArrayType):
            return ArrayType(self.resolve(ty.elem_ty))
        if not isinstance(ty, (ProductType, SumType)):
            return ty
        self.outer.append(ty)
        try:
            if isinstance(ty, ProductType):
                return ProductType(
                    tuple(ProductTypeElement(e.name, self.resolve(e.algebraic_type)) for e in ty.elements)
                )
            return SumType(tuple(SumTypeVariant(v.name, self.resolve(v.algebraic_type)) for v in ty.variants))
        finally:
            self.outer.pop()
