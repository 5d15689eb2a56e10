"""spacetimedb: SpacetimeDB modules written in Python, and the server that runs them.

The public API is curated here; `tests/test_public_api.py` checks it. Each layer appends its own
names in its own section below.
"""

# --- sats: types, widths, special types ------------------------------------------------------
from spacetimedb.sats.algebraic_type import AlgebraicType, ProductType, SumType, Typespace
from spacetimedb.sats.errors import ConversionError, SchemaError, SpacetimeError
from spacetimedb.sats.infer import TypespaceBuilder, type_of
from spacetimedb.sats.infer_value import infer_type
from spacetimedb.sats.special import ConnectionId, Identity, ScheduleAt, TimeDuration, Timestamp, Uuid
from spacetimedb.sats.sums import Sum
from spacetimedb.sats.values import Some, SumValue
from spacetimedb.sats.widths import f32, f64, i8, i16, i32, i64, i128, i256, u8, u16, u32, u64, u128, u256

# isort: split
# --- module: authoring API -------------------------------------------------------------------
from spacetimedb.module import (
    AnonymousViewContext,
    AuthCtx,
    HttpError,
    HttpRequest,
    HttpResponse,
    JwtClaims,
    ProcedureContext,
    Range,
    ReducerContext,
    SenderError,
    ViewContext,
    ViewReadOnlyError,
    auto_inc,
    client_connected,
    client_disconnected,
    index,
    init,
    load_module,
    primary_key,
    procedure,
    reducer,
    scheduled,
    table,
    unique,
    view,
)
from spacetimedb.module.datastore_errors import RowNotFound, UniqueConstraintViolation
from spacetimedb.module.http_handler import HandlerContext, Headers, Request, Response, http_handler
from spacetimedb.module.router import Router

__all__ = [
    "AlgebraicType",
    "AnonymousViewContext",
    "AuthCtx",
    "ConnectionId",
    "ConversionError",
    "HandlerContext",
    "Headers",
    "HttpError",
    "HttpRequest",
    "HttpResponse",
    "Identity",
    "JwtClaims",
    "ProcedureContext",
    "ProductType",
    "Range",
    "ReducerContext",
    "Request",
    "Response",
    "Router",
    "RowNotFound",
    "ScheduleAt",
    "SchemaError",
    "SenderError",
    "Some",
    "SpacetimeError",
    "Sum",
    "SumType",
    "SumValue",
    "TimeDuration",
    "Timestamp",
    "Typespace",
    "TypespaceBuilder",
    "UniqueConstraintViolation",
    "Uuid",
    "ViewContext",
    "ViewReadOnlyError",
    "auto_inc",
    "client_connected",
    "client_disconnected",
    "f32",
    "f64",
    "http_handler",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "i256",
    "index",
    "infer_type",
    "init",
    "load_module",
    "primary_key",
    "procedure",
    "reducer",
    "scheduled",
    "table",
    "type_of",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "u256",
    "unique",
    "view",
]
