"""The synchronous facade (`build_sync`, `frame_tick`, `run_threaded`), joins, confirmed reads and
compressed frames (gzip, brotli)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from spacetimedb import client
from spacetimedb.server.app import Server

from .harness import run_with_server


def tick_until(conn: Any, predicate: Any, limit: int = 500) -> None:
    for _ in range(limit):  # bounded: at most `limit` ticks of up to 20 ms each
        if predicate():
            return
        conn.frame_tick(0.02)
    raise AssertionError("condition not reached in time")


def test_sync_connection_runs_callbacks_in_frame_tick_on_the_callers_thread(tmp_path: Path) -> None:
    async def scenario(server: Server, uri: str) -> None:
        def sync_part() -> None:
            threads: list[Any] = []
            connected: list[Any] = []
            conn = client.connect_sync(uri, "chat", on_connect=lambda c, i, t: connected.append(threading.get_ident()))
            try:
                assert connected == []  # callbacks wait for frame_tick
                conn.frame_tick()
                assert connected == [threading.get_ident()]
                conn.db.message.on_insert(lambda ctx, row: threads.append((row.text, threading.get_ident())))
                handle = conn.subscription_builder().subscribe("SELECT * FROM message")
                tick_until(conn, lambda: handle.is_active)
                call = conn.reducers.send_message("sync hello")
                tick_until(conn, call.done)
                assert call.result() is None
                assert threads == [("sync hello", threading.get_ident())]
                bad = conn.reducers.send_message("")
                tick_until(conn, bad.done)
                with pytest.raises(client.ReducerError):
                    bad.result()
                query = conn.one_off_query("SELECT * FROM message")
                tick_until(conn, query.done)
                assert [m.text for m in query.result()["message"]] == ["sync hello"]
            finally:
                conn.disconnect().result(timeout=10)
            conn.frame_tick()
            assert not conn.is_active

        await asyncio.get_running_loop().run_in_executor(None, sync_part)

    run_with_server(tmp_path, scenario)


def test_run_threaded_processes_in_the_background(tmp_path: Path) -> None:
    async def scenario(server: Server, uri: str) -> None:
        def sync_part() -> None:
            module = asyncio.run(client.fetch_module_info(uri, "chat"))
            conn = (
                client.DbConnectionBuilder(client.DbConnection, module)
                .with_uri(uri)
                .with_database_name("chat")
                .with_protocol("v2")
                .build_sync()
            )
            worker = conn.run_threaded()
            seen = threading.Event()
            conn.db.message.on_insert(lambda ctx, row: seen.set())
            conn.subscription_builder().subscribe("SELECT * FROM message")
            conn.reducers.send_message("threaded").result(timeout=10)
            assert seen.wait(10)
            asyncio.run(conn.close())
            assert asyncio.run(conn.wait_closed()) is None
            worker.join(10)
            assert not worker.is_alive()

        await asyncio.get_running_loop().run_in_executor(None, sync_part)

    run_with_server(tmp_path, scenario)


def test_a_sync_connection_is_a_context_manager(tmp_path: Path) -> None:
    async def scenario(server: Server, uri: str) -> None:
        def sync_part() -> None:
            ended: list[Any] = []
            with client.connect_sync(uri, "chat", on_disconnect=lambda c, e: ended.append(e)) as conn:
                call = conn.reducers.set_name("Sync")
                tick_until(conn, call.done)
                assert conn.is_active and ended == []
            assert not conn.is_active and ended == [None]  # disconnected; on_disconnect ran on this thread

        await asyncio.get_running_loop().run_in_executor(None, sync_part)
        async with client.connect(uri, "chat") as conn:
            with pytest.raises(client.ClientError, match="async with"), conn:
                pass

    run_with_server(tmp_path, scenario)


def test_join_subscription_and_confirmed_reads(tmp_path: Path) -> None:
    async def scenario(server: Server, uri: str) -> None:
        async with client.connect(uri, "chat", confirmed_reads=True) as conn:
            await conn.reducers.set_name("Ada")
            await conn.reducers.send_message("joined")
            await conn.subscription_builder().subscribe(
                "SELECT message.* FROM message JOIN user ON message.sender = user.identity WHERE user.online = TRUE"
            )
            assert [m.text for m in conn.db.message] == ["joined"] and len(conn.db.user) == 0
            await conn.reducers.send_message("again")
            assert sorted(m.text for m in conn.db.message) == ["again", "joined"]

    run_with_server(tmp_path, scenario)


@pytest.mark.parametrize("compression", ["gzip", "brotli"])
def test_compressed_frames(tmp_path: Path, compression: str) -> None:
    async def scenario(server: Server, uri: str) -> None:
        async with client.connect(uri, "chat", compression=compression) as conn:
            text = "x" * 5000  # over the 1 KiB the server compresses from
            await conn.subscription_builder().subscribe("SELECT * FROM message")
            await conn.reducers.send_message(text)
            async with client.connect(uri, "chat", compression=compression) as other:
                await other.subscription_builder().subscribe("SELECT * FROM message")
                assert [m.text for m in other.db.message] == [text]
            assert [m.text for m in conn.db.message] == [text]

    run_with_server(tmp_path, scenario, compress_frames=True)

