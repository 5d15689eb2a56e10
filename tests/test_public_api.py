"""The curated public API: exactly these names, each importable, none of them by accident."""

from __future__ import annotations

import spacetimedb

PUBLIC = {
    # types and values
    "AlgebraicType", "ProductType", "SumType", "Typespace", "TypespaceBuilder", "type_of", "infer_type",
    "Identity", "ConnectionId", "Timestamp", "TimeDuration", "Uuid", "ScheduleAt",
    "Sum", "SumValue", "Some",
    "u8", "u16", "u32", "u64", "u128", "u256", "i8", "i16", "i32", "i64", "i128", "i256", "f32", "f64",
    # authoring
    "procedure", "ProcedureContext", "HttpError", "HttpRequest", "HttpResponse",
    "table", "reducer", "init", "client_connected", "client_disconnected", "scheduled",
    "primary_key", "unique", "auto_inc", "index", "Range", "ReducerContext", "load_module",
    "AuthCtx", "JwtClaims",
    "view", "ViewContext", "AnonymousViewContext",
    # HTTP handlers (webhooks)
    "http_handler", "HandlerContext", "Request", "Response", "Headers", "Router",
    # errors, named by cause
    "SpacetimeError", "ConversionError", "SchemaError", "SenderError", "UniqueConstraintViolation", "RowNotFound",
    "ViewReadOnlyError",
}


def test_all_is_exactly_the_curated_api() -> None:
    assert set(spacetimedb.__all__) == PUBLIC
    assert len(spacetimedb.__all__) == len(PUBLIC), "duplicates in __all__"


def test_every_public_name_is_importable() -> None:
    for name in PUBLIC:
        assert getattr(spacetimedb, name) is not None, name


def test_nothing_public_leaks_beyond_all() -> None:
    leaked = {n for n in vars(spacetimedb) if not n.startswith("_")} - PUBLIC
    # Subpackages become attributes once imported; they are namespaces, not API names.
    import types

    assert {n for n in leaked if not isinstance(getattr(spacetimedb, n), types.ModuleType)} == set()


def test_errors_share_one_base() -> None:
    for name in ("ConversionError", "SchemaError", "SenderError", "UniqueConstraintViolation", "RowNotFound",
                 "ViewReadOnlyError"):
        assert issubclass(getattr(spacetimedb, name), spacetimedb.SpacetimeError), name
