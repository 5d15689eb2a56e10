"""End to end on the real host: the chat test module published from disk, driven over HTTP,
a raw WebSocket client and the pinned npm SDK."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from spacetimedb.control.host_backend import host_backend_factory
from spacetimedb.protocol.wire import pack_str
from spacetimedb.server.app import Server

from .harness import RawClient, call, one_off, subscribe
from .node_runner import needs_node, run_node_script

CHAT = Path(__file__).parent / "modules" / "chat.py"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
V3_V2 = ("v3.bsatn.spacetimedb", "v2.bsatn.spacetimedb")


QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart_chat.py"


def run_chat(tmp_path: Path, scenario, module: Path = CHAT, **kw):  # type: ignore[no-untyped-def]
    import asyncio

    async def main():  # type: ignore[no-untyped-def]
        server = Server(tmp_path / "data", backend_factory=host_backend_factory, **kw)
        port = await server.start()
        try:
            await server.publish_path("chat", module)
            return await asyncio.wait_for(scenario(server, f"http://127.0.0.1:{port}"), 90)
        finally:
            await server.stop()

    return asyncio.run(main())


def test_raw_ws_lifecycle_reducers_and_one_off(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            init = await c.next()
            await c.send(subscribe(0, 0, "SELECT * FROM user", "SELECT * FROM message"))
            applied = await c.next()
            users = next(t for t in applied["tables"] if t["table"] == "user")["rows"]
            # client_connected inserted this client's user row: identity (32 LE bytes), none, true.
            assert users == [bytes.fromhex(init["identity"])[::-1] + b"\x01" + b"\x01"]
            await c.send(call(1, "send_message", pack_str("hi")), call(2, "set_name", pack_str("")), call(3, "crash", b""))
            ok, err, internal = await c.frame()
            [qs] = ok["ok"]["query_sets"]
            [table] = qs["tables"]
            assert table["table"] == "message" and len(table["rows"][0]["inserts"]) == 1
            assert err["err"] == "Names must not be empty"
            assert "deliberate crash" in internal["internal_error"]
            await c.send(one_off(4, "SELECT * FROM message"), subscribe(5, 1, "SELECT * FROM audit"))
            result, sub_err = await c.frame()
            assert len(result["ok"][0]["rows"]) == 1
            assert sub_err["type"] == "SubscriptionError" and "audit" in sub_err["error"]

    run_chat(tmp_path, scenario)


def test_owner_sees_private_table_and_data_survives_restart(tmp_path: Path) -> None:
    async def first(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat", headers={"Authorization": f"Bearer {server.owner.token}"})
            await c.next()
            await c.send(subscribe(0, 0, "SELECT * FROM audit"), call(1, "send_message", pack_str("persist me")))
            frame = await c.frame()
            assert frame[0]["type"] == "SubscribeApplied" and len(frame[0]["tables"][0]["rows"]) == 2  # init + connected

    run_chat(tmp_path, first)

    async def second(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/v1/database/chat/sql", data="SELECT text FROM message") as r:
                assert (await r.json())[0]["rows"] == [["persist me"]]

    # Publishing again over the existing database keeps its data (no clear).
    run_chat(tmp_path, second)


def test_reducer_args_errors_over_ws(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(call(1, "send_message", b"\x05\x00"), call(2, "nope", b""), call(3, "connected", b""))
            bad_args, unknown, lifecycle = await c.frame()
            assert "invalid arguments" in bad_args["internal_error"]
            assert unknown["internal_error"] == "no such reducer"
            assert "lifecycle" in lifecycle["internal_error"]
            await c.send(call(4, "send_message", pack_str("still ok")))
            assert "ok" in await c.next()

    run_chat(tmp_path, scenario)


@pytest.mark.node
@needs_node
@pytest.mark.parametrize(
    "scenario,protocols",
    [
        ("chat", V3_V2),
        ("chat", ("v2.bsatn.spacetimedb",)),
        ("join", V3_V2),
        ("reauth", V3_V2),
        ("private_table", V3_V2),
        ("event_table", V3_V2),
        ("all_tables", V3_V2),
    ],
)
def test_sdk_chat(tmp_path: Path, scenario: str, protocols: tuple[str, ...]) -> None:
    async def run(server: Server, base: str) -> None:
        lines = await run_node_script("conformance_chat.mjs", scenario, base=base, db="chat")
        assert lines[-1] == {"step": "done"}

    run_chat(tmp_path, run, protocols=protocols)


@pytest.mark.node
@needs_node
@pytest.mark.skipif(not QUICKSTART.exists(), reason="examples/quickstart_chat.py is not in this checkout")
def test_sdk_quickstart_chat_example(tmp_path: Path) -> None:
    async def run(server: Server, base: str) -> None:
        lines = await run_node_script("conformance_chat.mjs", "quickstart", base=base, db="chat")
        assert lines[-1] == {"step": "done"}

    run_chat(tmp_path, run, module=QUICKSTART)


def test_scheduled_reducer_fires_from_the_event_loop(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(subscribe(0, 0, "SELECT * FROM message", "SELECT * FROM reminder"))
            await c.next()
            await c.send(call(1, "remind_me", pack_str("tea") + (50_000).to_bytes(8, "little")))
            result = await c.next()
            assert [t["table"] for t in result["ok"]["query_sets"][0]["tables"]] == ["reminder"]
            # The job fires ~50 ms later: its message arrives, then the one-shot row is deleted.
            seen: list[tuple[str, int, int]] = []
            while len(seen) < 2:
                for msg in await c.frame(5):
                    assert msg["type"] == "TransactionUpdate"
                    for t in msg["query_sets"][0]["tables"]:
                        rows = t["rows"][0]
                        seen.append((t["table"], len(rows["inserts"]), len(rows["deletes"])))
            assert seen == [("message", 1, 0), ("reminder", 0, 1)]

    run_chat(tmp_path, scenario)


def test_http_call_with_json_args_on_the_real_host(tmp_path: Path) -> None:
    pytest.importorskip("spacetimedb.module.json_args", reason="the host's SATS-JSON argument decoder is not in yet")

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            url = f"{base}/v1/database/chat/call"
            async with s.post(f"{url}/send_message", json=["from http"]) as r:
                assert r.status == 200, await r.text()
            async with s.post(f"{url}/send_message", json={"text": "by name"}) as r:
                assert r.status == 200, await r.text()
            async with s.post(f"{url}/set_name", json=[""]) as r:
                assert r.status == 530 and await r.text() == "Names must not be empty"
            async with s.post(f"{url}/send_message", json=[1, 2]) as r:
                assert r.status == 400
            async with s.post(f"{url}/nope", json=[]) as r:
                assert r.status == 404
            async with s.post(f"{base}/v1/database/chat/sql", data="SELECT text FROM message") as r:
                assert sorted(row[0] for row in (await r.json())[0]["rows"]) == ["by name", "from http"]

    run_chat(tmp_path, scenario)


def test_schema_endpoint_serves_the_module_definition(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/v1/database/chat/schema?version=10") as r:
                assert r.status == 200, await r.text()
                v10 = await r.json()
                assert r.headers["spacetime-identity"]
            assert "sections" in v10 and "V10" not in v10
            async with s.get(f"{base}/v1/database/chat/schema?version=9") as r:
                assert r.status == 200, await r.text()
                v9 = await r.json()
            assert {t["name"] for t in v9["tables"]} >= {"user", "message", "pet", "audit", "reminder"}
            async with s.get(f"{base}/v1/database/chat/schema?version=8") as r:
                assert r.status == 400

    run_chat(tmp_path, scenario)


def test_failed_republish_keeps_the_old_module_and_data(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        owner = {"Authorization": f"Bearer {server.owner.token}"}
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(call(1, "send_message", pack_str("survivor")))
            await c.next()
            for query in ("", "?clear=true"):
                async with s.put(f"{base}/v1/database/chat{query}", data=b"this is not python(", headers=owner) as r:
                    assert r.status == 400 and "failed to load" in await r.text()
                async with s.post(f"{base}/v1/database/chat/sql", data="SELECT text FROM message") as r:
                    assert r.status == 200 and (await r.json())[0]["rows"] == [["survivor"]]
            # A good republish over it works, and keeps the data.
            async with s.put(f"{base}/v1/database/chat", data=CHAT.read_bytes(), headers=owner) as r:
                assert (await r.json())["Success"]["op"] == "updated"
            async with s.post(f"{base}/v1/database/chat/sql", data="SELECT text FROM message") as r:
                assert (await r.json())[0]["rows"] == [["survivor"]]

    run_chat(tmp_path, scenario)


@pytest.mark.in_process
def test_sender_parameter_is_per_client(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            clients = [await RawClient.connect(s, base, db="chat") for _ in range(2)]
            inits = [await c.next() for c in clients]
            for c in clients:
                await c.send(subscribe(0, 0, "SELECT * FROM user WHERE identity = :sender"))
            for c, init in zip(clients, inits, strict=True):
                [table] = (await c.next())["tables"]
                assert [r[:32] for r in table["rows"]] == [bytes.fromhex(init["identity"])[::-1]]
            assert server.registry.databases["chat"].subscriptions.query_count == 2

    run_chat(tmp_path, scenario)


@pytest.mark.skipif(not (EXAMPLES / "simple_game.py").exists(), reason="examples/simple_game.py is not in this checkout")
def test_simple_game_example_serves_a_raw_client(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(subscribe(0, 0, "SELECT * FROM *"))
            tables = {t["table"]: t["rows"] for t in (await c.next())["tables"]}
            assert len(tables["game_state"]) == 1 and tables["player"] == []
            await c.send(call(1, "join_game", pack_str("ada")), call(2, "join_game", pack_str("ada")))
            ok, again = await c.frame()
            changed = {t["table"] for t in ok["ok"]["query_sets"][0]["tables"]}
            assert "player" in changed
            assert again["err"] == "You have already joined"

    run_chat(tmp_path, scenario, module=EXAMPLES / "simple_game.py")


def test_event_table_rows_reach_subscribers_and_are_never_stored(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            a = await RawClient.connect(s, base, db="chat")
            b = await RawClient.connect(s, base, db="chat")
            for c in (a, b):
                await c.next()
                await c.send(subscribe(0, 0, "SELECT * FROM ping"))
                assert (await c.next())["tables"] == [{"table": "ping", "rows": []}]
            await a.send(call(1, "ping", pack_str("boo")))
            mine = await a.next()
            assert mine["ok"]["query_sets"][0]["tables"] == [{"table": "ping", "rows": [{"events": [pack_str("boo")]}]}]
            theirs = await b.next()
            assert theirs["query_sets"][0]["tables"][0]["rows"] == [{"events": [pack_str("boo")]}]
            await b.send(subscribe(1, 1, "SELECT * FROM ping"))
            assert (await b.next())["tables"] == [{"table": "ping", "rows": []}]  # never stored

    run_chat(tmp_path, scenario)


def test_owner_sql_dml_commits_and_reaches_subscribers(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        owner = {"Authorization": f"Bearer {server.owner.token}"}
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat", headers=owner)
            await c.next()
            await c.send(subscribe(0, 0, "SELECT * FROM audit WHERE event = 'from sql'"))
            await c.next()
            sql = f"{base}/v1/database/chat/sql"
            async with s.post(sql, data="INSERT INTO audit (id, event) VALUES (100, 'from sql')") as r:
                assert r.status == 403  # anonymous: not the owner
            async with s.post(sql, data="INSERT INTO audit (id, event) VALUES (100, 'from sql')", headers=owner) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())[0]["stats"]["rows_inserted"] == 1
            update = await c.next()
            [table] = update["query_sets"][0]["tables"]
            assert table["table"] == "audit" and len(table["rows"][0]["inserts"]) == 1
            async with s.post(sql, data="SELECT event FROM audit WHERE id = 100", headers=owner) as r:
                assert (await r.json())[0]["rows"] == [["from sql"]]

    run_chat(tmp_path, scenario)


def _chat_variant(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = CHAT.read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path


MESSAGE_FIELDS = "    sender: Identity\n    sent: Timestamp\n    text: str\n"


def test_republish_migrates_data_to_a_compatible_schema(tmp_path: Path) -> None:
    added_column = _chat_variant(tmp_path, "v2.py", MESSAGE_FIELDS, MESSAGE_FIELDS + "    likes: u64 = 0\n")
    owner_hdr: dict[str, str] = {}

    async def scenario(server: Server, base: str) -> None:
        owner_hdr["Authorization"] = f"Bearer {server.owner.token}"
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(call(1, "send_message", pack_str("before")))
            await c.next()
            async with s.put(f"{base}/v1/database/chat", data=added_column.read_bytes(), headers=owner_hdr) as r:
                assert r.status == 200, await r.text()
            async with s.post(f"{base}/v1/database/chat/sql", data="SELECT text, likes FROM message") as r:
                assert (await r.json())[0]["rows"] == [["before", 0]]
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(call(2, "send_message", pack_str("after")))
            assert "ok" in await c.next()

    run_chat(tmp_path, scenario)

    async def after_restart(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/v1/database/chat/sql", data="SELECT text, likes FROM message") as r:
                assert sorted((await r.json())[0]["rows"]) == [["after", 0], ["before", 0]]

    # Restarted on the migrated data (the startup publish of the same module is a no-op change).
    run_chat(tmp_path, after_restart, module=added_column)


def test_republish_needing_a_manual_migration_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    dropped_column = _chat_variant(tmp_path, "v2.py", MESSAGE_FIELDS, "    sender: Identity\n    text: str\n")

    async def scenario(server: Server, base: str) -> None:
        owner = {"Authorization": f"Bearer {server.owner.token}"}
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(call(1, "send_message", pack_str("kept")))
            await c.next()
            async with s.put(f"{base}/v1/database/chat", data=dropped_column.read_bytes(), headers=owner) as r:
                text = await r.text()
                assert r.status == 400 and "manual migration" in text and "delete-data" in text, text
            async with s.post(f"{base}/v1/database/chat/sql", data="SELECT text FROM message") as r:
                assert (await r.json())[0]["rows"] == [["kept"]]
            async with s.put(f"{base}/v1/database/chat?clear=true", data=dropped_column.read_bytes(), headers=owner) as r:
                assert r.status == 200, await r.text()
            async with s.post(f"{base}/v1/database/chat/sql", data="SELECT * FROM message") as r:
                assert (await r.json())[0]["rows"] == []

    run_chat(tmp_path, scenario)


def test_sql_rows_write_identity_as_hex_and_keep_the_positional_shapes(tmp_path: Path) -> None:
    """/sql rows are positional SATS-JSON from spacetimedb.sats.json: an Identity (u256) is
    `["0x..."]` as upstream, an option `[tag, payload]`, a Timestamp `[micros]`."""

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            init = await c.next()
            await c.send(call(1, "send_message", pack_str("hex me")))
            await c.next()
            async with s.post(f"{base}/v1/database/chat/sql", data="SELECT * FROM user") as r:
                [result] = await r.json()
            names = [e["name"]["some"] for e in result["schema"]["elements"]]
            assert names == ["identity", "name", "online"]
            identity = ["0x" + init["identity"].lstrip("0")]
            # The /sql request itself connected as another (anonymous) user, now offline again.
            [[name, online]] = [row[1:] for row in result["rows"] if row[0] == identity]
            assert name == [1, []] and online is True
            assert all(isinstance(row[0], list) and row[0][0].startswith("0x") for row in result["rows"])
            async with s.post(f"{base}/v1/database/chat/sql", data="SELECT * FROM message") as r:
                [[sender, sent, text]] = (await r.json())[0]["rows"]
            assert sender == identity and text == "hex me"
            assert isinstance(sent, list) and len(sent) == 1 and isinstance(sent[0], int)

    run_chat(tmp_path, scenario)


@pytest.mark.in_process
def test_snapshot_on_demand_is_owner_only_and_answers_once_written(tmp_path: Path) -> None:
    from spacetimedb.durability.snapshot_file import list_snapshots

    snap_dir = tmp_path / "data" / "databases" / "chat" / "data" / "durability" / "snapshots"

    async def scenario(server: Server, base: str) -> None:
        url = f"{base}/v1/database/chat/snapshot"
        owner = {"Authorization": f"Bearer {server.owner.token}"}
        async with aiohttp.ClientSession() as s:
            async with s.post(url) as r:
                assert r.status == 403 and "owner" in await r.text()
            assert list_snapshots(str(snap_dir)) == []
            async with s.post(f"{base}/v1/database/chat/call/send_message", json=["in the snapshot"]) as r:
                assert r.status == 200
            async with s.post(url, headers=owner) as r:
                assert r.status == 200, await r.text()
                offset = (await r.json())["tx_offset"]
            # Written before the answer: init, then connect/send_message/disconnect of two requests.
            assert [o for o, _ in list_snapshots(str(snap_dir))] == [offset]
            assert offset == server.registry.databases["chat"].backend.durability.durable_offset  # type: ignore[attr-defined]

    run_chat(tmp_path, scenario)


def test_snapshot_without_durability_answers_400(tmp_path: Path) -> None:
    from .harness import run_scenario

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            headers = {"Authorization": f"Bearer {server.owner.token}"}
            async with s.post(f"{base}/v1/database/test/snapshot", headers=headers) as r:
                assert r.status == 400 and "no durable state" in await r.text()

    run_scenario(tmp_path, scenario)
