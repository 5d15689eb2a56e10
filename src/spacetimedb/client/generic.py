"""`spacetimedb.client.connect(uri, database)`: a connection without generated bindings.

It fetches the module's schema over HTTP first (`schema.py`), then connects like a generated
`DbConnection`: tables as `conn.db.<name>` with rows as named tuples, reducers as
`conn.reducers.<name>(*args)`.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Callable
from typing import Any

import aiohttp

from spacetimedb.client.bindings import ModuleInfo
from spacetimedb.client.calls import GenericProcedures, GenericReducers
from spacetimedb.client.db_connection import Connecting, DbConnection, DbConnectionBuilder
from spacetimedb.client.errors import ConnectError, TokenRefusedError, UnknownDatabaseError
from spacetimedb.client.schema import SchemaError, module_info_from_schema
from spacetimedb.client.table import GenericTables

#: A connection without bindings: `db`, `reducers` and `procedures` are looked up by name.
GenericConnection = DbConnection[GenericTables, GenericReducers, GenericProcedures]


def _http_base(uri: str) -> str:
    base = uri.strip().rstrip("/")
    scheme, sep, rest = base.partition("://")
    if not sep:
        return f"http://{base}"
    return f"{ {'ws': 'http', 'wss': 'https'}.get(scheme.lower(), scheme.lower())}://{rest}"


async def fetch_module_info(uri: str, database: str, token: str | None = None, timeout: float = 10.0) -> ModuleInfo:
    """The ModuleInfo of a database, from `GET /v1/database/:name/schema?version=9`."""
    url = f"{_http_base(uri)}/v1/database/{urllib.parse.quote(database, safe='')}/schema?version=9"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url, headers=headers) as resp,
        ):
            if resp.status == 404:
                raise UnknownDatabaseError(f"no database {database!r} on the server", 404)
            if resp.status in (401, 403):
                raise TokenRefusedError(f"the server refused the token ({resp.status}): {await resp.text()}", resp.status)
            if resp.status != 200:
                raise ConnectError(f"fetching the schema failed ({resp.status}): {(await resp.text())[:200]}", resp.status)
            doc = await resp.json(content_type=None)
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        raise ConnectError(f"cannot connect to {uri}: {e or type(e).__name__}") from None
    except ValueError as e:
        raise SchemaError(f"the schema is not JSON: {e}") from None
    return module_info_from_schema(doc)


def _builder(
    module: ModuleInfo,
    uri: str,
    database: str,
    token: str | None,
    compression: str,
    confirmed_reads: bool | None,
    protocol: str,
    reconnect: bool,
    on_connect: Callable[..., Any] | None,
    on_disconnect: Callable[..., Any] | None,
) -> DbConnectionBuilder[GenericConnection]:
    b: DbConnectionBuilder[GenericConnection] = DbConnectionBuilder(DbConnection, module)
    b.with_uri(uri).with_database_name(database).with_token(token).with_compression(compression)
    b.with_protocol(protocol).with_reconnect(reconnect)
    if confirmed_reads is not None:
        b.with_confirmed_reads(confirmed_reads)
    if on_connect is not None:
        b.on_connect(on_connect)
    if on_disconnect is not None:
        b.on_disconnect(on_disconnect)
    return b


def connect(
    uri: str,
    database: str,
    *,
    token: str | None = None,
    compression: str = "none",
    confirmed_reads: bool | None = None,
    protocol: str = "any",
    reconnect: bool = True,
    on_connect: Callable[..., Any] | None = None,
    on_disconnect: Callable[..., Any] | None = None,
) -> Connecting[GenericConnection]:
    """`conn = await connect(uri, db)` or `async with connect(uri, db) as conn:`; see `DbConnectionBuilder`."""

    async def go() -> GenericConnection:
        module = await fetch_module_info(uri, database, token)
        b = _builder(module, uri, database, token, compression, confirmed_reads, protocol, reconnect, on_connect, on_disconnect)
        return await b.build()

    return Connecting(go)


def connect_sync(
    uri: str,
    database: str,
    *,
    token: str | None = None,
    compression: str = "none",
    confirmed_reads: bool | None = None,
    protocol: str = "any",
    reconnect: bool = True,
    on_connect: Callable[..., Any] | None = None,
    on_disconnect: Callable[..., Any] | None = None,
) -> GenericConnection:
    """`connect` for synchronous code (`build_sync()`): run `conn.frame_tick()` to process messages."""
    module = asyncio.run(fetch_module_info(uri, database, token))
    b = _builder(module, uri, database, token, compression, confirmed_reads, protocol, reconnect, on_connect, on_disconnect)
    return b.build_sync()
