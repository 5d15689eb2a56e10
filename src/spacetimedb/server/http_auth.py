"""Credentials on HTTP requests, and CORS, as upstream's `anon_auth_middleware` and CorsLayer.

A token comes from `Authorization: Bearer <jwt>` (preferred) or `?token=<jwt>`. Database routes
mint an anonymous identity when none is given and answer with `spacetime-identity` and
`spacetime-identity-token` headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from spacetimedb.server.database import DatabaseOutOfService, DatabaseStopped
from spacetimedb.server.tokens import Caller, TokenAuthority, TokenRejected

CALLER_KEY: web.RequestKey[Caller] = web.RequestKey("caller", Caller)
AUTHORITY_KEY: web.AppKey[TokenAuthority] = web.AppKey("token_authority", TokenAuthority)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "*",
    "Access-Control-Allow-Headers": "authorization,accept,content-type",
}


def presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise web.HTTPBadRequest(text="malformed Authorization header: expected `Bearer <token>`")
        return token.strip()
    return request.query.get("token") or None


def optional_caller(request: web.Request) -> Caller | None:
    """The validated caller, None without credentials; 401 for a token we do not accept."""
    token = presented_token(request)
    if token is None:
        return None
    try:
        return request.app[AUTHORITY_KEY].validate(token)
    except TokenRejected as e:
        raise web.HTTPUnauthorized(text=str(e)) from e


def caller_of(request: web.Request) -> Caller:
    """The caller set by `anon_auth_middleware` (database routes)."""
    caller: Caller = request[CALLER_KEY]
    return caller


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return web.Response(status=200, headers=CORS_HEADERS)
    try:
        response = await handler(request)
    except web.HTTPException as e:
        e.headers.update(CORS_HEADERS)
        raise
    if not response.prepared:
        response.headers.update(CORS_HEADERS)
    return response


@web.middleware
async def anon_auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v1/database"):
        return await handler(request)
    caller = optional_caller(request) or request.app[AUTHORITY_KEY].mint_anonymous()
    request[CALLER_KEY] = caller
    headers = {"spacetime-identity": caller.identity_hex, "spacetime-identity-token": caller.token}
    try:
        response = await handler(request)
    except web.HTTPException as e:
        e.headers.update(headers)
        raise
    if not response.prepared:
        response.headers.update(headers)
    return response


@web.middleware
async def stopped_database_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request that raced a database's shutdown or republish: 503, try again. A database whose
    commit log failed: 503 with the reason (retrying does not help until the server restarts)."""
    try:
        return await handler(request)
    except DatabaseOutOfService as e:
        raise web.HTTPServiceUnavailable(text=str(e)) from e
    except DatabaseStopped as e:
        raise web.HTTPServiceUnavailable(text=f"{e}; retry shortly") from e
