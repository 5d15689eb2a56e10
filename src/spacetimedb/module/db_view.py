"""`ctx.db`: every table of the module, by name (`ctx.db.player`) or class (`ctx.db.get_table(Player)`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from spacetimedb.module.handles import TableHandle
from spacetimedb.sats.errors import SchemaError


class DbView:
    """The module's tables. Attribute access by table name; `get_table` by class or name."""

    def __init__(self, handles: Iterable[TableHandle]) -> None:
        self._by_name: dict[str, TableHandle] = {}
        self._by_class: dict[type, TableHandle] = {}
        for h in handles:
            self._by_name[h.schema.name] = h
            self._by_class[h.row_class] = h
            if not h.schema.name.startswith("_") and h.schema.name != "get_table":
                setattr(self, h.schema.name, h)

    def get_table(self, table: type | str) -> TableHandle:
        """The handle of a table, by its row class or its name."""
        h = self._by_class.get(table) if isinstance(table, type) else self._by_name.get(table)
        if h is None:
            raise SchemaError(f"no table {getattr(table, '__name__', table)!r} in this module; tables are {list(self._by_name)}")
        return h

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not tables (tables are instance attributes).
        raise AttributeError(f"no table {name!r} in this module; tables are {list(self._by_name)}")

    def __iter__(self) -> Iterator[TableHandle]:
        return iter(self._by_name.values())
