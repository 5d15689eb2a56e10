"""`/v1/identity/...` and `/v1/ping` (crates/client-api/src/routes/identity.rs)."""

from __future__ import annotations

from aiohttp import web

from spacetimedb.control.database_registry import DatabaseRegistry
from spacetimedb.control.identity import parse_identity_hex
from spacetimedb.server.http_auth import AUTHORITY_KEY, optional_caller

REGISTRY_KEY: web.AppKey[DatabaseRegistry] = web.AppKey("registry", DatabaseRegistry)


async def create_identity(request: web.Request) -> web.Response:
    caller = request.app[AUTHORITY_KEY].mint_anonymous()
    return web.json_response({"identity": caller.identity_hex, "token": caller.token})


async def websocket_token(request: web.Request) -> web.Response:
    caller = optional_caller(request)
    if caller is None:
        raise web.HTTPUnauthorized(text="Authorization required")
    return web.json_response({"token": request.app[AUTHORITY_KEY].websocket_token(caller)})


async def public_key(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[AUTHORITY_KEY].public_key_pem,
        headers={"Content-Type": "application/pem-certificate-chain"},
    )


async def verify(request: web.Request) -> web.Response:
    caller = optional_caller(request)
    if caller is None:
        raise web.HTTPUnauthorized(text="Authorization required")
    wanted = parse_identity_hex(request.match_info["identity"])
    if wanted is None:
        raise web.HTTPBadRequest(text="not a 64-hex-digit identity")
    if wanted != caller.identity:
        raise web.HTTPBadRequest(text="token does not belong to this identity")
    return web.Response(status=204)


async def owned_databases(request: web.Request) -> web.Response:
    wanted = parse_identity_hex(request.match_info["identity"])
    if wanted is None:
        raise web.HTTPBadRequest(text="not a 64-hex-digit identity")
    registry = request.app[REGISTRY_KEY]
    owned = [db.info.identity.hex() for db in registry.databases.values() if db.info.owner == wanted]
    return web.json_response({"identities": owned})


async def ping(request: web.Request) -> web.Response:
    return web.Response(status=200)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/identity", create_identity)
    app.router.add_post("/v1/identity/websocket-token", websocket_token)
    app.router.add_get("/v1/identity/public-key", public_key)
    app.router.add_get("/v1/identity/{identity}/verify", verify)
    app.router.add_get("/v1/identity/{identity}/databases", owned_databases)
    app.router.add_get("/v1/ping", ping)
