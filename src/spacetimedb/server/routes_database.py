"""`/v1/database/...`: publish, delete, call, sql, schema, logs, info (routes/database.rs)."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from spacetimedb.control import database_ops
from spacetimedb.control.backend import CallStatus, LogLine, QueryRejected
from spacetimedb.control.clock import now_us
from spacetimedb.control.database_registry import NotOwner, PublishError, unpack_upload
from spacetimedb.control.errors import ConnectRejected
from spacetimedb.module.auth import AuthCtx
from spacetimedb.server.http_auth import MINTED_KEY, caller_of
from spacetimedb.server.http_limits import TooDeep, loads_bounded, read_body
from spacetimedb.server.publish_policy import PublishDenied, PublishGate
from spacetimedb.server.routes_identity import REGISTRY_KEY

if TYPE_CHECKING:
    from spacetimedb.control.database_handle import DatabaseHandle

#: Who may create databases (the operator's --allow-publish list and the server's owner).
PUBLISH_GATE_KEY: web.AppKey[PublishGate] = web.AppKey("publish_gate", PublishGate)

#: Largest module upload accepted by publish.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


def database_of(request: web.Request) -> DatabaseHandle:
    db = request.app[REGISTRY_KEY].resolve(request.match_info["name"])
    if db is None:
        raise web.HTTPNotFound(text="No such database.")
    return db


def serving_database_of(request: web.Request) -> DatabaseHandle:
    """The database, if it is in service (503 with the reason once its commit log failed)."""
    db = database_of(request)
    db.check_serving()
    return db


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").lower()
    if value not in ("true", "false"):
        raise web.HTTPBadRequest(text=f"query parameter {name} must be true or false")
    return value == "true"


def _flag_default(request: web.Request, name: str, default: bool) -> bool:
    return _flag(request, name) if name in request.query else default


# ---- publish / delete ------------------------------------------------------------------------


async def publish(request: web.Request) -> web.Response:
    name = request.match_info.get("name") or request.query.get("name")
    if not name:
        raise web.HTTPBadRequest(text="give the database name: PUT /v1/database/<name>")
    caller = caller_of(request)
    registry = request.app[REGISTRY_KEY]
    gate = request.app[PUBLISH_GATE_KEY]

    def authorize_create() -> None:
        try:
            gate.check_create(caller.identity, presented_credentials=not request[MINTED_KEY])
        except PublishDenied as e:
            raise (web.HTTPUnauthorized if e.status == 401 else web.HTTPForbidden)(text=str(e)) from e

    # Refused before the upload is read; checked again under the registry's lock by publish().
    existing = registry.databases.get(name)
    if existing is None:
        authorize_create()
    elif existing.info.owner != caller.identity:
        raise web.HTTPForbidden(text=f"database {name!r} belongs to another identity; only its owner can publish over it")
    body = await read_body(request)
    if not body:
        raise web.HTTPBadRequest(text="empty body: upload a Python module file or a zip/tar of a package")
    entry = request.query.get("entry")
    clear = _flag(request, "clear")
    try:
        op, db = await registry.publish(
            name, caller.identity, partial(unpack_upload, body, entry=entry), clear=clear, authorize_create=authorize_create
        )
    except NotOwner as e:
        raise web.HTTPForbidden(text=str(e)) from e
    except PublishError as e:
        raise web.HTTPBadRequest(text=str(e)) from e
    return web.json_response(
        {"Success": {"domain": name, "database_identity": db.info.identity.hex(), "op": op}}
    )


async def delete_database(request: web.Request) -> web.Response:
    db = database_of(request)
    try:
        await request.app[REGISTRY_KEY].delete(db, caller_of(request).identity)
    except NotOwner as e:
        raise web.HTTPForbidden(text=str(e)) from e
    return web.Response(status=200)


# ---- info --------------------------------------------------------------------------------------


async def info(request: web.Request) -> web.Response:
    db = database_of(request)
    meta = request.app[REGISTRY_KEY].meta(db)
    return web.json_response(
        {
            "database_identity": db.info.identity.hex(),
            "owner_identity": db.info.owner.hex(),
            "host_type": {"Python": []},
            "initial_program": meta.get("program_hash", ""),
        }
    )


async def identity(request: web.Request) -> web.Response:
    return web.Response(text=database_of(request).info.identity.hex())


async def names(request: web.Request) -> web.Response:
    return web.json_response({"names": [database_of(request).info.name]})


async def schema(request: web.Request) -> web.Response:
    db = database_of(request)
    version = request.query.get("version")
    if version not in ("9", "10"):
        raise web.HTTPBadRequest(text="query parameter `version` is required: 9 or 10")
    try:
        doc = await database_ops.module_schema(db, int(version))
    except NotImplementedError as e:
        raise web.HTTPBadRequest(text=f"schema version {version} is not available: {e}") from e
    return web.json_response(doc)


# ---- call / sql ------------------------------------------------------------------------------


_CALL_STATUS = {
    CallStatus.FAILED_USER: 530,
    CallStatus.FAILED_INTERNAL: 530,
    CallStatus.NO_SUCH_REDUCER: 404,
    CallStatus.BAD_ARGS: 400,
    CallStatus.LIFECYCLE: 400,
}


async def call_reducer(request: web.Request) -> web.Response:
    db = serving_database_of(request)
    if request.content_type != "application/json":
        raise web.HTTPBadRequest(text="Content-Type must be application/json (SATS-JSON arguments)")
    body = await read_body(request)
    try:
        args: Any = loads_bounded(body or b"[]")
    except TooDeep as e:
        raise web.HTTPBadRequest(text=f"arguments rejected: {e}") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise web.HTTPBadRequest(text=f"request body is not JSON: {e}") from e
    reducer = request.match_info["reducer"]
    caller = caller_of(request)
    if database_ops.has_procedure(db, reducer):
        return await _call_procedure(db, reducer, args, caller.identity, caller.sender_auth())
    try:
        result = await database_ops.call_reducer(db, reducer, args, caller=caller.identity, auth=caller.sender_auth())
    except ConnectRejected as e:
        raise web.HTTPForbidden(text=str(e)) from e
    headers = {"spacetime-energy-used": "0", "spacetime-execution-duration-micros": str(max(0, now_us() - result.timestamp_us))}
    if result.committed:
        return web.Response(status=200, headers=headers)
    text = result.error or result.status.value
    return web.Response(status=_CALL_STATUS[result.status], text=text, headers=headers)


async def _call_procedure(db: DatabaseHandle, name: str, args: Any, identity: bytes, auth: AuthCtx | None) -> web.Response:
    """POST /call/:procedure: OnConnect, the procedure on a pool thread (its transactions on the
    worker), OnDisconnect; 200 with the SATS-JSON return value, as upstream."""
    try:
        out = await database_ops.call_procedure(db, name, args, caller=identity, auth=auth)
    except ConnectRejected as e:
        raise web.HTTPForbidden(text=str(e)) from e
    headers = {"spacetime-execution-duration-micros": str(out.duration_us)}
    if out.status is CallStatus.COMMITTED:
        return web.json_response(out.ret_json, headers=headers)
    status = {CallStatus.NO_SUCH_REDUCER: 404, CallStatus.BAD_ARGS: 400}.get(out.status, 500)
    return web.Response(status=status, text=out.error, headers=headers)


async def sql(request: web.Request) -> web.Response:
    db = serving_database_of(request)
    try:
        text = (await read_body(request)).decode()
    except UnicodeDecodeError as e:
        raise web.HTTPBadRequest(text="SQL must be UTF-8 text") from e
    caller = caller_of(request)

    confirmed = _flag_default(request, "confirmed", True)
    try:
        out = await database_ops.run_sql(db, text, caller=caller.identity, auth=caller.sender_auth(), confirmed=confirmed)
    except ConnectRejected as e:
        raise web.HTTPForbidden(text=str(e)) from e
    except QueryRejected as e:
        raise web.HTTPBadRequest(text=str(e)) from e
    except PermissionError as e:
        raise web.HTTPForbidden(text=str(e)) from e
    except database_ops.CommitRefused as e:  # rolled back: the commit log refused it
        raise web.HTTPServiceUnavailable(text=str(e)) from e
    return web.json_response(out)


# ---- snapshot ----------------------------------------------------------------------------------

#: How long a snapshot request waits for the file to be written.
SNAPSHOT_TIMEOUT_S = 120.0


async def snapshot(request: web.Request) -> web.Response:
    """Owner only: snapshot the database now; answers `{"tx_offset": N}` once the file is written."""
    db = serving_database_of(request)
    if not db.is_owner(caller_of(request).identity):
        raise web.HTTPForbidden(text="only the database owner can take a snapshot")
    try:
        offset = await database_ops.take_snapshot(db, SNAPSHOT_TIMEOUT_S)
    except NotImplementedError as e:
        raise web.HTTPBadRequest(text=str(e)) from e
    except TimeoutError as e:
        raise web.HTTPServiceUnavailable(text=f"{e}; ask again later") from e
    except database_ops.SnapshotFailed as e:
        raise web.HTTPInternalServerError(text=f"the snapshot could not be written: {e}") from e
    return web.json_response({"tx_offset": offset})


# ---- logs ------------------------------------------------------------------------------------


async def logs(request: web.Request) -> web.StreamResponse:
    db = database_of(request)
    if not db.is_owner(caller_of(request).identity):
        raise web.HTTPForbidden(text="only the database owner can read its logs")
    raw_lines = request.query.get("num_lines")
    try:
        num_lines = int(raw_lines) if raw_lines is not None else None
    except ValueError as e:
        raise web.HTTPBadRequest(text="num_lines must be an integer") from e
    follow = _flag(request, "follow")
    queue: asyncio.Queue[LogLine | None] = asyncio.Queue(maxsize=10_000)

    def listener(record: LogLine) -> None:
        if not queue.full():
            queue.put_nowait(record)

    records, unsubscribe = await database_ops.read_logs(db, num_lines, listener if follow else None)
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    try:
        await response.write(b"".join(_ndjson(r) for r in records))
        stopped = asyncio.ensure_future(db.stopped.wait())
        try:
            while unsubscribe is not None and not db.stopped.is_set():
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait((getter, stopped), return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                record = getter.result()
                if record is None:
                    break
                await response.write(_ndjson(record))
        finally:
            stopped.cancel()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        if unsubscribe is not None:
            unsubscribe()
    return response


def _ndjson(record: LogLine) -> bytes:
    return json.dumps(record.to_json(), separators=(",", ":")).encode() + b"\n"


def add_routes(app: web.Application) -> None:
    from spacetimedb.server.ws_routes import subscribe

    r = app.router
    r.add_post("/v1/database", publish)
    r.add_put("/v1/database/{name}", publish)
    r.add_post("/v1/database/{name}", publish)
    r.add_delete("/v1/database/{name}", delete_database)
    r.add_get("/v1/database/{name}", info)
    r.add_get("/v1/database/{name}/identity", identity)
    r.add_get("/v1/database/{name}/names", names)
    r.add_get("/v1/database/{name}/schema", schema)
    r.add_get("/v1/database/{name}/logs", logs)
    r.add_post("/v1/database/{name}/call/{reducer}", call_reducer)
    r.add_post("/v1/database/{name}/sql", sql)
    r.add_post("/v1/database/{name}/snapshot", snapshot)
    r.add_get("/v1/database/{name}/subscribe", subscribe)


