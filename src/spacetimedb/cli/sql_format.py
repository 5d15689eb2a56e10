"""Table cells for `spacetimedb sql`: values rendered by their column type, as the official CLI does."""

from __future__ import annotations

import json
from typing import Any

from spacetimedb.codegen.module_view import type_from_json
from spacetimedb.sats.algebraic_type import AlgebraicType
from spacetimedb.sats.errors import ConversionError
from spacetimedb.sats.json import from_json
from spacetimedb.sats.special import ConnectionId, Identity, TimeDuration, Timestamp, Uuid
from spacetimedb.sats.values import Some, SumValue


def column_types(schema: dict[str, Any]) -> list[tuple[str, AlgebraicType | None]]:
    """(column name, type) for each element of a result's SATS-JSON ProductType."""
    out: list[tuple[str, AlgebraicType | None]] = []
    for i, e in enumerate(schema.get("elements", [])):
        name = e.get("name")
        name = name.get("some") if isinstance(name, dict) else name
        try:
            ty: AlgebraicType | None = type_from_json(e["algebraic_type"])
        except (ValueError, KeyError):
            ty = None
        out.append((name or f"column {i}", ty))
    return out


def render(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Some):
        return f"(some = {render(value.value)})"
    if isinstance(value, (Identity, ConnectionId)):
        return "0x" + value.to_hex()
    if isinstance(value, Timestamp):
        return value.isoformat()
    if isinstance(value, (TimeDuration, Uuid)):
        return str(value)
    if isinstance(value, SumValue):
        return f"({value.tag} = {render(value.value)})"
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if hasattr(value, "tag") and hasattr(value, "value"):
        return f"({value.tag} = {render(value.value)})"
    return json.dumps(value) if isinstance(value, (bool, int, float)) else str(value)


def cell(value: Any, ty: AlgebraicType | None) -> str:
    """One cell; falls back to the raw JSON when the value does not read as its column type."""
    if ty is None:
        return value if isinstance(value, str) else json.dumps(value)
    try:
        return render(from_json(value, ty))
    except (ConversionError, TypeError, ValueError):
        return json.dumps(value)
