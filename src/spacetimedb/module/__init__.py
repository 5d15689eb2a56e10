"""The module authoring API: declare tables, reducers and views in plain Python.

    from spacetimedb import table, reducer, ReducerContext, primary_key, u32

See docs/modules.md.
"""

from spacetimedb.module.auth import AuthCtx, JwtClaims
from spacetimedb.module.context import ModuleLog, ReducerContext
from spacetimedb.module.errors import ModuleLoadError, SenderError
from spacetimedb.module.handles import IndexHandle, NoTransactionError, TableHandle, UniqueIndexHandle
from spacetimedb.module.http_client import HttpError, HttpRequest, HttpResponse
from spacetimedb.module.http_handler import HandlerContext, Headers, Request, Response, http_handler
from spacetimedb.module.loader import load_module
from spacetimedb.module.markers import IndexDecl, auto_inc, index, primary_key, unique
from spacetimedb.module.module_def import ModuleDef, ReducerDef, TableDef, ViewDef
from spacetimedb.module.procedure import procedure
from spacetimedb.module.procedure_context import ProcedureContext
from spacetimedb.module.ranges import Range
from spacetimedb.module.reducer import client_connected, client_disconnected, init, reducer, scheduled
from spacetimedb.module.router import Router
from spacetimedb.module.table import table
from spacetimedb.module.view import view
from spacetimedb.module.view_context import AnonymousViewContext, ViewContext, ViewReadOnlyError

__all__ = [
    "AnonymousViewContext",
    "AuthCtx",
    "HandlerContext",
    "Headers",
    "HttpError",
    "HttpRequest",
    "HttpResponse",
    "IndexDecl",
    "IndexHandle",
    "JwtClaims",
    "ModuleDef",
    "ModuleLoadError",
    "ModuleLog",
    "NoTransactionError",
    "ProcedureContext",
    "Range",
    "ReducerContext",
    "ReducerDef",
    "Request",
    "Response",
    "Router",
    "SenderError",
    "TableDef",
    "TableHandle",
    "UniqueIndexHandle",
    "ViewContext",
    "ViewDef",
    "ViewReadOnlyError",
    "auto_inc",
    "client_connected",
    "client_disconnected",
    "http_handler",
    "index",
    "init",
    "load_module",
    "primary_key",
    "procedure",
    "reducer",
    "scheduled",
    "table",
    "unique",
    "view",
]
