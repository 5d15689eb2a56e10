"""Reconnect across a server restart: same identity (token), subscriptions re-applied, and callbacks
reporting only what changed while the client was away."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from spacetimedb import client
from spacetimedb.control.host_backend import host_backend_factory
from spacetimedb.server.app import Server

from .harness import CHAT, until


def test_reconnect_across_a_server_restart_reports_differences_only(tmp_path: Path) -> None:
    async def main() -> None:
        data = tmp_path / "data"
        first = Server(data, backend_factory=host_backend_factory)
        port = await first.start()
        await first.publish_path("chat", CHAT)
        uri = f"ws://127.0.0.1:{port}"
        module = await client.fetch_module_info(uri, "chat")
        events: list[Any] = []
        reconnects: list[Any] = []
        conn = await (
            client.DbConnectionBuilder(client.DbConnection, module)
            .with_uri(uri)
            .with_database_name("chat")
            .with_reconnect(delay=0.05, max_delay=0.2, max_attempts=500)
            .on_reconnect(lambda c, cause: reconnects.append(cause))
            .build()
        )
        try:
            await conn.subscription_builder().subscribe(["SELECT * FROM message", "SELECT * FROM user"])
            await conn.reducers.set_name("Ada")
            await conn.reducers.send_message("before")
            identity, token = conn.identity, conn.token
            conn.db.message.on_insert(lambda ctx, row: events.append(("+msg", row.text, type(ctx.event).__name__)))
            conn.db.message.on_delete(lambda ctx, row: events.append(("-msg", row.text)))
            conn.db.user.on_insert(lambda ctx, row: events.append(("+user", row.name)))
            conn.db.user.on_update(lambda ctx, old, new: events.append(("~user", old, new)))
            conn.db.user.on_delete(lambda ctx, row: events.append(("-user", row.name)))
            await first.stop()
            await until(lambda: not conn.is_active)
            # While the client is away, another client changes the database (on another port).
            second = Server(data, backend_factory=host_backend_factory)
            other_port = await second.start()
            async with client.connect(f"ws://127.0.0.1:{other_port}", "chat", reconnect=False) as other:
                await other.reducers.set_name("Bob")
                await other.reducers.send_message("while away")
            await second.stop()
            third = Server(data, backend_factory=host_backend_factory)
            await third.start(port=port)
            try:
                await until(lambda: len(reconnects) == 1, timeout=30)
                assert conn.is_active and conn.identity == identity and conn.token == token
                assert sorted(events, key=repr) == [
                    ("+msg", "while away", "ReconnectedEvent"),
                    ("+user", "Bob"),
                ]  # not "before", not our own user row: they did not change
                assert sorted(m.text for m in conn.db.message) == ["before", "while away"]
                me = conn.db.user.identity.find(identity)
                assert me is not None and me.name == "Ada" and me.online
                await conn.reducers.send_message("after")
                assert events[-1] == ("+msg", "after", "ReducerEvent")
                assert isinstance(reconnects[0], client.ConnectionClosedError) and reconnects[0].code == 1001
            finally:
                await conn.close()
                await third.stop()
        finally:
            await conn.close()

    asyncio.run(asyncio.wait_for(main(), 120))


def test_a_saved_token_keeps_the_identity(tmp_path: Path) -> None:
    from .harness import run_with_server

    async def scenario(server: Server, uri: str) -> None:
        async with client.connect(uri, "chat") as first:
            identity, token = first.identity, first.token
            await first.reducers.set_name("Ada")
        async with client.connect(uri, "chat", token=token) as again:
            assert again.identity == identity
            await again.subscription_builder().subscribe("SELECT * FROM user")
            me = again.db.user.identity.find(identity)
            assert me is not None and me.name == "Ada"

    run_with_server(tmp_path, scenario)
