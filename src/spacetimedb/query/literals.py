"""Literal source text to the Python value a column of a given type stores, type-checked.

Follows upstream's `parse` in `crates/expr/src/lib.rs`: the literal's text is read according to
the column's type, so `'abc'` and `0xABCD` can both name an Identity, and a number can be compared
with a string column. Integers must fit their type; floats accept `1e3`, `.1`; Timestamp columns
take RFC 3339 strings; Identity/ConnectionId/Uuid/bytes take hex.
"""

from __future__ import annotations

import struct
from decimal import Decimal, InvalidOperation
from typing import Any

from spacetimedb.query.ast import Lit
from spacetimedb.query.errors import SqlTypeError
from spacetimedb.sats.algebraic_type import (
    BOOL,
    BYTES,
    F32,
    F64,
    INT_KINDS,
    STRING,
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    SumType,
    int_range,
    is_option,
    special_name,
)
from spacetimedb.sats.errors import ConversionError
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp, Uuid

#: Special types SQL can compare (upstream `op_supports_type`); TimeDuration and ScheduleAt are not.
COMPARABLE_SPECIALS = frozenset({"Identity", "ConnectionId", "Timestamp", "Uuid"})


def type_name(ty: AlgebraicType) -> str:
    """A short readable name of a type for error messages (`U8`, `Identity`, `Array<U8>`, ...)."""
    special = special_name(ty)
    if special is not None:
        return special
    if isinstance(ty, PrimitiveType):
        return ty.kind.name
    if isinstance(ty, ArrayType):
        return f"Array<{type_name(ty.elem_ty)}>"
    if isinstance(ty, SumType):
        if is_option(ty):
            return f"Option<{type_name(ty.variants[0].algebraic_type)}>"
        return "Sum(" + " | ".join(v.name or "_" for v in ty.variants) + ")"
    if isinstance(ty, ProductType):
        return "Product(" + ", ".join(f"{e.name}: {type_name(e.algebraic_type)}" for e in ty.elements) + ")"
    return type(ty).__name__


def is_comparable(ty: AlgebraicType) -> bool:
    """May values of this type appear in a SQL comparison? (bool, numbers, strings, bytes, 4 specials)."""
    if isinstance(ty, PrimitiveType):
        return True
    if ty == BYTES:
        return True
    return special_name(ty) in COMPARABLE_SPECIALS


def _bad(lit: Lit, ty: AlgebraicType, why: str) -> SqlTypeError:
    return SqlTypeError(
        f"The literal expression `{lit}` cannot be parsed as type `{type_name(ty)}`: {why}", lit.pos
    )


def _hex_digits(lit: Lit, ty: AlgebraicType, max_digits: int | None) -> str:
    s = lit.text.strip()
    if s[:2] in ("0x", "0X"):
        s = s[2:]
    if not s or any(c not in "0123456789abcdefABCDEF" for c in s):
        raise _bad(lit, ty, "expected hexadecimal digits, e.g. 0x01ab")
    if max_digits is not None and len(s) > max_digits:
        raise _bad(lit, ty, f"expected at most {max_digits} hex digits, got {len(s)}")
    return s


def _decimal(lit: Lit, ty: AlgebraicType) -> Decimal:
    if lit.kind != "num" and lit.kind != "str":
        raise _bad(lit, ty, "expected a number")
    try:
        d = Decimal(lit.text.strip())
    except InvalidOperation:
        raise _bad(lit, ty, "expected a number") from None
    if not d.is_finite():
        raise _bad(lit, ty, "expected a finite number")
    return d


def convert_literal(lit: Lit, ty: AlgebraicType) -> Any:
    """The value of `lit` as a column of (resolved) type `ty` stores it. Raises SqlTypeError."""
    if ty == BOOL:
        if lit.kind != "bool":
            raise SqlTypeError(
                f"Unexpected type: (expected) Bool != {_lit_kind_name(lit)} (inferred) for `{lit}`", lit.pos
            )
        return lit.text == "true"
    if lit.kind == "bool":
        raise SqlTypeError(
            f"Unexpected type: (expected) {type_name(ty)} != Bool (inferred) for `{lit}`", lit.pos
        )
    if isinstance(ty, PrimitiveType):
        kind = ty.kind
        if kind in INT_KINDS:
            d = _decimal(lit, ty)
            if d != d.to_integral_value():
                raise _bad(lit, ty, f"{lit.text} is not an integer")
            n = int(d)
            lo, hi = int_range(kind)
            if not lo <= n <= hi:
                raise _bad(lit, ty, f"{lit.text} is out of bounds for type {kind.name} [{lo}, {hi}]")
            return n
        if ty == F64 or ty == F32:
            x = float(_decimal(lit, ty))
            if ty == F32:
                try:
                    x = struct.unpack("<f", struct.pack("<f", x))[0]
                except OverflowError:
                    raise _bad(lit, ty, f"{lit.text} is out of range for F32") from None
            return x
        if ty == STRING:
            return lit.text
    if ty == BYTES:
        s = _hex_digits(lit, ty, None)
        return bytes.fromhex(s if len(s) % 2 == 0 else "0" + s)
    special = special_name(ty)
    try:
        if special == "Identity":
            return Identity(int(_hex_digits(lit, ty, 64), 16))
        if special == "ConnectionId":
            return ConnectionId(int(_hex_digits(lit, ty, 32), 16))
        if special == "Uuid":
            if lit.kind == "str" and "-" in lit.text:
                return Uuid.parse(lit.text)
            return Uuid(int(_hex_digits(lit, ty, 32), 16))
        if special == "Timestamp":
            if lit.kind != "str":
                raise _bad(lit, ty, "expected an RFC 3339 string such as '2025-02-10T15:45:30Z'")
            return Timestamp.parse(lit.text)
    except ConversionError as e:
        raise _bad(lit, ty, e.message) from None
    raise SqlTypeError(f"Literal values for type `{type_name(ty)}` are not supported", lit.pos)


def _lit_kind_name(lit: Lit) -> str:
    return {"num": "number", "str": "String", "hex": "hex", "bool": "Bool"}[lit.kind]


def sender_value(sender: Identity, ty: AlgebraicType) -> Any:
    """`:sender` as a value of column type `ty`: the Identity, or its 32 big-endian bytes for bytes columns."""
    if ty == BYTES:
        return sender.value.to_bytes(32, "big")
    return sender
