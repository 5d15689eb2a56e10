"""`ANY /v1/database/:name/route/*path`: a module's own HTTP handlers (upstream 2.8's HTTP routes).

The handler runs on the database's worker thread, in order with its reducers (its `with_tx`
transactions commit there like reducer calls, and their changes reach subscribers); the front
only moves bytes. As upstream (`handle_http_route_impl` in client-api's routes/database.rs):
`/route` routes the path `""`, `/route/` the path `/`, `/route/a/b` the path `/a/b`; a request
no route matches (unknown path, or a method none of the path's routes takes) is 404
`Database has not registered a handler for this route`. Our limits: a request body over
MAX_ROUTE_REQUEST_BYTES is 413 before the module sees it; a response body over
MAX_ROUTE_RESPONSE_BYTES, a handler that raises, returns something else than a `Response`, or
runs past the reducer time limit is 500 with a fixed text (the traceback is in the database log).
"""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict

from spacetimedb.control import database_ops
from spacetimedb.module.http_handler import NO_SUCH_ROUTE, Request
from spacetimedb.server.http_auth import UNAUTHENTICATED_ROUTE
from spacetimedb.server.http_limits import read_body
from spacetimedb.server.routes_database import serving_database_of

#: Largest request body a module's HTTP handler is given.
MAX_ROUTE_REQUEST_BYTES = 4 * 1024 * 1024
#: Largest response body a module's HTTP handler may return.
MAX_ROUTE_RESPONSE_BYTES = 16 * 1024 * 1024


#: Set by aiohttp from the body it sends; a handler's own value would contradict it.
_HOP_BY_HOP = frozenset(
    {"connection", "content-length", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)


async def route(request: web.Request) -> web.StreamResponse:
    db = serving_database_of(request)
    tail = request.match_info.get("path")
    path = "" if tail is None else "/" + tail
    # Matched before the body is read, as upstream: a request no route takes reads nothing.
    if not await database_ops.has_http_route(db, request.method, path):
        return web.Response(status=404, text=NO_SUCH_ROUTE)
    length = request.content_length
    if length is not None and length > MAX_ROUTE_REQUEST_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_ROUTE_REQUEST_BYTES, actual_size=length)
    body = await read_body(request)
    if len(body) > MAX_ROUTE_REQUEST_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_ROUTE_REQUEST_BYTES, actual_size=len(body))
    req = Request(
        request.method,
        path,
        headers=list(request.headers.items()),
        body=body,
        query={k: v for k, v in request.query.items()},
        query_string=request.query_string,
        uri=str(request.url),
    )
    outcome = await database_ops.call_http_handler(db, req)  # answered once its transactions are durable
    if outcome is None:
        return web.Response(status=404, text=NO_SUCH_ROUTE)
    resp = outcome.response
    if resp is None:
        return web.Response(status=500, text="the database's HTTP handler failed; its log has the details")
    if not isinstance(resp.status, int) or not 200 <= resp.status <= 599:  # changed after it was built
        return web.Response(status=500, text=f"the database's HTTP handler returned the status {resp.status!r}")
    if not isinstance(resp.body, bytes):
        return web.Response(status=500, text="the database's HTTP handler returned a body that is not bytes")
    if len(resp.body) > MAX_ROUTE_RESPONSE_BYTES:
        return web.Response(
            status=500,
            text=f"the database's HTTP handler returned {len(resp.body)} bytes, more than the "
            f"{MAX_ROUTE_RESPONSE_BYTES} a response may have",
        )
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in resp.headers.items():
        if name.lower() in _HOP_BY_HOP:
            continue
        if not _header_ok(name, value):
            return web.Response(status=500, text=f"the database's HTTP handler returned an invalid header {name!r}")
        headers.add(name, value)
    return web.Response(status=resp.status, headers=headers, body=resp.body)


def _header_ok(name: str, value: str) -> bool:
    token_chars = "!#$%&'*+-.^_`|~"
    if not name or not all(c.isascii() and (c.isalnum() or c in token_chars) for c in name):
        return False
    return not any(c in value for c in "\r\n\0")


def add_routes(app: web.Application) -> None:
    r = app.router
    # Unauthenticated, as upstream: no SpacetimeDB token is checked or minted for these.
    r.add_route("*", "/v1/database/{name}/route", route, name=f"{UNAUTHENTICATED_ROUTE}module-route-root")
    r.add_route("*", "/v1/database/{name}/route/{path:.*}", route, name=f"{UNAUTHENTICATED_ROUTE}module-route")
