"""Explicit numeric widths for annotations: `score: u32`.

Each is `Annotated[int | float, <PrimitiveType>]`, so mypy sees a plain int/float and type
inference sees the exact SATS primitive. Bare `int` means i64 and bare `float` means f64.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

from spacetimedb.sats import algebraic_type as at

u8: TypeAlias = Annotated[int, at.U8]
u16: TypeAlias = Annotated[int, at.U16]
u32: TypeAlias = Annotated[int, at.U32]
u64: TypeAlias = Annotated[int, at.U64]
u128: TypeAlias = Annotated[int, at.U128]
u256: TypeAlias = Annotated[int, at.U256]
i8: TypeAlias = Annotated[int, at.I8]
i16: TypeAlias = Annotated[int, at.I16]
i32: TypeAlias = Annotated[int, at.I32]
i64: TypeAlias = Annotated[int, at.I64]
i128: TypeAlias = Annotated[int, at.I128]
i256: TypeAlias = Annotated[int, at.I256]
f32: TypeAlias = Annotated[float, at.F32]
f64: TypeAlias = Annotated[float, at.F64]

__all__ = ["f32", "f64", "i8", "i16", "i32", "i64", "i128", "i256", "u8", "u16", "u32", "u64", "u128", "u256"]
