"""The SATS type model: AlgebraicType and its variants, as plain immutable values.

SpacetimeDB describes every value with an AlgebraicType (`crates/sats/src/algebraic_type.rs`).
Types are themselves data (a module definition is a tree of them), so they are frozen and
hashable: codecs are compiled once per type and cached by the type value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar


class AlgebraicType:
    """Base class of every SATS type. Instances are immutable and hashable."""

    __slots__ = ()
    #: The variant index of this kind of type in the AlgebraicType meta-sum (BSATN tag).
    TAG: ClassVar[int]


@dataclass(frozen=True, slots=True)
class RefType(AlgebraicType):
    """A reference to `typespace.types[idx]`; refs make recursive and named types possible."""

    idx: int
    TAG: ClassVar[int] = 0


@dataclass(frozen=True, slots=True)
class SumTypeVariant:
    name: str | None
    algebraic_type: AlgebraicType


@dataclass(frozen=True, slots=True)
class SumType(AlgebraicType):
    """A tagged union; the BSATN tag of a value is its variant's index (so at most 256)."""

    variants: tuple[SumTypeVariant, ...]
    TAG: ClassVar[int] = 1

    def variant_index(self, name: str) -> int:
        for i, v in enumerate(self.variants):
            if v.name == name:
                return i
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class ProductTypeElement:
    name: str | None
    algebraic_type: AlgebraicType


@dataclass(frozen=True, slots=True)
class ProductType(AlgebraicType):
    """A record; fields are encoded back to back in declaration order."""

    elements: tuple[ProductTypeElement, ...]
    TAG: ClassVar[int] = 2

    @property
    def names(self) -> tuple[str | None, ...]:
        return tuple(e.name for e in self.elements)


@dataclass(frozen=True, slots=True)
class ArrayType(AlgebraicType):
    elem_ty: AlgebraicType
    TAG: ClassVar[int] = 3


class Primitive(enum.IntEnum):
    """Primitive kinds, valued by their BSATN tag. Signed comes before unsigned at each width."""

    String = 4
    Bool = 5
    I8 = 6
    U8 = 7
    I16 = 8
    U16 = 9
    I32 = 10
    U32 = 11
    I64 = 12
    U64 = 13
    I128 = 14
    U128 = 15
    I256 = 16
    U256 = 17
    F32 = 18
    F64 = 19


@dataclass(frozen=True, slots=True)
class PrimitiveType(AlgebraicType):
    kind: Primitive

    @property
    def tag(self) -> int:
        return int(self.kind)

    def __repr__(self) -> str:
        return self.kind.name


STRING = PrimitiveType(Primitive.String)
BOOL = PrimitiveType(Primitive.Bool)
I8 = PrimitiveType(Primitive.I8)
U8 = PrimitiveType(Primitive.U8)
I16 = PrimitiveType(Primitive.I16)
U16 = PrimitiveType(Primitive.U16)
I32 = PrimitiveType(Primitive.I32)
U32 = PrimitiveType(Primitive.U32)
I64 = PrimitiveType(Primitive.I64)
U64 = PrimitiveType(Primitive.U64)
I128 = PrimitiveType(Primitive.I128)
U128 = PrimitiveType(Primitive.U128)
I256 = PrimitiveType(Primitive.I256)
U256 = PrimitiveType(Primitive.U256)
F32 = PrimitiveType(Primitive.F32)
F64 = PrimitiveType(Primitive.F64)
BYTES = ArrayType(U8)

#: (bits, signed) of each integer primitive.
INT_KINDS: dict[Primitive, tuple[int, bool]] = {
    Primitive.I8: (8, True),
    Primitive.U8: (8, False),
    Primitive.I16: (16, True),
    Primitive.U16: (16, False),
    Primitive.I32: (32, True),
    Primitive.U32: (32, False),
    Primitive.I64: (64, True),
    Primitive.U64: (64, False),
    Primitive.I128: (128, True),
    Primitive.U128: (128, False),
    Primitive.I256: (256, True),
    Primitive.U256: (256, False),
}


def int_range(kind: Primitive) -> tuple[int, int]:
    """Inclusive (min, max) of an integer primitive."""
    bits, signed = INT_KINDS[kind]
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


# ---- constructors ---------------------------------------------------------------------------

UNIT = ProductType(())
NEVER = SumType(())


def product(*fields: tuple[str | None, AlgebraicType]) -> ProductType:
    return ProductType(tuple(ProductTypeElement(n, t) for n, t in fields))


def sum_of(*variants: tuple[str | None, AlgebraicType]) -> SumType:
    return SumType(tuple(SumTypeVariant(n, t) for n, t in variants))


def option(inner: AlgebraicType) -> SumType:
    """Option<T> is the sum {some: T, none: ()}: some is tag 0, none is tag 1."""
    return sum_of(("some", inner), ("none", UNIT))


def result(ok: AlgebraicType, err: AlgebraicType) -> SumType:
    """Result<T, E> is the sum {ok: T, err: E}: ok is tag 0."""
    return sum_of(("ok", ok), ("err", err))


def array(elem: AlgebraicType) -> ArrayType:
    return ArrayType(elem)


# ---- the special types, recognised by shape (crates/sats/src/product_type.rs) ---------------

IDENTITY_TAG = "__identity__"
CONNECTION_ID_TAG = "__connection_id__"
TIMESTAMP_TAG = "__timestamp_micros_since_unix_epoch__"
TIME_DURATION_TAG = "__time_duration_micros__"
UUID_TAG = "__uuid__"

IDENTITY = product((IDENTITY_TAG, U256))
CONNECTION_ID = product((CONNECTION_ID_TAG, U128))
TIMESTAMP = product((TIMESTAMP_TAG, I64))
TIME_DURATION = product((TIME_DURATION_TAG, I64))
UUID = product((UUID_TAG, U128))
SCHEDULE_AT = sum_of(("Interval", TIME_DURATION), ("Time", TIMESTAMP))

SPECIAL_PRODUCTS: dict[ProductType, str] = {
    IDENTITY: "Identity",
    CONNECTION_ID: "ConnectionId",
    TIMESTAMP: "Timestamp",
    TIME_DURATION: "TimeDuration",
    UUID: "Uuid",
}


def special_name(ty: AlgebraicType) -> str | None:
    """'Identity', 'ConnectionId', ..., 'ScheduleAt' if `ty` has that special shape, else None."""
    if isinstance(ty, ProductType):
        return SPECIAL_PRODUCTS.get(ty)
    if ty == SCHEDULE_AT:
        return "ScheduleAt"
    return None


def is_option(ty: AlgebraicType) -> bool:
    return (
        isinstance(ty, SumType)
        and len(ty.variants) == 2
        and ty.variants[0].name == "some"
        and ty.variants[1].name == "none"
        and ty.variants[1].algebraic_type == UNIT
    )


def is_result(ty: AlgebraicType) -> bool:
    return (
        isinstance(ty, SumType)
        and len(ty.variants) == 2
        and ty.variants[0].name == "ok"
        and ty.variants[1].name == "err"
    )


@dataclass(slots=True)
class Typespace:
    """The module's type table: `RefType(i)` means `types[i]`."""

    types: list[AlgebraicType]

    def resolve(self, ty: AlgebraicType) -> AlgebraicType:
        """Follow refs until a non-ref type (a ref cycle of refs alone is a SchemaError)."""
        seen = 0
        while isinstance(ty, RefType):
            ty = self.types[ty.idx]
            seen += 1
            if seen > len(self.types):
                from spacetimedb.sats.errors import SchemaError

                raise SchemaError(f"typespace ref cycle at Ref({ty})")
        return ty

    def add(self, ty: AlgebraicType) -> RefType:
        self.types.append(ty)
        return RefType(len(self.types) - 1)
