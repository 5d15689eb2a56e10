"""Issue 10, finding 6: memory held for clients that never read.

Real non-reading clients: raw sockets that complete the WebSocket handshake, subscribe, then never
read, with small socket buffers on both ends so the kernel holds almost nothing and the backlog
sits in the server. A small budget set by the test must hold (the server's accounting never passes
it), the clients with the largest backlog are closed with 1013 and a reason they can read, and a
client that reads keeps being served throughout.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from pathlib import Path

import aiohttp
import pytest

from spacetimedb.protocol.wire import pack_str
from spacetimedb.server import ws_session
from spacetimedb.server.app import Server
from spacetimedb.server.send_budget import SendBudget, default_send_budget
from spacetimedb.server.ws_routes import SESSIONS_KEY
from spacetimedb.server.ws_session import ClientSession

from .harness import RawClient, call, raw_ws_upgrade, run_scenario, subscribe

ROW = 50_000
ROWS = 40  # a 2 MB table
BUDGET = 5 * 1024 * 1024
NON_READERS = 6


def _mask(payload: bytes) -> bytes:
    mask = os.urandom(4)
    head = bytes([0x82, 0x80 | len(payload)]) if len(payload) < 126 else bytes([0x82, 0x80 | 126]) + struct.pack("!H", len(payload))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def _non_reader(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, ClientSession]:
    """Handshake, shrink both sockets' buffers, subscribe to everything, then read nothing more."""
    before = set(server.app[SESSIONS_KEY])
    reader, writer = await raw_ws_upgrade(server.port or 0, recv_buffer=4096)
    for _ in range(200):
        new = set(server.app[SESSIONS_KEY]) - before
        if new:
            break
        await asyncio.sleep(0.01)
    [session] = new
    session.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    writer.write(_mask(subscribe(0, 0, "SELECT * FROM person")))
    await writer.drain()
    return reader, writer, session


async def _close_frame(reader: asyncio.StreamReader) -> tuple[int, str]:
    """Read server frames (data and fragments alike) up to the close frame."""
    while True:
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await reader.readexactly(8))
        payload = await reader.readexactly(n)
        if b0 & 0x0F == 0x8:
            return struct.unpack("!H", payload[:2])[0], payload[2:].decode()


async def _reply(client: RawClient, request_id: int) -> None:
    """Read frames until the reply to `request_id` (other updates may come first)."""
    for _ in range(50):
        for msg in await client.frame():
            if msg.get("request_id") == request_id and "ok" in msg:
                return
    pytest.fail(f"no reply to request {request_id}")


def _exact(server: Server) -> int:
    return sum(s.backlog() for s in server.app[SESSIONS_KEY])


def test_budget_closes_largest_backlogs_and_keeps_serving_a_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws_session, "CLOSE_GRACE_SECONDS", 60.0)  # time to read the close frame on a slow machine
    async def scenario(server: Server, base: str) -> None:
        budget = server.send_budget
        assert budget.limit == BUDGET
        async with aiohttp.ClientSession() as s:
            for i in range(ROWS):
                async with s.post(f"{base}/v1/database/test/call/add", json=[f"{i:04}" + "r" * ROW]) as r:
                    assert r.status == 200
            reader_client = await RawClient.connect(s, base, protocols=("v2.bsatn.spacetimedb",))
            await reader_client.next()
            await reader_client.send(subscribe(1, 1, "SELECT * FROM person"))
            applied = await reader_client.next()
            assert len(applied["tables"][0]["rows"]) == ROWS

            slow = []
            for n in range(NON_READERS):
                slow.append(await _non_reader(server))
                for _ in range(100):  # its SubscribeApplied (2 MB) is queued, or it was closed
                    sess = slow[-1][2]
                    if sess._evicted or sess.backlog() > ROW * ROWS // 2:
                        break
                    await asyncio.sleep(0.02)
                assert budget.peak <= BUDGET and _exact(server) <= BUDGET, (n, budget.peak, _exact(server))
                # The reader is served all along: calls answered, updates delivered.
                await reader_client.send(call(100 + n, "add", pack_str(f"live {n}")))
                await _reply(reader_client, 100 + n)
            assert budget.evictions >= NON_READERS - BUDGET // (ROW * ROWS)
            evicted = [(r, w, sess) for r, w, sess in slow if sess._evicted]
            assert evicted
            # An evicted client that reads now finds the code and the reason after the data it had.
            code, reason = await asyncio.wait_for(_close_frame(evicted[0][0]), 10)
            assert code == 1013 and "send budget exceeded" in reason, (code, reason)
            assert budget.peak <= BUDGET
            # The reader was never closed and still works.
            await reader_client.send(call(200, "add", pack_str("after")))
            await _reply(reader_client, 200)
            for _, w, _ in slow:
                w.close()

    run_scenario(tmp_path, scenario, send_budget=BUDGET)


def test_per_client_cap_counts_the_transport_buffer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One 2 MB message to a client that does not read: before, it went into the transport's buffer
    and stopped counting; now it counts, and past the per-client cap the client is closed (1008)."""
    monkeypatch.setattr(ws_session, "MAX_PENDING_SEND_BYTES", 1024 * 1024)
    monkeypatch.setattr(ws_session, "CLOSE_GRACE_SECONDS", 60.0)

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            for i in range(ROWS):
                async with s.post(f"{base}/v1/database/test/call/add", json=[f"{i:04}" + "r" * ROW]) as r:
                    assert r.status == 200
            reader, writer, session = await _non_reader(server)
            code, reason = await asyncio.wait_for(_close_frame(reader), 10)
            assert code == 1008 and "send queue full" in reason, (code, reason)
            assert session._evicted and server.send_budget.evictions == 0
            writer.close()

    run_scenario(tmp_path, scenario)


def test_closed_client_that_never_reads_is_dropped_after_the_grace_period(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws_session, "MAX_PENDING_SEND_BYTES", 1024 * 1024)
    monkeypatch.setattr(ws_session, "CLOSE_GRACE_SECONDS", 0.3)

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            for i in range(ROWS):
                async with s.post(f"{base}/v1/database/test/call/add", json=[f"{i:04}" + "r" * ROW]) as r:
                    assert r.status == 200
            _, writer, session = await _non_reader(server)
            for _ in range(500):
                if session not in server.app[SESSIONS_KEY]:
                    break
                await asyncio.sleep(0.02)
            assert session._evicted and session not in server.app[SESSIONS_KEY]
            assert server.send_budget.total == 0 and not server.registry.databases["test"].subscribers
            writer.close()

    run_scenario(tmp_path, scenario)


def test_default_budget_is_sized_from_memory() -> None:
    assert 128 * 1024 * 1024 <= default_send_budget() <= 1024 * 1024 * 1024
    with pytest.raises(ValueError):
        SendBudget(0)


def test_send_budget_flag_sizes() -> None:
    from spacetimedb.cli.commands_local import parse_size

    assert parse_size("512M") == parse_size("512MiB") == 512 * 1024 * 1024
    assert parse_size("2G") == 2 * 1024**3 and parse_size("4096") == 4096
    for bad in ("", "0", "-1G", "lots", "1.5G"):
        with pytest.raises(ValueError):
            parse_size(bad)
