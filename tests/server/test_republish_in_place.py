"""Republishing over a running database on the real host: the module is swapped in place, and
WebSocket clients stay connected through every change that keeps the rows they decode."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import aiohttp
import pytest

from spacetimedb.control.module_swap import MODULE_UPDATED_CLOSE_REASON
from spacetimedb.protocol.wire import pack_str
from spacetimedb.server.app import Server

from .harness import RawClient, call, subscribe
from .node_runner import needs_node, run_node_script
from .test_host_e2e import CHAT, MESSAGE_FIELDS, run_chat

NODE_SCRIPT = Path(__file__).parent / "node_republish.mjs"
#: remind_me's delay (u64 µs): long enough for the republish to happen first.
DELAY = struct.pack("<Q", 1_500_000)

#: The chat module plus a table, a reducer that schedules a reminder, and a changed send_message body.
EXTENDED = CHAT.read_text().replace(
    "text=text))", "text=text.upper()))"
) + '''

@table(public=True)
class Note:
    text: str


@reducer
def add_note(ctx: ReducerContext, text: str) -> None:
    ctx.db.note.insert(Note(text=text))
    ctx.db.reminder.insert(Reminder(scheduled_id=0, scheduled_at=ScheduleAt(Timestamp(ctx.timestamp.micros + 100_000)), text=text))
'''


def _variant(tmp_path: Path, name: str, text: str) -> bytes:
    (tmp_path / name).write_text(text)
    return text.encode()


async def _publish(s: aiohttp.ClientSession, server: Server, base: str, body: bytes) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {server.owner.token}"}
    async with s.put(f"{base}/v1/database/chat", data=body, headers=headers) as r:
        return r.status, await r.text()


async def _message_update(c: RawClient) -> list[bytes]:
    """The message inserts of the next TransactionUpdate `c` receives."""
    update = await c.next()
    assert update["type"] == "TransactionUpdate", update
    [table] = update["query_sets"][0]["tables"]
    assert table["table"] == "message"
    inserts: list[bytes] = table["rows"][0]["inserts"]
    return inserts


def test_compatible_republish_keeps_clients_subscribed_and_serves_the_new_module(tmp_path: Path) -> None:
    extended = _variant(tmp_path, "v2.py", EXTENDED)

    async def scenario(server: Server, base: str) -> None:
        db = server.registry.databases["chat"]
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(subscribe(1, 0, "SELECT * FROM message"))
            assert (await c.next())["type"] == "SubscribeApplied"
            status, text = await _publish(s, server, base, extended)
            assert status == 200 and '"updated"' in text, text
            assert server.registry.databases["chat"] is db
            # Still connected and subscribed: another client's message reaches it, from the new code.
            other = await RawClient.connect(s, base, db="chat")
            await other.next()
            await other.send(call(2, "send_message", pack_str("quiet")))
            assert "ok" in await other.next()
            [row] = await _message_update(c)
            assert row.endswith(pack_str("QUIET"))
            # The new reducer is callable on the kept connection; its reminder fires from the new
            # module's scheduler (re-armed by the swap) and reaches the subscription.
            await c.send(call(3, "add_note", pack_str("later")))
            assert "ok" in await c.next()
            [reminder] = await _message_update(c)
            assert reminder.endswith(pack_str("reminder: later"))

    run_chat(tmp_path, scenario)


def test_a_reminder_scheduled_before_the_swap_fires_from_the_new_module(tmp_path: Path) -> None:
    v2 = _variant(tmp_path, "v2.py", CHAT.read_text().replace('f"reminder: {job.text}"', 'f"v2 reminder: {job.text}"'))
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(subscribe(1, 0, "SELECT * FROM message"), call(2, "remind_me", pack_str("tea") + DELAY))
            replies = await c.frame()
            while len(replies) < 2:  # one frame or two, depending on when the commit is durable
                replies += await c.frame()
            assert [m["type"] for m in replies] == ["SubscribeApplied", "ReducerResult"]
            status, text = await _publish(s, server, base, v2)
            assert status == 200, text
            # The schedule row carried over; the new host's scheduler runs the new reducer body.
            [row] = await _message_update(c)
            assert row.endswith(pack_str("v2 reminder: tea"))

    run_chat(tmp_path, scenario)


@pytest.mark.in_process
def test_republish_adding_a_column_disconnects_clients_with_a_reason(tmp_path: Path) -> None:
    added_column = _variant(tmp_path, "v2.py", CHAT.read_text().replace(MESSAGE_FIELDS, MESSAGE_FIELDS + "    likes: u64 = 0\n"))

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(subscribe(1, 0, "SELECT * FROM message"))
            await c.next()
            status, text = await _publish(s, server, base, added_column)
            assert status == 200, text
            msg = await c.ws.receive(10)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1001
            assert msg.extra == MODULE_UPDATED_CLOSE_REASON
            assert not server.registry.databases["chat"].subscribers
            # client_disconnected ran for it (on the new module): only the /sql caller itself is online.
            async with s.post(f"{base}/v1/database/chat/sql", data="SELECT online FROM user") as r:
                assert sorted((await r.json())[0]["rows"]) == [[False], [True]]

    run_chat(tmp_path, scenario)


@pytest.mark.in_process
def test_refused_and_failing_republishes_leave_the_client_connected_and_served(tmp_path: Path) -> None:
    dropped_column = CHAT.read_text().replace(MESSAGE_FIELDS, "    sender: Identity\n    text: str\n").encode()

    async def scenario(server: Server, base: str) -> None:
        db = server.registry.databases["chat"]
        backend = db.backend
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(subscribe(1, 0, "SELECT * FROM message"))
            await c.next()
            await c.send(call(2, "send_message", pack_str("before")))
            await c.next()
            status, text = await _publish(s, server, base, dropped_column)
            assert status == 400 and "manual migration" in text, text
            status, text = await _publish(s, server, base, b"this is not python(")
            assert status == 400 and "failed to load" in text, text
            assert db.backend is backend and server.registry.databases["chat"] is db
            other = await RawClient.connect(s, base, db="chat")
            await other.next()
            await other.send(call(3, "send_message", pack_str("after")))
            assert "ok" in await other.next()
            [row] = await _message_update(c)
            assert row.endswith(pack_str("after"))  # the old module's body, unchanged
            async with s.post(f"{base}/v1/database/chat/sql", data="SELECT text FROM message") as r:
                assert sorted(row[0] for row in (await r.json())[0]["rows"]) == ["after", "before"]

    run_chat(tmp_path, scenario)


def test_republish_removing_a_table_disconnects_clients_as_upstream(tmp_path: Path) -> None:
    """Upstream's plan for `RemoveTable` includes `DisconnectAllUsers`, so a removed (empty) table
    closes every client rather than failing only the sets that used it."""
    source = CHAT.read_text()
    pet_start = source.index("@table(public=True)\nclass Pet:")
    pet_end = source.index("@table\nclass Audit:")
    adopt_start = source.index("@reducer\ndef adopt(")
    adopt_end = source.index("@reducer\ndef crash(")
    without_pet = _variant(tmp_path, "v2.py", source[:pet_start] + source[pet_end:adopt_start] + source[adopt_end:])

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(subscribe(1, 0, "SELECT * FROM pet"), subscribe(2, 1, "SELECT * FROM message"))
            replies = await c.frame()
            while len(replies) < 2:
                replies += await c.frame()
            status, text = await _publish(s, server, base, without_pet)
            assert status == 200, text
            msg = await c.ws.receive(10)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1001
            assert msg.extra == MODULE_UPDATED_CLOSE_REASON

    run_chat(tmp_path, scenario)


def test_subscription_to_a_table_made_private_gets_a_subscription_error(tmp_path: Path) -> None:
    private_pet = _variant(tmp_path, "v2.py", CHAT.read_text().replace("@table(public=True)\nclass Pet:", "@table\nclass Pet:"))

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(subscribe(1, 0, "SELECT * FROM pet"))
            assert (await c.next())["type"] == "SubscribeApplied"
            status, text = await _publish(s, server, base, private_pet)
            assert status == 200, text
            error = await c.next()
            assert error["type"] == "SubscriptionError" and error["request_id"] is None and error["qs"] == 0

    run_chat(tmp_path, scenario)


@pytest.mark.in_process
@pytest.mark.node
@needs_node
def test_sdk_client_stays_connected_through_a_compatible_republish(tmp_path: Path) -> None:
    extended = _variant(tmp_path, "v2.py", EXTENDED)

    async def scenario(server: Server, base: str) -> None:
        db = server.registry.databases["chat"]
        signal = tmp_path / "republished"
        script = asyncio.ensure_future(
            run_node_script(str(NODE_SCRIPT), base=base, db="chat", env={"STDB_REPUBLISH_SIGNAL": str(signal)})
        )
        for _ in range(300):  # until both SDK clients are connected and one subscribed (bounded: 15 s)
            if script.done() or (len(db.subscribers) == 2 and db.subscriptions.query_count):
                break
            await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as s:
            status, text = await _publish(s, server, base, extended)
        assert status == 200, text
        signal.write_text("")
        lines = await script
        assert lines[-1] == {"step": "done"}, lines

    run_chat(tmp_path, scenario)
