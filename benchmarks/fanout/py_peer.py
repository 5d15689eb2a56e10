"""The fan-out benchmark's Python floor: a bare aiohttp (uvloop) broadcaster, the least a Python
WebSocket server does per subscriber. Every message a client sends is framed once and the same
bytes are written to every other client's transport (one `write` each); no storage, no encoding.

    python benchmarks/fanout/py_peer.py PORT
"""

from __future__ import annotations

import struct
import sys

from aiohttp import WSMsgType, web

_clients: set[web.WebSocketResponse] = set()


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes([0x80 | opcode, n]) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


async def handle(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False, max_msg_size=1 << 20)
    await ws.prepare(request)
    _clients.add(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                frame = _frame(0x1, msg.data.encode())
            elif msg.type == WSMsgType.BINARY:
                frame = _frame(0x2, msg.data)
            else:
                continue
            for client in _clients:
                transport = client._req.transport if client._req is not None else None
                if client is not ws and transport is not None and not transport.is_closing():
                    transport.write(frame)
    finally:
        _clients.discard(ws)
    return ws


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 3002
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a server dependency
        pass
    app = web.Application()
    app.router.add_get("/", handle)
    print(f"listening on 127.0.0.1:{port}", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
