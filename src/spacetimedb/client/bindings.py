"""What generated Python client bindings describe: tables and reducers of a module."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableInfo:
    #: Canonical table name, as it appears on the wire and in SQL.
    name: str
    #: The row class; `spacetimedb.bsatn.decode(row_bytes, row_type)` decodes one row.
    row_type: type
    #: The primary-key column's name, or None (the client then keys rows by their bytes).
    primary_key: str | None = None


@dataclass(frozen=True)
class ReducerInfo:
    #: Canonical reducer name, as `CallReducer` carries it.
    name: str
    #: The arguments class; `spacetimedb.bsatn.encode(args, args_type)` gives `CallReducer.args`.
    args_type: type
