"""The WebSocket receive path alone: event-loop CPU per client message, aiohttp's queue and
`receive()` (what `ClientSession` used before) against `server/ws_receive.py` (binary messages
handed from aiohttp's parser to a callback inside `data_received`).

One process runs the aiohttp server (uvloop) with both handlers; a client process sends `--messages`
v2 CallReducer frames, either all at once (`burst`: many frames per socket read, as pipelined
clients send) or one at a time waiting for a 2-byte reply to each (`pingpong`: one frame per read,
as 16 x 1 in flight). The server decodes each message (`decode_client_frame`) and, in pingpong,
writes the reply; the figure is the event-loop thread's CPU time (`time.thread_time`) from the
first message to the last, per message, so other load on the machine changes it little. The two
paths alternate `--rounds` times.

    python benchmarks/ws_receive.py [--messages 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import statistics
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from aiohttp import WSMsgType, web  # noqa: E402

from spacetimedb.protocol.client_frames import decode_client_frame  # noqa: E402
from spacetimedb.server.ws_receive import SessionWebSocket  # noqa: E402

REPLY = b"\x82\x02ok"


def _call_message(i: int) -> bytes:
    name = b"transfer"
    args = struct.pack("<III", i, i + 1, 1)
    return b"\x03" + struct.pack("<I", i) + b"\x00" + struct.pack("<I", len(name)) + name + struct.pack("<I", len(args)) + args


def _masked(payload: bytes) -> bytes:
    mask = os.urandom(4)
    return bytes([0x82, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


# ---- the client (a separate process) -----------------------------------------------------------


def client(port: int, path: str, mode: str, messages: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    frames = [_masked(_call_message(i)) for i in range(messages)]
    if mode == "burst":
        sock.sendall(b"".join(frames))
        sock.recv(16)  # the server's reply once it has them all
    else:
        for frame in frames:
            sock.sendall(frame)
            got = 0
            while got < len(REPLY):
                got += len(sock.recv(len(REPLY) - got))
    sock.close()


# ---- the server --------------------------------------------------------------------------------


class Meter:
    def __init__(self) -> None:
        self.expected = 0
        self.count = 0
        self.start = 0.0
        self.cpu = 0.0
        self.pingpong = False
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] | None = None

    def on_message(self, data: bytes) -> None:
        decode_client_frame(data, many=False)
        if self.count == 0:
            self.start = time.thread_time()
        self.count += 1
        transport = self.transport
        assert transport is not None
        if self.pingpong:
            transport.write(REPLY)
        if self.count == self.expected:
            self.cpu = time.thread_time() - self.start
            if not self.pingpong:
                transport.write(REPLY)
            assert self.done is not None
            self.done.set_result(None)


METER = Meter()


async def old_path(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=32 << 20, heartbeat=15.0, compress=False)
    await ws.prepare(request)
    METER.transport = request.transport  # type: ignore[assignment]
    async for msg in ws:
        if msg.type == WSMsgType.BINARY:
            METER.on_message(msg.data)
    return ws


async def new_path(request: web.Request) -> web.WebSocketResponse:
    ws = SessionWebSocket(max_msg_size=32 << 20, heartbeat=15.0, compress=False)
    await ws.prepare(request)
    METER.transport = request.transport  # type: ignore[assignment]
    ws.attach(METER.on_message)
    async for msg in ws:  # control frames, and what came before `attach`
        if msg.type == WSMsgType.BINARY:
            METER.on_message(msg.data)
    return ws


async def run(args: argparse.Namespace) -> None:
    app = web.Application()
    app.router.add_get("/old", old_path)
    app.router.add_get("/new", new_path)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for mode in ("burst", "pingpong"):
            for path in ("old", "new"):
                METER.__init__()  # type: ignore[misc]
                METER.expected, METER.pingpong = args.messages, mode == "pingpong"
                METER.done = asyncio.get_running_loop().create_future()
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--client", str(port), path, mode, str(args.messages)
                )
                await asyncio.wait_for(METER.done, 120)
                await proc.wait()
                results.setdefault((mode, path), []).append(1e6 * METER.cpu / args.messages)
    await runner.cleanup()
    print(f"event-loop CPU per message, us ({args.messages} messages, {args.rounds} rounds, median [range]); "
          f"load {os.getloadavg()[0]:.2f}")
    for mode in ("burst", "pingpong"):
        old, new = results[(mode, "old")], results[(mode, "new")]
        print(f"  {mode:9s} aiohttp queue + receive(): {statistics.median(old):6.2f} [{min(old):.2f}-{max(old):.2f}]   "
              f"ws_receive: {statistics.median(new):6.2f} [{min(new):.2f}-{max(new):.2f}]   "
              f"new/old {statistics.median(new) / statistics.median(old):.2f}x")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
