"""Procedures through the server: WebSocket CallProcedure -> ProcedureResult, HTTP /call with the
SATS-JSON return value, outbound HTTP to a loopback server, a procedure waiting on HTTP not
blocking the database's reducers, and `--procedure-http off`."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import web

from spacetimedb.module.http_client import HttpPolicy
from spacetimedb.protocol.wire import pack_bytes, pack_str
from spacetimedb.server.app import Server

from .harness import RawClient
from .test_host_e2e import run_chat

MODULE = Path(__file__).parent / "modules" / "procs.py"


def call_procedure(request_id: int, name: str, args: bytes) -> bytes:
    return b"\x04" + struct.pack("<I", request_id) + b"\x00" + pack_str(name) + pack_bytes(args)


@asynccontextmanager
async def loopback(handler: Callable[[web.Request], object]) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)  # type: ignore[arg-type]
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _sql(s: aiohttp.ClientSession, base: str, q: str) -> list[list[object]]:
    async with s.post(f"{base}/v1/database/chat/sql", data=q) as r:
        assert r.status == 200, await r.text()
        return sorted((await r.json())[0]["rows"])


def test_websocket_call_procedure_returns_value_or_error(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(call_procedure(7, "add", struct.pack("<II", 2, 40)))
            res = await c.next()
            assert res["type"] == "ProcedureResult" and res["request_id"] == 7
            assert res["returned"] == struct.pack("<I", 42)
            await c.send(call_procedure(8, "fail", pack_str("nope")))
            res = await c.next()
            assert res["request_id"] == 8 and "nope" in res["internal_error"]
            await c.send(call_procedure(9, "missing", b""))
            res = await c.next()
            assert "no such procedure" in res["internal_error"]
            await c.send(call_procedure(10, "add", b"\x01"))
            res = await c.next()
            assert "invalid arguments" in res["internal_error"]

    run_chat(tmp_path, scenario, module=MODULE)


def test_http_call_returns_sats_json_and_procedure_http_reaches_loopback(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/slow":
            await release.wait()
        return web.Response(text=f"body of {request.path}")

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s, loopback(handler) as svc:
            async with s.post(f"{base}/v1/database/chat/call/add", json=[1, 2]) as r:
                assert r.status == 200, await r.text()
                assert await r.json() == 3
            async with s.post(f"{base}/v1/database/chat/call/fail", json=["bad"]) as r:
                assert r.status == 500 and "bad" in await r.text()
            async with s.post(f"{base}/v1/database/chat/call/add", json=["x"]) as r:
                assert r.status == 400
            async with s.post(f"{base}/v1/database/chat/call/fetch", json=[1, f"{svc}/fast"]) as r:
                assert r.status == 200, await r.text()
                assert await r.json() == "body of /fast"
            assert await _sql(s, base, "SELECT * FROM fetched") == [[1, "body of /fast"]]

            # A procedure waiting on HTTP does not hold the database: reducers keep committing.
            slow = asyncio.ensure_future(s.post(f"{base}/v1/database/chat/call/fetch", json=[2, f"{svc}/slow"]))
            await asyncio.sleep(0.2)
            async with s.post(f"{base}/v1/database/chat/call/tick", json=[1]) as r:
                assert r.status == 200, await r.text()
            assert await _sql(s, base, "SELECT * FROM tick") == [[1]]
            assert not slow.done()
            release.set()
            async with await slow as r:
                assert r.status == 200 and await r.json() == "body of /slow"
            assert await _sql(s, base, "SELECT * FROM fetched") == [[1, "body of /fast"], [2, "body of /slow"]]

    run_chat(tmp_path, scenario, module=MODULE)


def test_procedure_transactions_reach_subscribers(tmp_path: Path) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s, loopback(handler) as svc:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(b"\x00" + struct.pack("<II", 1, 1) + struct.pack("<I", 1) + pack_str("SELECT * FROM fetched"))
            applied = await c.next()
            assert applied["type"] == "SubscribeApplied", applied
            await c.send(call_procedure(3, "fetch", struct.pack("<I", 5) + pack_str(f"{svc}/x")))
            messages = await c.frame()
            if len(messages) == 1:  # the two may leave in one frame or in two
                messages += await c.frame()
            update, res = messages
            assert update["type"] == "TransactionUpdate", update
            assert res["type"] == "ProcedureResult" and res["request_id"] == 3
            assert res["returned"] == pack_str("hello")

    run_chat(tmp_path, scenario, module=MODULE)


def test_procedure_http_off(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/v1/database/chat/call/fetch", json=[1, "http://127.0.0.1:9/"]) as r:
                assert r.status == 500
                assert "disabled" in await r.text()

    run_chat(tmp_path, scenario, module=MODULE, procedure_http=HttpPolicy.parse("off"))


def test_a_schedule_table_fires_a_procedure_on_the_server(tmp_path: Path) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="scheduled")

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s, loopback(handler) as svc:
            async with s.post(f"{base}/v1/database/chat/call/schedule_fetch", json=[9, f"{svc}/x"]) as r:
                assert r.status == 200, await r.text()
            for _ in range(100):  # bounded: up to ~10 s
                rows = await _sql(s, base, "SELECT * FROM fetched")
                if rows:
                    break
                await asyncio.sleep(0.1)
            assert rows == [[9, "scheduled"]]
            assert await _sql(s, base, "SELECT id FROM fetch_later") == []  # the one-time row is gone
            # Private: a client calling it directly is told there is no such procedure.
            async with s.post(f"{base}/v1/database/chat/call/fetch_later_run", json=[[0, {"Time": 0}, 1, "x"]]) as r:
                assert r.status == 404, await r.text()

    run_chat(tmp_path, scenario, module=MODULE)


def test_a_republish_while_a_procedure_waits_fails_its_transaction_cleanly(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s, loopback(handler) as svc:
            slow = asyncio.ensure_future(s.post(f"{base}/v1/database/chat/call/fetch", json=[3, f"{svc}/x"]))
            await asyncio.sleep(0.3)
            await server.publish_path("chat", MODULE)  # the same module again: swapped in place
            release.set()
            async with await slow as r:
                assert r.status == 500 and "republished" in await r.text()
            assert await _sql(s, base, "SELECT * FROM fetched") == []
            async with s.post(f"{base}/v1/database/chat/call/add", json=[1, 1]) as r:
                assert r.status == 200 and await r.json() == 2

    run_chat(tmp_path, scenario, module=MODULE)
