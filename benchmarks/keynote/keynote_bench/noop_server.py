"""The client's ceiling: a no-op server that answers every CallReducer with a canned ReducerResult.

It speaks just enough of the WebSocket protocol for the npm SDK's load generator (`stdb_loadgen.mjs`):
the upgrade of `/v1/database/NAME/subscribe` (v3 or v2, whichever the client offers first),
InitialConnection, then for each frame one ReducerResult Ok per CallReducer in it (v3: all in one
frame; v2: one frame each, written together). No database, no durability, no Python framework:
a raw asyncio protocol on uvloop, so what it costs per call (a few microseconds) stays far below
what the client spends, and the TPS the generator reaches against it is the generator's own ceiling
on this machine. Other messages (Subscribe, ...) are ignored, so the balance check cannot run.

Run: python -m keynote_bench.noop_server --port P
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import struct
import time

from spacetimedb.protocol import wire
from spacetimedb.protocol.client_frames import MalformedMessage, decode_client_frame
from spacetimedb.protocol.client_messages import CallReducer
from spacetimedb.protocol.subprotocols import SUBPROTOCOL_V2, SUBPROTOCOL_V3

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")
_NO_COMPRESSION = b"\x00"


def _frame(payload: bytes, opcode: int = 0x2) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 126)) + _U16.pack(n)
    else:
        head = bytes((0x80 | opcode, 127)) + _U64.pack(n)
    return head + payload


def _unmask(mask: bytes, data: bytes) -> bytes:
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


class NoopConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.v3 = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            self._handshake()
            if not self.upgraded:
                return
        out: list[bytes] = []
        buf = self.buf
        pos = 0
        while len(buf) - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if len(buf) - pos < 4:
                    break
                length = _U16.unpack_from(buf, pos + 2)[0]
                head = 4
            elif length == 127:
                if len(buf) - pos < 10:
                    break
                length = _U64.unpack_from(buf, pos + 2)[0]
                head = 10
            masked = b1 & 0x80
            end = pos + head + (4 if masked else 0) + length
            if end > len(buf):
                break
            payload = bytes(buf[end - length : end])
            if masked:
                payload = _unmask(bytes(buf[pos + head : pos + head + 4]), payload)
            pos = end
            self._on_frame(b0 & 0x0F, payload, out)
        del buf[:pos]
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def _on_frame(self, opcode: int, payload: bytes, out: list[bytes]) -> None:
        if opcode == 0x8:  # close: answer it and hang up
            out.append(_frame(payload[:2], 0x8))
            if self.transport is not None:
                self.transport.write(b"".join(out))
                out.clear()
                self.transport.close()
            return
        if opcode == 0x9:
            out.append(_frame(payload, 0xA))
            return
        if opcode != 0x2:
            return
        try:
            messages = decode_client_frame(payload, many=self.v3)
        except MalformedMessage:
            return
        now = time.time_ns() // 1000
        replies = [wire.reducer_ok(m.request_id, now, b"", ()) for m in messages if type(m) is CallReducer]
        if not replies:
            return
        if self.v3:
            out.append(_frame(_NO_COMPRESSION + b"".join(replies)))
        else:
            out.extend(_frame(_NO_COMPRESSION + r) for r in replies)

    def _handshake(self) -> None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        request = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        headers = {}
        for line in request[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        assert self.transport is not None
        key = headers.get("sec-websocket-key")
        if key is None:  # a plain HTTP request (a readiness probe)
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            self.transport.close()
            return
        offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
        chosen = next((p for p in offered if p in (SUBPROTOCOL_V3, SUBPROTOCOL_V2)), SUBPROTOCOL_V3)
        self.v3 = chosen == SUBPROTOCOL_V3
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        self.transport.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {chosen}\r\n\r\n"
            ).encode()
        )
        self.upgraded = True
        hello = wire.initial_connection(os.urandom(32), int.from_bytes(os.urandom(16), "little"), "noop-token")
        self.transport.write(_frame(_NO_COMPRESSION + hello))


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(NoopConnection, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    opts = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(opts.port))
    else:
        uvloop.run(serve(opts.port))


if __name__ == "__main__":
    main()
