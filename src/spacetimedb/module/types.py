"""Python annotations -> SATS types, for columns and reducer parameters (an adapter onto sats)."""

from __future__ import annotations

from typing import Any

from spacetimedb.sats.algebraic_type import AlgebraicType
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.infer import type_of


def column_type(annotation: Any, where: str) -> AlgebraicType:
    """The SATS type of `annotation` (named types inlined); SchemaError naming `where` if unsupported."""
    try:
        return type_of(annotation)
    except SchemaError as e:
        msg = str(e)
        raise SchemaError(msg if msg.startswith(where) else f"{where}: {msg}") from None
