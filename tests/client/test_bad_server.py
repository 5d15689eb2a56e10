"""A server that misbehaves: malformed or truncated frames and closes with a reason reach the
application as errors on the connection (`on_disconnect`, `wait_closed`), never as a crash."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from spacetimedb import client, protocol
from spacetimedb.client import ModuleInfo, TableInfo
from spacetimedb.protocol.wire import pack_str, row_list
from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.special import ConnectionId, Identity

U32 = at.PrimitiveType(at.Primitive.U32)
MODULE = ModuleInfo(tables={"t": TableInfo(name="t", row_type=at.product(("id", U32)), primary_key="id", unique_columns=("id",))})
HELLO = b"\x00" + protocol.encode_server_message(protocol.InitialConnection(Identity(7), ConnectionId(9), "tok"))


def subscribe_applied(rows: bytes) -> bytes:
    """SubscribeApplied{request 0, query set 0, table t with `rows` as its row list}, framed uncompressed."""
    return b"\x00\x01" + struct.pack("<III", 0, 0, 1) + pack_str("t") + rows


Behaviour = Callable[[web.WebSocketResponse], Awaitable[None]]


async def with_fake_server(behaviour: Behaviour, check: Callable[[str], Awaitable[None]]) -> None:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("v2.bsatn.spacetimedb",))
        await ws.prepare(request)
        await ws.send_bytes(HELLO)
        await behaviour(ws)
        async for _ in ws:  # keep the socket until the client goes
            pass
        return ws

    app = web.Application()
    app.router.add_get("/v1/database/{name}/subscribe", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await asyncio.wait_for(check(f"ws://127.0.0.1:{port}"), 30)
    finally:
        await runner.cleanup()


async def connect(uri: str, disconnects: list[Any]) -> client.DbConnection[Any, Any, Any]:
    return await (
        client.DbConnectionBuilder(client.DbConnection, MODULE)
        .with_uri(uri)
        .with_database_name("db")
        .with_reconnect(delay=0.01)
        .on_disconnect(lambda c, e: disconnects.append(e))
        .build()
    )


BAD_FRAMES = {
    "truncated message": b"\x00\x04\x01\x00",  # TransactionUpdate claiming one query set, then nothing
    "unknown message tag": b"\x00\x2a",
    "unknown compression tag": b"\x07abc",
    "corrupt gzip": b"\x02not gzip at all",
    "empty frame": b"",
    "bad row bytes": subscribe_applied(row_list([b"\x01\x02"])),  # a u32 row of two bytes
    "trailing bytes": HELLO[:1] + protocol.encode_server_message(protocol.TransactionUpdate([]))[:1] + b"\x00\x00\x00\x00\xff",
}


@pytest.mark.parametrize("name", sorted(BAD_FRAMES))
def test_a_malformed_frame_ends_the_connection_with_a_protocol_error(name: str) -> None:
    async def behaviour(ws: web.WebSocketResponse) -> None:
        await asyncio.sleep(0.05)
        await ws.send_bytes(BAD_FRAMES[name])

    async def check(uri: str) -> None:
        disconnects: list[Any] = []
        conn = await connect(uri, disconnects)
        conn.subscription_builder().subscribe("SELECT * FROM t")
        error = await conn.wait_closed()
        assert isinstance(error, client.ProtocolError), error
        assert len(disconnects) == 1 and disconnects[0] is error and not conn.is_active
        with pytest.raises(client.DisconnectedError):
            await conn.call_reducer("r", b"")

    asyncio.run(with_fake_server(behaviour, check))


def test_good_rows_then_a_text_frame() -> None:
    async def behaviour(ws: web.WebSocketResponse) -> None:
        await ws.receive()  # the Subscribe
        await ws.send_bytes(subscribe_applied(row_list([struct.pack("<I", 5)])))
        await ws.send_str("hello?")

    async def check(uri: str) -> None:
        disconnects: list[Any] = []
        conn = await connect(uri, disconnects)
        handle = await conn.subscription_builder().subscribe("SELECT * FROM t")
        assert handle.is_active and [r for r in conn.db.t] == [(5,)] and conn.db.t.id.find(5) == (5,)
        assert isinstance(await conn.wait_closed(), client.ProtocolError)

    asyncio.run(with_fake_server(behaviour, check))


def test_a_close_with_a_reason_is_reported_and_not_retried_when_it_is_a_refusal() -> None:
    async def behaviour(ws: web.WebSocketResponse) -> None:
        await ws.close(code=1008, message=b"connection refused: banned")

    async def check(uri: str) -> None:
        disconnects: list[Any] = []
        conn = await connect(uri, disconnects)
        error = await conn.wait_closed()
        assert isinstance(error, client.ConnectionClosedError)
        assert error.code == 1008 and error.reason == "connection refused: banned"
        assert "banned" in str(error) and disconnects == [error]

    asyncio.run(with_fake_server(behaviour, check))


def test_a_callback_that_raises_does_not_end_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    async def behaviour(ws: web.WebSocketResponse) -> None:
        await ws.receive()
        await ws.send_bytes(subscribe_applied(row_list([struct.pack("<I", 1), struct.pack("<I", 2)])))

    async def check(uri: str) -> None:
        disconnects: list[Any] = []
        conn = await connect(uri, disconnects)
        seen: list[int] = []

        def boom(ctx: Any, row: Any) -> None:
            seen.append(row.id if hasattr(row, "id") else row[0])
            raise RuntimeError("a bug in the application")

        conn.db.t.on_insert(boom)
        await conn.subscription_builder().subscribe("SELECT * FROM t")
        assert sorted(seen) == [1, 2] and conn.is_active and disconnects == []
        await conn.close()
        assert disconnects == [None]

    asyncio.run(with_fake_server(behaviour, check))
    assert "a callback raised" in caplog.text


def test_reconnect_fails_calls_in_flight_resends_subscriptions_with_the_token_and_diffs() -> None:
    seen_auth: list[str | None] = []
    connections = 0

    async def handler(request: web.Request) -> web.WebSocketResponse:
        nonlocal connections
        connections += 1
        seen_auth.append(request.headers.get("Authorization"))
        ws = web.WebSocketResponse(protocols=("v3.bsatn.spacetimedb",))
        await ws.prepare(request)
        await ws.send_bytes(HELLO)
        first = await ws.receive()
        [sub] = protocol.decode_client_frame(first.data)
        assert isinstance(sub, protocol.Subscribe)
        rows = [(1, 2), (2, 3)][connections - 1]
        body = protocol.encode_server_message(
            protocol.SubscribeApplied(
                sub.request_id,
                sub.query_set_id,
                protocol.QueryRows([protocol.SingleTableRows("t", protocol.BsatnRowList.from_rows([struct.pack("<I", r) for r in rows]))]),
            )
        )
        await ws.send_bytes(b"\x00" + body)
        if connections == 1:
            await ws.receive()  # the reducer call, never answered
            await ws.close(code=1001, message=b"restarting")
            return ws
        async for _ in ws:
            pass
        return ws

    async def check(uri: str) -> None:
        events: list[Any] = []
        reconnected: list[Any] = []
        conn = await (
            client.DbConnectionBuilder(client.DbConnection, MODULE)
            .with_uri(uri)
            .with_database_name("db")
            .with_reconnect(delay=0.01)
            .on_reconnect(lambda c, cause: reconnected.append(cause))
            .build()
        )
        conn.db.t.on_insert(lambda ctx, row: events.append(("+", row[0], type(ctx.event).__name__)))
        conn.db.t.on_delete(lambda ctx, row: events.append(("-", row[0], type(ctx.event).__name__)))
        await conn.subscription_builder().subscribe("SELECT * FROM t")
        assert sorted(events) == [("+", 1, "SubscribeAppliedEvent"), ("+", 2, "SubscribeAppliedEvent")]
        events.clear()
        with pytest.raises(client.DisconnectedError):
            await conn.call_reducer("r", b"")
        for _ in range(1000):  # bounded
            if reconnected:
                break
            await asyncio.sleep(0.01)
        assert len(reconnected) == 1 and isinstance(reconnected[0], client.ConnectionClosedError)
        assert reconnected[0].code == 1001 and reconnected[0].reason == "restarting"
        assert events == [("+", 3, "ReconnectedEvent"), ("-", 1, "ReconnectedEvent")]
        assert sorted(r[0] for r in conn.db.t) == [2, 3]
        assert seen_auth == [None, "Bearer tok"]  # the token the server gave keeps the identity
        await conn.close()

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/v1/database/{name}/subscribe", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            await asyncio.wait_for(check(f"ws://127.0.0.1:{runner.addresses[0][1]}"), 30)
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_unsubscribe_before_applied_and_a_later_subscription_error() -> None:
    def applied(sub: Any, row: int) -> bytes:
        rows = protocol.QueryRows([protocol.SingleTableRows("t", protocol.BsatnRowList.from_rows([struct.pack("<I", row)]))])
        return b"\x00" + protocol.encode_server_message(protocol.SubscribeApplied(sub.request_id, sub.query_set_id, rows))

    async def next_message(ws: web.WebSocketResponse) -> Any:
        msg = await ws.receive()
        [m] = protocol.decode_client_frame(msg.data)
        return m

    async def behaviour(ws: web.WebSocketResponse) -> None:
        first = await next_message(ws)
        await ws.send_bytes(applied(first, 1))
        second = await next_message(ws)
        await ws.send_bytes(applied(second, 2))
        unsub = await next_message(ws)  # sent only now that the set is applied
        assert isinstance(unsub, protocol.Unsubscribe) and unsub.query_set_id == second.query_set_id
        rows = protocol.QueryRows([protocol.SingleTableRows("t", protocol.BsatnRowList.from_rows([struct.pack("<I", 2)]))])
        await ws.send_bytes(b"\x00" + protocol.encode_server_message(protocol.UnsubscribeApplied(unsub.request_id, unsub.query_set_id, rows)))
        err = protocol.SubscriptionError(None, first.query_set_id, "the query broke")
        await ws.send_bytes(b"\x00" + protocol.encode_server_message(err))

    async def check(uri: str) -> None:
        disconnects: list[Any] = []
        conn = await connect(uri, disconnects)
        errors: list[Any] = []
        first = await conn.subscription_builder().on_error(lambda ctx, e: errors.append(e)).subscribe("SELECT * FROM t")
        second = conn.subscription_builder().subscribe("SELECT * FROM t WHERE id = 2")
        ended = second.unsubscribe()
        await ended
        assert second.is_ended and [r[0] for r in conn.db.t] == [1]
        error = await conn.wait_closed()
        assert isinstance(error, client.SubscriptionError) and "the query broke" in str(error)
        assert errors == [error] and first.is_ended and disconnects == [error]

    asyncio.run(with_fake_server(behaviour, check))


def test_a_sync_connection_reports_a_malformed_frame_in_frame_tick() -> None:
    async def behaviour(ws: web.WebSocketResponse) -> None:
        await ws.receive()  # the Subscribe
        await ws.send_bytes(BAD_FRAMES["truncated message"])

    async def check(uri: str) -> None:
        def sync_part() -> list[Any]:
            disconnects: list[Any] = []
            conn = (
                client.DbConnectionBuilder(client.DbConnection, MODULE)
                .with_uri(uri)
                .with_database_name("db")
                .on_disconnect(lambda c, e: disconnects.append(e))
                .build_sync()
            )
            conn.subscription_builder().subscribe("SELECT * FROM t")
            for _ in range(500):  # bounded
                if disconnects:
                    break
                conn.frame_tick(0.02)
            assert not conn.is_active
            return disconnects

        disconnects = await asyncio.get_running_loop().run_in_executor(None, sync_part)
        assert len(disconnects) == 1 and isinstance(disconnects[0], client.ProtocolError)

    asyncio.run(with_fake_server(behaviour, check))


def test_disconnect_during_the_reconnect_backoff_ends_it_at_once() -> None:
    async def behaviour(ws: web.WebSocketResponse) -> None:
        await ws.close(code=1001, message=b"going away")

    async def check(uri: str) -> None:
        disconnects: list[Any] = []
        conn = await (
            client.DbConnectionBuilder(client.DbConnection, MODULE)
            .with_uri(uri)
            .with_database_name("db")
            .with_reconnect(delay=3600)  # the backoff would outlast the test
            .on_disconnect(lambda c, e: disconnects.append(e))
            .build()
        )
        for _ in range(1000):  # bounded: until the loss is seen
            if not conn.is_active:
                break
            await asyncio.sleep(0.01)
        await asyncio.wait_for(conn.close(), 10)
        assert disconnects == [None] and await conn.wait_closed() is None

    asyncio.run(with_fake_server(behaviour, check))


def test_lost_again_while_resubscribing_diffs_against_the_cache_before_the_first_loss() -> None:
    connections = 0

    async def handler(request: web.Request) -> web.WebSocketResponse:
        nonlocal connections
        connections += 1
        ws = web.WebSocketResponse(protocols=("v2.bsatn.spacetimedb",))
        await ws.prepare(request)
        await ws.send_bytes(HELLO)
        [sub] = protocol.decode_client_frame((await ws.receive()).data)
        if connections == 2:  # the resubscription is never answered
            await ws.close(code=1001, message=b"again")
            return ws
        rows = [1, 2] if connections == 1 else [2, 3]
        qr = protocol.QueryRows([protocol.SingleTableRows("t", protocol.BsatnRowList.from_rows([struct.pack("<I", r) for r in rows]))])
        await ws.send_bytes(b"\x00" + protocol.encode_server_message(protocol.SubscribeApplied(sub.request_id, sub.query_set_id, qr)))
        if connections == 1:
            await ws.close(code=1001, message=b"restart")
            return ws
        async for _ in ws:
            pass
        return ws

    async def check(uri: str) -> None:
        events: list[Any] = []
        reconnected: list[Any] = []
        conn = await (
            client.DbConnectionBuilder(client.DbConnection, MODULE)
            .with_uri(uri)
            .with_database_name("db")
            .with_reconnect(delay=0.01)
            .on_reconnect(lambda c, cause: reconnected.append(cause))
            .build()
        )
        conn.db.t.on_insert(lambda ctx, row: events.append(("+", row[0])))
        conn.db.t.on_delete(lambda ctx, row: events.append(("-", row[0])))
        conn.subscription_builder().subscribe("SELECT * FROM t")
        for _ in range(1000):  # bounded
            if reconnected:
                break
            await asyncio.sleep(0.01)
        assert connections == 3 and len(reconnected) == 1
        assert events == [("+", 1), ("+", 2), ("+", 3), ("-", 1)]
        assert sorted(r[0] for r in conn.db.t) == [2, 3]
        await conn.close()

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/v1/database/{name}/subscribe", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            await asyncio.wait_for(check(f"ws://127.0.0.1:{runner.addresses[0][1]}"), 30)
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_a_sync_subscription_made_between_a_reconnect_and_the_next_frame_tick_is_sent_once() -> None:
    """The I/O thread reconnects while the game loop has not ticked yet (the processing side still
    thinks the old socket is up): a subscription made then must reach the new socket exactly once
    (by the resubscribe the reconnect does), not also at once, which the server would refuse as a
    duplicate query set; a reducer call made then fails (its socket is gone) instead of being sent."""
    connections: list[list[Any]] = []  # the client messages each socket received
    drop = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        received: list[Any] = []
        connections.append(received)
        ws = web.WebSocketResponse(protocols=("v2.bsatn.spacetimedb",))
        await ws.prepare(request)
        await ws.send_bytes(HELLO)
        if len(connections) == 1:
            await drop.wait()
            await ws.close(code=1001, message=b"restarting")
            return ws
        async for msg in ws:
            for m in protocol.decode_client_frame(msg.data):
                received.append(m)
                if isinstance(m, protocol.Subscribe):
                    rows = protocol.QueryRows([protocol.SingleTableRows("t", protocol.BsatnRowList.from_rows([struct.pack("<I", 4)]))])
                    body = protocol.encode_server_message(protocol.SubscribeApplied(m.request_id, m.query_set_id, rows))
                    await ws.send_bytes(b"\x00" + body)
        return ws

    async def check(uri: str) -> None:
        loop = asyncio.get_running_loop()

        def sync_part() -> None:
            conn = (
                client.DbConnectionBuilder(client.DbConnection, MODULE)
                .with_uri(uri)
                .with_database_name("db")
                .with_reconnect(delay=0.01)
                .build_sync()
            )
            try:
                conn.frame_tick()
                loop.call_soon_threadsafe(drop.set)
                for _ in range(1000):  # bounded: the I/O thread reconnects; nobody ticks meanwhile
                    if len(connections) == 2 and conn._io_epoch == 2:
                        break
                    time.sleep(0.01)
                assert conn.is_active  # not processed yet: the processing side still sees socket 1
                handle = conn.subscription_builder().subscribe("SELECT * FROM t")
                call = conn.call_reducer("r", b"")
                for _ in range(500):  # bounded
                    if handle.is_active and call.done():
                        break
                    conn.frame_tick(0.02)
                assert handle.is_active and [r for r in conn.db.t] == [(4,)]
                with pytest.raises(client.DisconnectedError):
                    call.result()
                time.sleep(0.1)  # a duplicate Subscribe would have arrived by now
                conn.frame_tick()
                assert handle.is_active and handle.error is None
            finally:
                conn.disconnect().result()
            subscribes = [m for m in connections[1] if isinstance(m, protocol.Subscribe)]
            assert [s.query_set_id.id for s in subscribes] == [handle.query_set_id]
            assert not [m for m in connections[1] if isinstance(m, protocol.CallReducer)]

        await loop.run_in_executor(None, sync_part)

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/v1/database/{name}/subscribe", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            await asyncio.wait_for(check(f"ws://127.0.0.1:{runner.addresses[0][1]}"), 30)
        finally:
            await runner.cleanup()

    asyncio.run(main())
