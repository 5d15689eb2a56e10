"""Run a Server in-process on a free 127.0.0.1 port for one async scenario."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from spacetimedb.protocol.wire import pack_bytes, pack_str
from spacetimedb.server.app import Server

from .fake_backend import FakeBackend, fake_factory
from .server_messages import decode_frame

T = TypeVar("T")
MODULE_SOURCE = "# a stand-in module file; the fake backend ignores it\n"


def run_scenario(
    tmp_path: Path,
    scenario: Callable[[Server, str], Awaitable[T]],
    *,
    factory: Callable[..., Any] = fake_factory,
    publish: str | None = "test",
    **server_kw: Any,
) -> T:
    async def main() -> T:
        server = Server(tmp_path / "data", backend_factory=factory, **server_kw)
        port = await server.start()
        try:
            if publish:
                module = tmp_path / "module.py"
                module.write_text(MODULE_SOURCE)
                await server.publish_path(publish, module)
            return await asyncio.wait_for(scenario(server, f"http://127.0.0.1:{port}"), 60)
        finally:
            await server.stop()

    return asyncio.run(main())


def backend_of(server: Server, name: str = "test") -> FakeBackend:
    backend = server.registry.databases[name].backend
    assert isinstance(backend, FakeBackend)
    return backend


# ---- raw client messages ---------------------------------------------------------------------


def subscribe(request_id: int, qs: int, *queries: str) -> bytes:
    return b"\x00" + struct.pack("<II", request_id, qs) + struct.pack("<I", len(queries)) + b"".join(pack_str(q) for q in queries)


def unsubscribe(request_id: int, qs: int, send_rows: bool = True) -> bytes:
    return b"\x01" + struct.pack("<II", request_id, qs) + (b"\x01" if send_rows else b"\x00")


def one_off(request_id: int, query: str) -> bytes:
    return b"\x02" + struct.pack("<I", request_id) + pack_str(query)


def call(request_id: int, reducer: str, args: bytes) -> bytes:
    return b"\x03" + struct.pack("<I", request_id) + b"\x00" + pack_str(reducer) + pack_bytes(args)


class RawClient:
    """A bare aiohttp WebSocket client that decodes every server frame."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    @classmethod
    async def connect(
        cls, session: aiohttp.ClientSession, base: str, *, db: str = "test", protocols: tuple[str, ...] = ("v3.bsatn.spacetimedb", "v2.bsatn.spacetimedb"), query: str = "compression=None", **kw: Any
    ) -> RawClient:
        url = base.replace("http", "ws", 1) + f"/v1/database/{db}/subscribe?{query}"
        return cls(await session.ws_connect(url, protocols=protocols, **kw))

    async def send(self, *messages: bytes) -> None:
        await self.ws.send_bytes(b"".join(messages))

    async def frame(self, timeout: float = 10) -> list[dict[str, Any]]:
        msg = await self.ws.receive(timeout)
        assert msg.type == aiohttp.WSMsgType.BINARY, (msg.type, msg.data, msg.extra)
        return decode_frame(msg.data)

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        frame = await self.frame(timeout)
        assert len(frame) == 1, frame
        return frame[0]


async def raw_ws_upgrade(
    port: int, *, db: str = "test", recv_buffer: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A v2 WebSocket handshake over a bare TCP stream (frames are then the caller's to write and
    read), optionally with a small receive buffer for a client that stops reading."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if recv_buffer is not None:
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /v1/database/{db}/subscribe?compression=None HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: v2.bsatn.spacetimedb\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert b" 101 " in head.split(b"\r\n")[0]
    return reader, writer
