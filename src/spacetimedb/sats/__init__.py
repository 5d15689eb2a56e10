"""The sats layer: the SATS type model, annotations -> types, special types, SATS-JSON."""

from spacetimedb.sats.algebraic_type import AlgebraicType, ProductType, SumType, Typespace
from spacetimedb.sats.errors import ConversionError, SchemaError
from spacetimedb.sats.infer import TypespaceBuilder, type_of
from spacetimedb.sats.infer_value import infer_type
from spacetimedb.sats.special import ConnectionId, Identity, ScheduleAt, TimeDuration, Timestamp, Uuid
from spacetimedb.sats.sums import Sum, TypeName, UnitVariant, Variant
from spacetimedb.sats.values import Some, SumValue
from spacetimedb.sats.widths import f32, f64, i8, i16, i32, i64, i128, i256, u8, u16, u32, u64, u128, u256

__all__ = [
    "AlgebraicType",
    "ConnectionId",
    "ConversionError",
    "Identity",
    "ProductType",
    "ScheduleAt",
    "SchemaError",
    "Some",
    "Sum",
    "SumType",
    "SumValue",
    "TimeDuration",
    "Timestamp",
    "TypeName",
    "Typespace",
    "TypespaceBuilder",
    "UnitVariant",
    "Uuid",
    "Variant",
    "f32",
    "f64",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "i256",
    "infer_type",
    "type_of",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "u256",
]
