"""Bad client input: each gets a clear error or close, and nobody else is affected."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import pytest

from spacetimedb.protocol.wire import pack_str
from spacetimedb.server import ws_session
from spacetimedb.server.app import Server

from .harness import RawClient, backend_of, call, raw_ws_upgrade, run_scenario, subscribe


async def _expect_close(c: RawClient, code: int, needle: str) -> None:
    msg = await c.ws.receive(5)
    assert msg.type == aiohttp.WSMsgType.CLOSE, msg
    assert msg.data == code, (msg.data, msg.extra)
    assert needle in (msg.extra or ""), msg.extra


async def _healthy(s: aiohttp.ClientSession, base: str, bystander: RawClient) -> None:
    """The bystander still gets updates and the database still takes calls."""
    await bystander.send(call(99, "add", pack_str("still fine")))
    result = await bystander.next()
    assert "ok" in result
    async with s.post(f"{base}/v1/database/test/call/add", json=["http ok"]) as r:
        assert r.status == 200


@pytest.mark.parametrize(
    "payload,code,needle",
    [
        (b"\x07garbage", 1011, "unknown ClientMessage tag"),
        (b"\x03\x01\x00\x00\x00\x00" + pack_str("add"), 1011, "truncated"),
        ("a text frame", 1011, "text frames"),
    ],
)
def test_malformed_frames_close_only_that_client(tmp_path: Path, payload: bytes | str, code: int, needle: str) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            bystander = await RawClient.connect(s, base)
            await bystander.next()
            await bystander.send(subscribe(0, 0, "SELECT * FROM person"))
            await bystander.next()
            bad = await RawClient.connect(s, base)
            await bad.next()
            if isinstance(payload, str):
                await bad.ws.send_str(payload)
            else:
                await bad.ws.send_bytes(payload)
            await _expect_close(bad, code, needle)
            await _healthy(s, base, bystander)
            assert len(backend_of(server).rows["person"]) == 2

    run_scenario(tmp_path, scenario)


def test_oversized_message_closes_with_1009(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spacetimedb.server import ws_routes

    monkeypatch.setattr(ws_routes, "MAX_INCOMING_MESSAGE", 1024)

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            bystander = await RawClient.connect(s, base)
            await bystander.next()
            bad = await RawClient.connect(s, base)
            await bad.next()
            await bad.send(call(0, "add", pack_str("x" * 2000)))
            msg = await bad.ws.receive(5)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1009
            await _healthy(s, base, bystander)
            assert all(r[1] != "x" * 2000 for r in backend_of(server).rows["person"].values())

    run_scenario(tmp_path, scenario)


async def _raw_upgrade(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket handshake over a bare TCP stream that we then never read from."""
    reader, writer = await raw_ws_upgrade(port, recv_buffer=4096)
    # Subscribe (masked client frame), then never read again.
    payload = subscribe(0, 0, "SELECT * FROM person")
    mask = os.urandom(4)
    writer.write(bytes([0x82, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    await writer.drain()
    return reader, writer


def test_client_that_stops_reading_is_disconnected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws_session, "MAX_PENDING_SEND_BYTES", 256 * 1024)

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            bystander = await RawClient.connect(s, base)
            await bystander.next()
            _, writer = await _raw_upgrade(server.port or 0)
            db = server.registry.databases["test"]
            for _ in range(100):
                if len(db.subscriptions._sets) == 1:
                    break
                await asyncio.sleep(0.01)
            big = "y" * 20_000
            for i in range(300):  # bounded: at most ~6 MB of updates for the slow client
                async with s.post(f"{base}/v1/database/test/call/add", json=[f"{big}{i}"]) as r:
                    assert r.status == 200
                if len(db.subscribers) == 1:
                    break
            assert len(db.subscribers) == 1  # only the bystander is left
            await _healthy(s, base, bystander)
            writer.close()

    run_scenario(tmp_path, scenario)


def test_unknown_database_and_bad_params_do_not_upgrade(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await RawClient.connect(s, base, query="confirmed=maybe")
            await asyncio.sleep(0)

    run_scenario(tmp_path, scenario)


def test_flooding_client_is_closed_with_1013(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws_session, "MAX_QUEUED_INCOMING", 5)

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            bystander = await RawClient.connect(s, base)
            await bystander.next()
            flood = await RawClient.connect(s, base)
            await flood.next()
            await flood.send(*[call(i, "add", pack_str("f")) for i in range(3)])
            assert len(await flood.frame()) == 3  # under the limit: served
            await flood.send(*[call(i, "add", pack_str("f")) for i in range(10)])
            await _expect_close(flood, 1013, "too many requests")
            await _healthy(s, base, bystander)

    run_scenario(tmp_path, scenario)
