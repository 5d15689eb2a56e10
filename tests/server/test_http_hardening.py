"""Hostile HTTP input: bad bytes in credentials, absurdly nested bodies, clients that never finish a
request, and anonymous requests that must not mint identities where upstream does not."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from spacetimedb.server.app import HttpLimits, Server

from .harness import run_scenario

NON_ASCII_AUTH = b"Authorization: Bearer \xc3\xa9\xff\xfe.abc.def\r\n"


async def _raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send one request as raw bytes (aiohttp's client refuses to send non-ASCII headers)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + b"\r\n" + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        rest = await asyncio.wait_for(reader.read(65536), 10)
        return int(status_line.split()[1]), rest
    finally:
        writer.close()


@pytest.mark.parametrize(
    "request_line,extra",
    [
        (b"POST /v1/database/test/sql HTTP/1.1\r\n", b"Content-Length: 8\r\n"),
        (b"POST /v1/identity/websocket-token HTTP/1.1\r\n", b"Content-Length: 0\r\n"),
        (
            b"GET /v1/database/test/subscribe HTTP/1.1\r\n",
            b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v3.bsatn.spacetimedb\r\n",
        ),
        (b"POST /v1/database/test/call/add HTTP/1.1\r\n", b"Content-Type: application/json\r\nContent-Length: 2\r\n"),
        (b"GET /v1/identity/" + b"c2" * 32 + b"/verify HTTP/1.1\r\n", b""),
        (b"PUT /v1/database/other HTTP/1.1\r\n", b"Content-Length: 1\r\n"),
    ],
)
def test_non_ascii_bearer_token_is_a_client_error(tmp_path: Path, request_line: bytes, extra: bytes) -> None:
    async def scenario(server: Server, base: str) -> None:
        assert server.port is not None
        body = b"SELECT 1" if b"sql" in request_line else b"[]" if b"call" in request_line else b"x" if b"PUT" in request_line else b""
        status, rest = await _raw_request(server.port, request_line + b"Host: x\r\n" + extra + NON_ASCII_AUTH, body)
        assert status in (400, 401), (status, rest)
        # the server is fine afterwards
        async with aiohttp.ClientSession() as s, s.get(f"{base}/v1/ping") as r:
            assert r.status == 200

    run_scenario(tmp_path, scenario)


def test_non_ascii_query_token_is_401(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/v1/database/test/sql?token=%C3%A9%FF.a.b", data=b"SELECT 1") as r:
                assert r.status == 401, await r.text()

    run_scenario(tmp_path, scenario)


@pytest.mark.parametrize("depth", [100_000, 5_000, 200])
def test_deeply_nested_call_body_is_400(tmp_path: Path, depth: int) -> None:
    async def scenario(server: Server, base: str) -> None:
        body = "[" * depth + "]" * depth
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/v1/database/test/call/add", data=body, headers={"Content-Type": "application/json"}) as r:
                assert r.status == 400, (r.status, await r.text())
                assert "nested" in await r.text()
            async with s.post(f"{base}/v1/database/test/call/add", json=[[["fine"]]]) as r:
                assert r.status in (200, 400, 530)  # whatever the fake backend says; not a 500

    run_scenario(tmp_path, scenario)


def test_wide_but_shallow_call_body_is_accepted(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/v1/database/test/call/add", json=[[[i] for i in range(5000)]]) as r:
                assert r.status != 400 or "nested" not in await r.text()

    run_scenario(tmp_path, scenario)


async def _closed_within(port: int, sent: bytes, limit: float) -> float:
    """Send `sent` and then nothing; return how long the server took to close the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    try:
        writer.write(sent)
        await writer.drain()
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), limit)
            if not chunk:
                return time.monotonic() - start
    finally:
        writer.close()


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects, sends nothing
        b"GET /v1/ping HTTP/1.1\r\nHost: x\r\n",  # headers never finished
        b"POST /v1/database/test/sql HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nSELECT",  # body never finished
        b"POST /v1/database/test/call/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[",
        b"PUT /v1/database/test HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx = 1",
        b"POST /v1/database/test/sql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nSELEC",
    ],
)
def test_slow_clients_are_closed(tmp_path: Path, sent: bytes) -> None:
    async def scenario(server: Server, base: str) -> None:
        assert server.port is not None
        # Generous bound: the limit is 1 s; the server must close well before "forever".
        await _closed_within(server.port, sent, 20)
        async with aiohttp.ClientSession() as s, s.get(f"{base}/v1/ping") as r:
            assert r.status == 200

    run_scenario(tmp_path, scenario, http_limits=HttpLimits(header_timeout_s=1.0, body_timeout_s=1.0))


def test_a_slow_body_gets_408_before_the_close(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        assert server.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(b"POST /v1/database/test/sql HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nSEL")
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 20)
            assert b" 408 " in status_line, status_line
        finally:
            writer.close()

    run_scenario(tmp_path, scenario, http_limits=HttpLimits(header_timeout_s=1.0, body_timeout_s=1.0))


def test_keep_alive_between_requests_still_works(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            for _ in range(3):
                async with s.get(f"{base}/v1/ping") as r:
                    assert r.status == 200

    run_scenario(tmp_path, scenario, http_limits=HttpLimits(header_timeout_s=5.0, body_timeout_s=5.0))


# ---- anonymous identities are minted only where upstream mints them ---------------------------------


@pytest.mark.parametrize(
    "method,path,mints",
    [
        # upstream's anon_auth_middleware wraps `POST /v1/database` and every matched `/v1/database/:name/...`
        # route (crates/client-api/src/routes/database.rs, into_router), GETs included
        ("GET", "/v1/database/test", True),
        ("GET", "/v1/database/test/identity", True),
        ("GET", "/v1/database/test/names", True),
        ("GET", "/v1/database/test/schema?version=9", True),
        ("GET", "/v1/database/test/logs", True),
        ("POST", "/v1/database/test/call/add", True),
        ("GET", "/v1/database/nope", True),  # matched route, unknown database: 404, as upstream (auth runs first)
        # ... and nothing else: unmatched routes, wrong methods and the identity/ping routes
        ("GET", "/v1/database", False),
        ("GET", "/v1/databases", False),
        ("GET", "/v1/database/test/nothing/here", False),
        ("GET", "/v1/database/test/call/add", False),
        ("PATCH", "/v1/database/test", False),
        ("GET", "/v1/ping", False),
        ("GET", "/v1/identity/public-key", False),
        ("GET", "/v1/identity/" + "c2" * 32 + "/databases", False),
        ("GET", "/nowhere", False),
    ],
)
def test_anonymous_identity_minted_only_where_upstream_does(tmp_path: Path, method: str, path: str, mints: bool) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            async with s.request(method, f"{base}{path}", json=["x"] if method == "POST" else None) as r:
                assert ("spacetime-identity-token" in r.headers) == mints, (r.status, dict(r.headers))

    run_scenario(tmp_path, scenario)
