"""What generated Python client bindings describe: tables, reducers and procedures of a module."""

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


@dataclass(frozen=True)
class ProcedureInfo:
    #: Canonical procedure name, as `CallProcedure` carries it.
    name: str
    #: The arguments class; `spacetimedb.bsatn.encode(args, args_type)` gives `CallProcedure.args`.
    args_type: type
    #: The return type; `spacetimedb.bsatn.decode(returned, return_type)` decodes `ProcedureResult`'s value.
    return_type: object
