"""A failed commit log takes its database out of service (and only that one); a restart recovers
exactly the durable prefix. Real host, commit log on a fault-injecting file layer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from spacetimedb.control.confirmed_reads import LOG_FAILED_CLOSE_REASON
from spacetimedb.control.database_registry import BackendSpec
from spacetimedb.control.host_backend import HostBackend
from spacetimedb.durability import FaultyFileOps
from spacetimedb.protocol.wire import pack_str
from spacetimedb.server.app import Server

from .harness import RawClient, call, subscribe

CHAT = Path(__file__).parent / "modules" / "chat.py"


async def _messages(s: aiohttp.ClientSession, base: str, db: str) -> list[str]:
    async with s.post(f"{base}/v1/database/{db}/sql", data="SELECT text FROM message") as r:
        assert r.status == 200, await r.text()
        return sorted(row[0] for row in (await r.json())[0]["rows"])


async def _post_message(s: aiohttp.ClientSession, base: str, db: str, text: str) -> tuple[int, str]:
    async with s.post(f"{base}/v1/database/{db}/call/send_message", json=[text]) as r:
        return r.status, await r.text()


def test_log_failure_takes_only_its_database_out_of_service_and_restart_recovers_the_durable_prefix(
    tmp_path: Path,
) -> None:
    faults = FaultyFileOps()

    def factory(spec: BackendSpec) -> HostBackend:
        if spec.info.name == "broken":
            return HostBackend(spec, file_ops=faults)
        return HostBackend(spec)

    async def first() -> None:
        server = Server(tmp_path / "data", backend_factory=factory)
        port = await server.start()
        base = f"http://127.0.0.1:{port}"
        try:
            for name in ("broken", "healthy"):
                await server.publish_path(name, CHAT)
            async with aiohttp.ClientSession() as s:
                watcher = await RawClient.connect(s, base, db="broken")
                await watcher.next()
                await watcher.send(subscribe(0, 0, "SELECT * FROM message"))
                await watcher.next()
                bystander = await RawClient.connect(s, base, db="healthy")
                await bystander.next()
                assert await _post_message(s, base, "broken", "durable") == (200, "")
                await watcher.next()  # its TransactionUpdate, confirmed

                faults.fail("fsync", times=1_000_000)  # the disk breaks: every fsync from now on fails
                status, text = await _post_message(s, base, "broken", "lost")
                assert status == 503 and "commit log failed" in text and "restart the server" in text, text
                closed = await watcher.ws.receive(5)
                assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 1011
                assert closed.extra == LOG_FAILED_CLOSE_REASON

                # Out of service: calls, SQL (reads too: they could see unconfirmed rows), subscribe.
                status, text = await _post_message(s, base, "broken", "refused")
                assert status == 503 and "out of service" in text
                async with s.post(f"{base}/v1/database/broken/sql", data="SELECT text FROM message") as r:
                    assert r.status == 503 and "commit log failed" in await r.text()
                async with s.get(
                    f"{base}/v1/database/broken/subscribe", headers={"Sec-WebSocket-Protocol": "v3.bsatn.spacetimedb",
                    "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
                ) as r:
                    assert r.status == 503 and "restart the server" in await r.text()

                # The other database on the same server keeps serving, its client stays connected.
                assert await _post_message(s, base, "healthy", "still fine") == (200, "")
                await bystander.send(call(1, "send_message", pack_str("over ws")))
                assert "ok" in await bystander.next()
                assert await _messages(s, base, "healthy") == ["over ws", "still fine"]
        finally:
            await server.stop()

    async def after_restart() -> None:
        server = Server(tmp_path / "data", backend_factory=lambda spec: HostBackend(spec))
        port = await server.start()
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as s:
                assert await _messages(s, base, "broken") == ["durable"]  # exactly the durable prefix
                assert await _post_message(s, base, "broken", "after restart") == (200, "")
                assert await _messages(s, base, "broken") == ["after restart", "durable"]
                assert await _messages(s, base, "healthy") == ["over ws", "still fine"]
        finally:
            await server.stop()

    asyncio.run(asyncio.wait_for(first(), 60))
    assert faults.fired["fsync"] >= 1
    asyncio.run(asyncio.wait_for(after_restart(), 60))


def test_a_commit_that_cannot_become_durable_takes_the_database_out_of_service(tmp_path: Path) -> None:
    """The durability waiter can fail before the log's failure listener has told the database:
    the request still answers 503 and nothing more is served."""
    from .fake_backend import FakeBackend
    from .harness import run_scenario

    class FailingGate:
        async def wait(self) -> None:
            raise OSError("disk on fire")

    def factory(spec: BackendSpec) -> FakeBackend:
        return FakeBackend(spec, durability_gate=FailingGate())

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            status, text = await _post_message_to(s, f"{base}/v1/database/test/call/add", ["x"])
            assert status == 503 and "commit log failed" in text and "disk on fire" in text
            async with s.post(f"{base}/v1/database/test/sql", data="SELECT * FROM person") as r:
                assert r.status == 503 and "out of service" in await r.text()
            db = server.registry.databases["test"]
            assert db.failure is not None
            backend = db.backend
            assert isinstance(backend, FakeBackend)
            backend.due_us = 0  # a scheduled reducer that is due: it must not run, nor wake the worker
            assert db._scheduler_timeout() is None
            turn_done = asyncio.Event()
            db.submit(turn_done.set)  # a worker turn runs due reducers first, then its jobs
            await turn_done.wait()
            assert backend.due_us == 0, "run_due ran on a database out of service"

    run_scenario(tmp_path, scenario, factory=factory)


async def _post_message_to(s: aiohttp.ClientSession, url: str, args: list[str]) -> tuple[int, str]:
    async with s.post(url, json=args) as r:
        return r.status, await r.text()


def test_a_log_closed_under_a_waiting_call_is_a_stop_not_a_failure(tmp_path: Path) -> None:
    from spacetimedb.durability import LogClosedError

    from .fake_backend import FakeBackend
    from .harness import run_scenario

    class ClosingGate:
        async def wait(self) -> None:
            raise LogClosedError("the commit log closed before this tx offset became durable")

    def factory(spec: BackendSpec) -> FakeBackend:
        return FakeBackend(spec, durability_gate=ClosingGate())

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            status, text = await _post_message_to(s, f"{base}/v1/database/test/call/add", ["x"])
            assert status == 503 and "stopped before the commit was durable" in text and "retry" in text
            assert server.registry.databases["test"].failure is None

    run_scenario(tmp_path, scenario, factory=factory)
