"""Credentials on HTTP requests, and CORS, as upstream's `anon_auth_middleware` and CorsLayer.

A token comes from `Authorization: Bearer <jwt>` (preferred) or `?token=<jwt>`. Database routes
(`POST /v1/database` and every matched `/v1/database/:name/...` route, as upstream's
`anon_auth_middleware`) mint an anonymous identity when none is given and answer with
`spacetime-identity` and `spacetime-identity-token` headers; no other route mints one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from spacetimedb.control.errors import DatabaseOutOfService, DatabaseStopped
from spacetimedb.server.tokens import Caller, TokenAuthority, TokenRejected

CALLER_KEY: web.RequestKey[Caller] = web.RequestKey("caller", Caller)
#: True when the request presented no credentials and its caller was minted for it.
MINTED_KEY: web.RequestKey[bool] = web.RequestKey("caller_minted", bool)
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
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise web.HTTPBadRequest(text="malformed Authorization header: expected `Bearer <token>`")
        if not _is_token_text(token):  # e.g. non-ASCII bytes, which arrive as surrogate escapes
            raise web.HTTPBadRequest(text="Authorization is invalid: malformed token")
        return token
    return request.query.get("token") or None


def _is_token_text(token: str) -> bool:
    """Visible ASCII only, as a JWT (and HTTP's token68) is."""
    return token.isascii() and token.isprintable() and " " not in token


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


async def _with_headers(handler: Handler, request: web.Request, headers: Mapping[str, str]) -> web.StreamResponse:
    """`handler`'s answer with `headers` added, error answers too (a streamed response already
    sent its headers: it keeps them)."""
    try:
        response = await handler(request)
    except web.HTTPException as e:
        e.headers.update(headers)
        raise
    if not response.prepared:
        response.headers.update(headers)
    return response


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return web.Response(status=200, headers=CORS_HEADERS)
    return await _with_headers(handler, request, CORS_HEADERS)


#: A route whose resource name starts with this takes requests as sent: no token checked or minted.
UNAUTHENTICATED_ROUTE = "unauthenticated:"


def _unauthenticated(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    name = resource.name if resource is not None else None
    return name is not None and name.startswith(UNAUTHENTICATED_ROUTE)


@web.middleware
async def anon_auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Only routes that exist (unmatched paths and wrong methods answer 404/405 without minting),
    # and not a module's own HTTP routes: upstream leaves those unauthenticated so webhooks with
    # their own `Authorization` (or none) reach the module as sent.
    if (
        request.match_info.http_exception is not None
        or not (request.path == "/v1/database" or request.path.startswith("/v1/database/"))
        or _unauthenticated(request)
    ):
        return await handler(request)
    presented = optional_caller(request)
    caller = presented or request.app[AUTHORITY_KEY].mint_anonymous()
    request[CALLER_KEY] = caller
    request[MINTED_KEY] = presented is None
    headers = {"spacetime-identity": caller.identity_hex, "spacetime-identity-token": caller.token}
    return await _with_headers(handler, request, headers)


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
