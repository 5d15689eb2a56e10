"""The module description generated bindings hand to the client runtime: tables, reducers, procedures.

`spacetimedb generate --lang python` writes one `TableInfo` per table and view, one `ReducerInfo`
per client-callable reducer and one `ProcedureInfo` per procedure, and a `ModuleInfo` holding them
with the classes `conn.db`, `conn.reducers` and `conn.procedures` are made of. The generic client
(`spacetimedb.client.connect`) builds the same description from the server's schema instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spacetimedb.sats.algebraic_type import Typespace


@dataclass(frozen=True)
class TableInfo:
    #: Canonical table name, as it appears on the wire and in SQL.
    name: str
    #: The row class (an annotated dataclass) or an AlgebraicType: `bsatn.compile(row_type, typespace)`
    #: decodes one row.
    row_type: Any
    #: The primary-key column's name, or None (the client then keys rows by their bytes, and the
    #: table has no `on_update`).
    primary_key: str | None = None
    #: Columns with a unique constraint (the primary key included): each gets a `UniqueIndex`
    #: attribute of the same name on the table handle, with `find(value)`.
    unique_columns: tuple[str, ...] = ()
    #: A view: read-only to clients like every table here, listed for documentation and codegen.
    is_view: bool = False
    #: An event table: rows are never stored; only `on_insert` fires.
    is_event: bool = False
    #: The `TableHandle` subclass for `conn.db.<name>` (typed `UniqueIndex` attributes); None = `TableHandle`.
    handle_type: type | None = None
    #: Turns the decoded value into the row object (the generic client makes named tuples); None = as decoded.
    make_row: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class ReducerInfo:
    #: Canonical reducer name, as `CallReducer` carries it.
    name: str
    #: The arguments class (or product AlgebraicType); `bsatn.encode(args, args_type)` gives `CallReducer.args`.
    args_type: Any


@dataclass(frozen=True)
class ProcedureInfo:
    #: Canonical procedure name, as `CallProcedure` carries it.
    name: str
    #: The arguments class (or product AlgebraicType); `bsatn.encode(args, args_type)` gives `CallProcedure.args`.
    args_type: Any
    #: The return type; `bsatn.decode(returned, return_type)` decodes `ProcedureResult`'s value.
    return_type: Any


@dataclass(frozen=True)
class ModuleInfo:
    """Everything the runtime needs to know about one module.

    `db_type(conn)`, `reducers_type(call)` and `procedures_type(call)` build `conn.db`,
    `conn.reducers` and `conn.procedures`; None gives the runtime's generic ones (`Tables`, attribute
    per table; `GenericReducers`/`GenericProcedures`, methods by name taking the arguments in order).
    `call(name, args_object)` encodes the arguments with the info's `args_type` and returns an
    awaitable (async connections) or a `concurrent.futures.Future` (`build_sync` connections).
    """

    tables: Mapping[str, TableInfo] = field(default_factory=dict)
    reducers: Mapping[str, ReducerInfo] = field(default_factory=dict)
    procedures: Mapping[str, ProcedureInfo] = field(default_factory=dict)
    #: Resolves `RefType`s in AlgebraicType row/argument types (None for annotated classes).
    typespace: Typespace | None = None
    db_type: Callable[..., Any] | None = None
    reducers_type: Callable[..., Any] | None = None
    procedures_type: Callable[..., Any] | None = None
