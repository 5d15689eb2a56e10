"""Python annotations -> SATS types, for columns and reducer parameters (an adapter onto sats)."""

from __future__ import annotations

from typing import Any

from spacetimedb.sats.algebraic_type import AlgebraicType
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.infer import TypespaceBuilder, type_of


def column_type(annotation: Any, where: str) -> AlgebraicType:
    """The SATS type of `annotation`, checked when a table or reducer is declared.

    Named types are inlined where possible; a recursive type (a tree of nodes) cannot be, so it
    comes back as a ref (the module's own typespace is built later, in `ModuleDef`). A SchemaError
    names `where` (e.g. `Player.score`) if the annotation is unsupported.
    """
    try:
        return type_of(annotation)
    except SchemaError as e:
        try:
            return TypespaceBuilder().type_of(annotation)
        except SchemaError:
            pass
        msg = str(e)
        raise SchemaError(msg if msg.startswith(where) else f"{where}: {msg}") from None
