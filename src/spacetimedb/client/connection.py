"""A small message-level asyncio client for the v2/v3 protocol: what `spacetimedb subscribe` and tests use
(no cache or callbacks: `DbConnection` is the SDK).

It speaks the same protocol as the official SDKs: `InitialConnection` first, then Subscribe,
CallReducer and OneOffQuery with request ids; server frames carry a compression tag byte, and on
v3 one frame may hold several messages.
"""

from __future__ import annotations

import urllib.parse
from collections import deque

import aiohttp

from spacetimedb import protocol
from spacetimedb.client.errors import ClientError
from spacetimedb.protocol import (
    CallProcedure,
    CallReducer,
    ClientMessage,
    InitialConnection,
    OneOffQuery,
    QuerySetId,
    ServerMessage,
    Subscribe,
)
from spacetimedb.protocol.subprotocols import SUBPROTOCOL_V3, SUBPROTOCOLS
from spacetimedb.sats.errors import ConversionError
from spacetimedb.sats.special import ConnectionId, Identity

__all__ = ["ClientError", "Connection", "read_server_frame"]


def read_server_frame(frame: bytes) -> list[ServerMessage]:
    """The server messages in one binary frame: the compression tag stripped, then one (v2) or more (v3)."""
    try:
        return protocol.decode_server_frame(protocol.decompress_frame(frame))
    except ConversionError as e:
        raise ClientError(f"bad server frame: {e}") from e


class Connection:
    identity: Identity
    connection_id: ConnectionId
    token: str

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Use `await Connection.connect(...)`, which also reads `InitialConnection`."""
        self._session = session
        self._ws = ws
        self.protocol = ws.protocol
        self._pending: deque[ServerMessage] = deque()
        self._next_request = 0
        self._next_query_set = 0

    @classmethod
    async def connect(
        cls,
        base_url: str,
        database: str,
        *,
        token: str | None = None,
        protocols: tuple[str, ...] = SUBPROTOCOLS,
        compression: str = "None",
        confirmed: bool | None = None,
        timeout: float = 10.0,
    ) -> Connection:
        """Open `/v1/database/<db>/subscribe` and wait for `InitialConnection`."""
        ws_base = base_url.replace("https://", "wss://").replace("http://", "ws://").rstrip("/")
        query = {"compression": compression}
        if confirmed is not None:
            query["confirmed"] = "true" if confirmed else "false"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"{ws_base}/v1/database/{urllib.parse.quote(database, safe='')}/subscribe?{urllib.parse.urlencode(query)}"
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout))
        try:
            ws = await session.ws_connect(
                url, protocols=protocols, headers=headers, max_msg_size=0, heartbeat=None
            )
        except aiohttp.WSServerHandshakeError as e:
            await session.close()
            raise ClientError(f"the server refused the WebSocket ({e.status}): {e.message}") from None
        except aiohttp.ClientError as e:
            await session.close()
            raise ClientError(f"cannot connect to {ws_base}: {e}") from None
        conn = cls(session, ws)
        try:
            first = await conn.recv(timeout)
        except BaseException:
            await conn.close()
            raise
        if not isinstance(first, InitialConnection):
            await conn.close()
            raise ClientError(f"expected InitialConnection first, got {type(first).__name__}")
        conn.identity, conn.connection_id, conn.token = first.identity, first.connection_id, first.token
        return conn

    async def recv(self, timeout: float | None = None) -> ServerMessage:
        """The next server message (frames holding several are queued)."""
        while not self._pending:
            msg = await self._ws.receive(timeout=timeout)
            if msg.type == aiohttp.WSMsgType.BINARY:
                self._pending.extend(read_server_frame(msg.data))
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                code = self._ws.close_code
                raise ClientError(
                    f"the server closed the connection (code {code}: {msg.extra or ''})".strip()
                )
            elif msg.type == aiohttp.WSMsgType.ERROR:
                raise ClientError(f"connection error: {self._ws.exception()}")
            else:
                raise ClientError(f"unexpected {msg.type.name} frame from the server")
        return self._pending.popleft()

    async def send(self, *messages: ClientMessage) -> None:
        """Send messages; on v3 several go in one frame, as the SDK coalesces them."""
        encode = protocol.client_message_codec().encode
        if self.protocol == SUBPROTOCOL_V3:
            await self._ws.send_bytes(b"".join(encode(m) for m in messages))
        else:
            for m in messages:
                await self._ws.send_bytes(encode(m))

    def _request_id(self) -> int:
        rid = self._next_request
        self._next_request += 1
        return rid

    async def subscribe(self, queries: list[str]) -> tuple[int, int]:
        """Send Subscribe; returns (request_id, query_set_id). Read the answer with `recv`."""
        qs = self._next_query_set
        self._next_query_set += 1
        rid = self._request_id()
        await self.send(Subscribe(rid, QuerySetId(qs), queries))
        return rid, qs

    async def call_reducer(self, reducer: str, args: bytes) -> int:
        rid = self._request_id()
        await self.send(CallReducer(rid, 0, reducer, args))
        return rid

    async def call_procedure(self, procedure: str, args: bytes) -> int:
        """Send CallProcedure; its ProcedureResult (same request id) carries the BSATN return value."""
        rid = self._request_id()
        await self.send(CallProcedure(rid, 0, procedure, args))
        return rid

    async def one_off_query(self, query: str) -> int:
        rid = self._request_id()
        await self.send(OneOffQuery(rid, query))
        return rid

    async def close(self) -> None:
        try:
            await self._ws.close()
        finally:
            await self._session.close()
