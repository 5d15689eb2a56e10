"""`GET /v1/database/:name/subscribe`: the WebSocket handshake (routes/subscribe.rs)."""

from __future__ import annotations

from aiohttp import web

from spacetimedb.control.identity import new_connection_id
from spacetimedb.protocol.compression import Compression
from spacetimedb.protocol.subprotocols import SUBPROTOCOL_V3, SUBPROTOCOLS
from spacetimedb.server.http_auth import caller_of
from spacetimedb.server.routes_database import serving_database_of
from spacetimedb.server.send_budget import SendBudget
from spacetimedb.server.ws_receive import SessionWebSocket
from spacetimedb.server.ws_session import ClientSession

#: Incoming message limit, as upstream (0x2000000 bytes).
MAX_INCOMING_MESSAGE = 32 * 1024 * 1024
HEARTBEAT_SECONDS = 15.0

#: Server setting: the subprotocols offered, most preferred first (a test flag forces v2).
PROTOCOLS_KEY: web.AppKey[tuple[str, ...]] = web.AppKey("ws_protocols", tuple)
#: Server setting (`--compress-frames`): compress frames as the client asks. Off by default: the npm
#: SDK (2.10.1) applies frames in the order their asynchronous decompression finishes, which can put
#: an older update after a newer one (upstream #5730); uncompressed frames are applied in arrival
#: order by every SDK, and every SDK accepts them whatever it asked for.
COMPRESS_FRAMES_KEY: web.AppKey[bool] = web.AppKey("ws_compress_frames", bool)
#: The server-wide budget for bytes queued to clients (`--send-budget`).
SEND_BUDGET_KEY: web.AppKey[SendBudget] = web.AppKey("ws_send_budget", SendBudget)


def choose_protocol(header: str, supported: tuple[str, ...]) -> str | None:
    offered = {p.strip() for p in header.split(",") if p.strip()}
    return next((p for p in supported if p in offered), None)


def _bool_param(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    if value not in ("true", "false"):
        raise web.HTTPBadRequest(text=f"query parameter {name} must be true or false")
    return value == "true"


async def subscribe(request: web.Request) -> web.StreamResponse:
    db = serving_database_of(request)
    caller = caller_of(request)
    supported = request.app.get(PROTOCOLS_KEY, SUBPROTOCOLS)
    protocol = choose_protocol(request.headers.get("Sec-WebSocket-Protocol", ""), supported)
    if protocol is None:
        raise web.HTTPBadRequest(text="no valid protocol selected: offer " + " or ".join(SUBPROTOCOLS))
    try:
        compression = Compression.from_query(request.query.get("compression"))
    except ValueError as e:
        raise web.HTTPBadRequest(text=str(e)) from e
    if not request.app.get(COMPRESS_FRAMES_KEY, False):
        compression = Compression.NONE
    confirmed = _bool_param(request, "confirmed", True)
    _bool_param(request, "light", False)  # v1 only: accepted and ignored
    connection_id = new_connection_id()
    if "connection_id" in request.query:
        try:
            connection_id = int(request.query["connection_id"], 16)
        except ValueError as e:
            raise web.HTTPBadRequest(text="connection_id must be 32 hex digits") from e
        if connection_id == 0 or connection_id >= 1 << 128:
            raise web.HTTPBadRequest(text="connection_id must be a nonzero 128-bit hex value")
    ws = SessionWebSocket(
        protocols=(protocol,),
        max_msg_size=MAX_INCOMING_MESSAGE,
        heartbeat=HEARTBEAT_SECONDS,
        compress=False,
    )
    ws.headers.update({"spacetime-identity": caller.identity_hex, "spacetime-identity-token": caller.token})
    await ws.prepare(request)
    transport = request.transport
    session = ClientSession(
        ws,
        db,
        caller,
        connection_id,
        v3=protocol == SUBPROTOCOL_V3,
        compression=compression,
        confirmed=confirmed,
        abort=transport.abort if transport is not None else None,
        transport=transport,
        protocol=request.protocol,
        budget=request.app.get(SEND_BUDGET_KEY),
    )
    request.app[SESSIONS_KEY].add(session)
    try:
        await session.serve()
    finally:
        request.app[SESSIONS_KEY].discard(session)
    return ws


SESSIONS_KEY: web.AppKey[set[ClientSession]] = web.AppKey("ws_sessions")
