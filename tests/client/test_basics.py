"""The client SDK against our server (quickstart chat): connect, subscribe, reducers, one-off
queries, unsubscribe, callbacks and their events, refcounted rows across overlapping subscriptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spacetimedb import client
from spacetimedb.server.app import Server

from .harness import run_with_server, until


def test_connect_subscribe_reducers_and_callbacks(tmp_path: Path) -> None:
    async def scenario(server: Server, uri: str) -> None:
        events: list[Any] = []
        connected: list[Any] = []
        async with client.connect(uri, "chat", on_connect=lambda c, i, t: connected.append((i, t))) as conn:
            assert connected == [(conn.identity, conn.token)] and conn.token
            conn.db.message.on_insert(lambda ctx, row: events.append(("msg", row.text, type(ctx.event).__name__)))
            conn.db.user.on_insert(lambda ctx, row: events.append(("user+", row.name)))
            conn.db.user.on_update(lambda ctx, old, new: events.append(("user~", old.name, new.name, ctx.event)))
            applied: list[Any] = []
            handle = await (
                conn.subscription_builder()
                .on_applied(lambda ctx: applied.append((type(ctx.event).__name__, len(conn.db.user))))
                .subscribe(["SELECT * FROM message", "SELECT * FROM user"])
            )
            assert handle.is_active and applied == [("SubscribeAppliedEvent", 1)]
            assert events == [("user+", None)]  # our own row, from identity_connected
            me = conn.db.user.identity.find(conn.identity)
            assert me is not None and me.online and me.name is None
            await conn.reducers.set_name("Ada")
            update = events[-1]
            assert update[:3] == ("user~", None, "Ada")
            event = update[3]
            assert isinstance(event, client.ReducerEvent)
            assert event.reducer == "set_name" and event.args == ("Ada",) and event.status == "committed"
            assert event.caller_identity == conn.identity
            await conn.reducers.send_message(text="hello")
            assert events[-1] == ("msg", "hello", "ReducerEvent")
            assert [m.text for m in conn.db.message.iter()] == ["hello"] and len(conn.db.message) == 1
            with pytest.raises(client.ReducerError, match="Messages must not be empty") as err:
                await conn.reducers.send_message("")
            assert err.value.reducer == "send_message" and not isinstance(err.value, client.ReducerInternalError)
            with pytest.raises(client.ReducerInternalError):
                await conn.call_reducer("no_such_reducer", b"")
            rows = await conn.one_off_query("SELECT * FROM message")
            assert [m.text for m in rows["message"]] == ["hello"]
            with pytest.raises(client.QueryError):
                await conn.one_off_query("SELECT * FROM nowhere")
            deleted: list[Any] = []
            conn.db.message.on_delete(lambda ctx, row: deleted.append((row.text, type(ctx.event).__name__)))
            ended: list[Any] = []
            await handle.unsubscribe_then(lambda ctx: ended.append(("end", len(ctx.db.message), list(deleted))))
            # as the TS SDK: the rows have left the cache when on_end runs, the on_deletes follow
            assert deleted == [("hello", "UnsubscribeAppliedEvent")] and ended == [("end", 0, [])]
            assert len(conn.db.message) == 0 and conn.db.user.count() == 0 and handle.is_ended

    run_with_server(tmp_path, scenario)


def test_overlapping_subscriptions_refcount_rows_and_errors(tmp_path: Path) -> None:
    async def scenario(server: Server, uri: str) -> None:
        async with client.connect(uri, "chat", protocol="v2") as conn:
            await conn.reducers.send_message("one")
            await conn.reducers.send_message("two")
            inserts: list[str] = []
            deletes: list[str] = []
            conn.db.message.on_insert(lambda ctx, row: inserts.append(row.text))
            conn.db.message.on_delete(lambda ctx, row: deletes.append(row.text))
            everything = await conn.subscription_builder().subscribe("SELECT * FROM message")
            one = await conn.subscription_builder().subscribe("SELECT * FROM message WHERE text = 'one'")
            assert sorted(inserts) == ["one", "two"] and len(conn.db.message) == 2  # 'one' is not inserted twice
            await everything.unsubscribe()
            assert deletes == ["two"] and [m.text for m in conn.db.message] == ["one"]
            await one.unsubscribe()
            assert deletes == ["two", "one"] and len(conn.db.message) == 0
            errors: list[Any] = []
            bad = conn.subscription_builder().on_error(lambda ctx, e: errors.append(e)).subscribe("SELECT * FROM nowhere")
            with pytest.raises(client.SubscriptionError):
                await bad
            assert len(errors) == 1 and isinstance(errors[0], client.SubscriptionError) and bad.is_ended

    run_with_server(tmp_path, scenario)


def test_two_clients_see_each_others_transactions(tmp_path: Path) -> None:
    async def scenario(server: Server, uri: str) -> None:
        async with client.connect(uri, "chat") as a, client.connect(uri, "chat", compression="gzip") as b:
            seen: list[Any] = []
            b.db.message.on_insert(lambda ctx, row: seen.append((row.text, row.sender, ctx.event)))
            await b.subscription_builder().subscribe_to_all_tables()
            await a.reducers.send_message("from a")
            await until(lambda: len(seen) == 1)
            text, sender, event = seen[0]
            assert text == "from a" and sender == a.identity and isinstance(event, client.TransactionEvent)
            assert a.identity != b.identity
            # a's rows were never subscribed by a: its cache stays empty
            assert len(a.db.message) == 0

    run_with_server(tmp_path, scenario)


def test_unknown_database_and_refused_token(tmp_path: Path) -> None:
    async def scenario(server: Server, uri: str) -> None:
        with pytest.raises(client.UnknownDatabaseError):
            await client.connect(uri, "nope")
        with pytest.raises(client.TokenRefusedError):
            await client.connect(uri, "chat", token="not-a-token-we-signed")
        module = await client.fetch_module_info(uri, "chat")
        errors: list[BaseException] = []
        builder = (
            client.DbConnectionBuilder(client.DbConnection, module)
            .with_uri(uri)
            .with_database_name("gone")
            .on_connect_error(lambda conn, e: errors.append(e))
        )
        with pytest.raises(client.UnknownDatabaseError):
            await builder.build()
        assert len(errors) == 1 and isinstance(errors[0], client.UnknownDatabaseError)
        refused = client.DbConnectionBuilder(client.DbConnection, module).with_uri(uri).with_database_name("chat")
        with pytest.raises(client.TokenRefusedError) as e:
            await refused.with_token("not-a-token-we-signed").build()  # refused at the WebSocket handshake
        assert e.value.status == 401

    run_with_server(tmp_path, scenario)
