"""Issue 10, finding 2: a failed call never leaves a visible, unlogged write.

Values without an encoding (a `str` with a lone surrogate) are refused at the boundary (JSON
arguments, rows written by reducers), and a commit the log cannot take (an injected encoding
failure) is rolled back before anyone sees it. Invariant: what clients saw is a prefix of what
recovery restores."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from spacetimedb.control.host_backend import HostBackend
from spacetimedb.server.app import Server

from .harness import RawClient, subscribe

HOSTILE = Path(__file__).parent / "modules" / "hostile.py"


async def _rows(s: aiohttp.ClientSession, base: str) -> list[list[Any]]:
    async with s.post(f"{base}/v1/database/pubs/sql", data="SELECT id, text FROM pub") as r:
        assert r.status == 200, await r.text()
        return sorted((await r.json())[0]["rows"])


async def _call(s: aiohttp.ClientSession, base: str, reducer: str, body: str) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    async with s.post(f"{base}/v1/database/pubs/call/{reducer}", data=body, headers=headers) as r:
        return r.status, await r.text()


def _serve(tmp_path: Path, scenario: Any) -> Any:
    async def main() -> Any:
        server = Server(tmp_path / "data")
        port = await server.start()
        try:
            if "pubs" not in server.registry.databases:
                await server.publish_path("pubs", HOSTILE)
            async with aiohttp.ClientSession() as s:
                return await asyncio.wait_for(scenario(server, s, f"http://127.0.0.1:{port}"), 60)
        finally:
            await server.stop()

    return asyncio.run(main())


def test_lone_surrogates_are_refused_at_the_boundary_and_nothing_vanishes_on_restart(tmp_path: Path) -> None:
    async def first(server: Server, s: aiohttp.ClientSession, base: str) -> list[list[Any]]:
        # The request: JSON `[78, "\ud800"]` (the escape, as a client sends it).
        status, text = await _call(s, base, "add_pub", '[78, "\\ud800"]')
        assert status == 400 and "lone surrogate U+D800" in text, (status, text)
        # Object form and a surrogate pair's low half alone.
        status, text = await _call(s, base, "add_pub", '{"id": 78, "text": "ok \\udfff"}')
        assert status == 400 and "lone surrogate U+DFFF" in text, (status, text)
        # A valid pair (an emoji) is fine.
        assert await _call(s, base, "add_pub", '[77, "\\ud83d\\ude00"]') == (200, "")
        # A reducer writing such a string itself: the insert raises, the call fails, rolled back.
        status, text = await _call(s, base, "add_surrogate", "[78]")
        assert status == 530 and "lone surrogate U+D800" in text and "Pub.text" in text, (status, text)
        status, text = await _call(s, base, "update_surrogate", "[77]")
        assert status == 530 and "lone surrogate U+DFFF" in text, (status, text)
        for i in (79, 80):
            assert await _call(s, base, "add_pub", f'[{i}, "fine"]') == (200, "")
        seen = await _rows(s, base)
        assert seen == [[77, "\U0001f600"], [79, "fine"], [80, "fine"]]
        return seen

    seen = _serve(tmp_path, first)

    async def second(server: Server, s: aiohttp.ClientSession, base: str) -> list[list[Any]]:
        return await _rows(s, base)

    assert _serve(tmp_path, second) == seen


@pytest.mark.in_process
def test_a_commit_the_log_cannot_encode_is_rolled_back_before_anyone_sees_it(tmp_path: Path) -> None:
    """Inject an encoding failure at the commit-log step: the call fails, its row is in neither
    the SQL view nor any subscriber's updates, later commits are logged, and recovery restores
    exactly what clients saw."""

    async def first(server: Server, s: aiohttp.ClientSession, base: str) -> list[list[Any]]:
        backend = server.registry.databases["pubs"].backend
        assert isinstance(backend, HostBackend) and backend.durability is not None
        encoder = backend.durability._encoder
        real = encoder.encode_fields
        fail_next = [False]

        def flaky(*args: Any) -> bytes:
            if fail_next[0]:
                fail_next[0] = False
                raise UnicodeEncodeError("utf-8", "x", 0, 1, "injected encoding failure")
            return real(*args)

        encoder.encode_fields = flaky  # type: ignore[method-assign]

        watcher = await RawClient.connect(s, base, db="pubs")
        await watcher.next()  # InitialConnection
        await watcher.send(subscribe(1, 1, "SELECT * FROM pub"))
        await watcher.next()  # SubscribeApplied
        assert await _call(s, base, "add_pub", '[1, "before"]') == (200, "")
        await watcher.next()  # its update

        fail_next[0] = True
        status, text = await _call(s, base, "add_pub", '[2, "unlogged"]')
        assert status == 530 and "could not be written to the commit log and was rolled back" in text, text
        assert "injected encoding failure" in text
        assert await _rows(s, base) == [[1, "before"]]
        # The same key is free again (the insert was undone in the engine, indexes included).
        assert await _call(s, base, "add_pub", '[2, "after"]') == (200, "")
        assert await _call(s, base, "add_pub", '[3, "after"]') == (200, "")
        update = await watcher.next()
        assert b"unlogged" not in repr(update).encode() and "after" in repr(update), update
        # Owner SQL DML goes through the same commit path: refused with 503, nothing left behind.
        fail_next[0] = True
        owner = {"Authorization": f"Bearer {server.owner.token}"}
        async with s.post(f"{base}/v1/database/pubs/sql", data="INSERT INTO pub (id, text) VALUES (4, 'dml')", headers=owner) as r:
            text = await r.text()
            assert r.status == 503 and "rolled back" in text, (r.status, text)
        seen = await _rows(s, base)
        assert seen == [[1, "before"], [2, "after"], [3, "after"]]
        return seen

    seen = _serve(tmp_path, first)

    async def second(server: Server, s: aiohttp.ClientSession, base: str) -> list[list[Any]]:
        return await _rows(s, base)

    assert _serve(tmp_path, second) == seen
