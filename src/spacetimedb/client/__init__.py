"""The Python client SDK: a live cache of a database's rows, callbacks, reducer calls, reconnect.

Modelled on the official TypeScript and Rust SDKs, speaking v3/v2 BSATN over `spacetimedb.protocol`.

With generated bindings (`spacetimedb generate --lang python`):

    async with DbConnection.builder().with_uri("ws://127.0.0.1:3000").with_database_name("chat") \\
            .with_token(token).on_connect(lambda conn, identity, token: ...).build() as conn:
        conn.db.message.on_insert(lambda ctx, row: print(row.text))
        await conn.subscription_builder().on_applied(lambda ctx: ...).subscribe(["SELECT * FROM message"])
        await conn.reducers.send_message("hello")          # raises ReducerError(message) on a SenderError

Without: `conn = await spacetimedb.client.connect(uri, database)` (rows are named tuples), or
`connect_sync(...)` / `builder.build_sync()` for synchronous code, which then calls
`conn.frame_tick()` (callbacks run on the caller's thread) or `conn.run_threaded()`.

How generated bindings plug in (the runtime's interface; docs/client.md has the details):

- `ModuleInfo(tables, reducers, procedures, typespace=None, db_type, reducers_type, procedures_type)`:
  `TableInfo(name, row_type, primary_key, unique_columns, is_view, is_event, handle_type, make_row)`,
  `ReducerInfo(name, args_type)`, `ProcedureInfo(name, args_type, return_type)`; row and argument
  types are annotated dataclasses (or AlgebraicTypes with `typespace`), BSATN via `spacetimedb.bsatn`.
- `class DbConnection(spacetimedb.client.DbConnection[RemoteTables, RemoteReducers, RemoteProcedures]):
  MODULE = ModuleInfo(...)`; `DbConnection.builder()` then returns a `DbConnectionBuilder`.
- `db_type(handles)`: a `Tables` subclass annotating one `TableHandle[Row, Ctx]` (or subclass) per
  table; `TableInfo.handle_type`: a `TableHandle[Row, Ctx]` / `PrimaryKeyTableHandle[Row, Ctx]`
  subclass annotating `UniqueIndex[Row, Key]` per unique column, `Ctx` being the bindings'
  `EventContext[RemoteTables, RemoteReducers, RemoteProcedures]`. The runtime creates the handles and
  indexes; the subclasses only carry types.
- `reducers_type(call)` / `procedures_type(call)`: `call(name, args_object)` encodes the object with
  the info's `args_type` and returns an awaitable (async connections) or a `concurrent.futures.Future`
  (sync ones); procedures resolve to the value decoded with `return_type`.
"""

from spacetimedb.client.bindings import ModuleInfo, ProcedureInfo, ReducerInfo, TableInfo
from spacetimedb.client.calls import GenericProcedures, GenericReducers
from spacetimedb.client.db_connection import Connecting, ConnectionConfig, DbConnection, DbConnectionBuilder
from spacetimedb.client.errors import (
    ClientError,
    ConnectError,
    ConnectionClosedError,
    ConnectionLostError,
    DisconnectedError,
    ProcedureError,
    ProtocolError,
    QueryError,
    ReducerError,
    ReducerInternalError,
    SubscriptionError,
    TokenRefusedError,
    UnknownDatabaseError,
)
from spacetimedb.client.events import (
    ErrorEvent,
    Event,
    EventContext,
    ReconnectedEvent,
    ReducerEvent,
    SubscribeAppliedEvent,
    TransactionEvent,
    UnsubscribeAppliedEvent,
)
from spacetimedb.client.generic import GenericConnection, connect, connect_sync, fetch_module_info
from spacetimedb.client.schema import SchemaError, module_info_from_schema
from spacetimedb.client.subscription import SubscriptionBuilder, SubscriptionHandle
from spacetimedb.client.table import (
    EventTableHandle,
    GenericTables,
    PrimaryKeyTableHandle,
    TableHandle,
    Tables,
    UniqueIndex,
)

__all__ = [
    "ClientError",
    "ConnectError",
    "Connecting",
    "ConnectionClosedError",
    "ConnectionConfig",
    "ConnectionLostError",
    "DbConnection",
    "DbConnectionBuilder",
    "DisconnectedError",
    "ErrorEvent",
    "Event",
    "EventContext",
    "EventTableHandle",
    "GenericConnection",
    "GenericProcedures",
    "GenericReducers",
    "GenericTables",
    "ModuleInfo",
    "PrimaryKeyTableHandle",
    "ProcedureError",
    "ProcedureInfo",
    "ProtocolError",
    "QueryError",
    "ReconnectedEvent",
    "ReducerError",
    "ReducerEvent",
    "ReducerInfo",
    "ReducerInternalError",
    "SchemaError",
    "SubscribeAppliedEvent",
    "SubscriptionBuilder",
    "SubscriptionError",
    "SubscriptionHandle",
    "TableHandle",
    "TableInfo",
    "Tables",
    "TokenRefusedError",
    "TransactionEvent",
    "UniqueIndex",
    "UnknownDatabaseError",
    "UnsubscribeAppliedEvent",
    "connect",
    "connect_sync",
    "fetch_module_info",
    "module_info_from_schema",
]
