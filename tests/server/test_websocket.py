"""The WebSocket protocol against the fake backend, with a raw client (no SDK)."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import aiohttp
import pytest

from spacetimedb.control.identity import identity_from_claims
from spacetimedb.protocol.wire import pack_str
from spacetimedb.server.app import Server

from .fake_backend import encode_person
from .harness import RawClient, backend_of, call, one_off, run_scenario, subscribe, unsubscribe
from .server_messages import decode_frame


def person(pid: int, name: str) -> bytes:
    return encode_person((pid, name))


def test_handshake_initial_connection_first(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base)
            assert c.ws.protocol == "v3.bsatn.spacetimedb"
            first = await c.next()
            assert first["type"] == "InitialConnection"
            caller = server.authority.validate(first["token"])
            assert first["identity"] == caller.identity_hex
            assert first["connection_id"] != 0
            assert backend_of(server).connected == [(caller.identity, first["connection_id"])]
            await c.ws.close()
            for _ in range(50):
                if backend_of(server).disconnected:
                    break
                await asyncio.sleep(0.02)
            assert backend_of(server).disconnected == backend_of(server).connected

    run_scenario(tmp_path, scenario)


def test_reconnect_with_token_keeps_identity_new_connection_id(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c1 = await RawClient.connect(s, base)
            init1 = await c1.next()
            await c1.ws.close()
            async with s.post(f"{base}/v1/identity/websocket-token", headers={"Authorization": f"Bearer {init1['token']}"}) as r:
                ws_token = (await r.json())["token"]
            c2 = await RawClient.connect(s, base, query=f"compression=None&token={ws_token}")
            init2 = await c2.next()
            assert init2["identity"] == init1["identity"]
            assert init2["connection_id"] != init1["connection_id"]
            assert init2["token"] == ws_token
            c3 = await RawClient.connect(s, base, headers={"Authorization": f"Bearer {init1['token']}"})
            assert (await c3.next())["identity"] == init1["identity"]

    run_scenario(tmp_path, scenario)


def test_handshake_rejections(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            for kwargs, status in [
                ({"protocols": ("v1.json.spacetimedb",)}, 400),
                ({"protocols": ()}, 400),
                ({"query": "compression=zstd"}, 400),
                ({"query": "compression=None&token=bad"}, 401),
                ({"query": "connection_id=" + "0" * 32}, 400),
                ({"db": "missing"}, 404),
            ]:
                with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                    await RawClient.connect(s, base, **kwargs)  # type: ignore[arg-type]
                assert e.value.status == status, kwargs

    run_scenario(tmp_path, scenario)


def test_v2_negotiated_when_only_v2_offered_or_forced(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, protocols=("v2.bsatn.spacetimedb",))
            assert c.ws.protocol == "v2.bsatn.spacetimedb"
            await c.next()
            # v2: two messages in one frame is malformed.
            await c.send(subscribe(0, 0, "SELECT * FROM person"), call(1, "add", pack_str("a")))
            msg = await c.ws.receive(5)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1011
            assert "trailing bytes" in msg.extra

    run_scenario(tmp_path, scenario)

    async def forced(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base)
            assert c.ws.protocol == "v2.bsatn.spacetimedb"

    run_scenario(tmp_path / "forced", forced, protocols=("v2.bsatn.spacetimedb",))


def test_subscribe_call_and_fanout(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            alice = await RawClient.connect(s, base)
            bob = await RawClient.connect(s, base)
            carol = await RawClient.connect(s, base)  # subscribed to something else
            for c in (alice, bob, carol):
                await c.next()
            await alice.send(subscribe(0, 0, "SELECT * FROM person"))
            applied = await alice.next()
            assert applied == {"type": "SubscribeApplied", "request_id": 0, "qs": 0, "tables": [{"table": "person", "rows": []}]}
            await bob.send(subscribe(0, 5, 'SELECT * FROM "person"'))
            await bob.next()
            await carol.send(subscribe(0, 0, "SELECT * FROM person WHERE name = 'zed'"))
            await carol.next()
            # alice calls: she gets a ReducerResult holding her own rows, bob a TransactionUpdate.
            await alice.send(call(1, "add", pack_str("ann")))
            result = await alice.next()
            assert result["type"] == "ReducerResult" and result["request_id"] == 1
            assert result["ok"]["query_sets"] == [
                {"qs": 0, "tables": [{"table": "person", "rows": [{"inserts": [person(1, "ann")], "deletes": []}]}]}
            ]
            update = await bob.next()
            assert update == {
                "type": "TransactionUpdate",
                "query_sets": [{"qs": 5, "tables": [{"table": "person", "rows": [{"inserts": [person(1, "ann")], "deletes": []}]}]}],
            }
            # An update of a PK row arrives as delete + insert in one message.
            await bob.send(call(9, "rename", struct.pack("<Q", 1) + pack_str("anna")))
            assert (await bob.next())["ok"]["query_sets"][0]["tables"][0]["rows"] == [
                {"inserts": [person(1, "anna")], "deletes": [person(1, "ann")]}
            ]
            assert (await alice.next())["type"] == "TransactionUpdate"
            # Failures: sender error as Err(string), crash as InternalError, nobody else hears.
            await alice.send(call(2, "fail", b""), call(3, "crash", b""), call(4, "nope", b""), call(5, "add", b"\x01"))
            frame = await alice.frame()
            assert [m["request_id"] for m in frame] == [2, 3, 4, 5]  # one frame for one frame of calls
            assert frame[0]["err"] == "this reducer always fails"
            assert "crashed" in frame[1]["internal_error"]
            assert frame[2]["internal_error"] == "no such reducer"
            assert "invalid arguments" in frame[3]["internal_error"]
            # A call that commits with nothing subscribed still answers Ok with no query sets.
            await carol.send(call(0, "add_secret", struct.pack("<Q", 3)))
            assert (await carol.next())["ok"] == {"ret": b"", "query_sets": []}
            await bob.send(call(10, "add", pack_str("zed")))
            await bob.next()
            assert (await carol.next())["query_sets"][0]["tables"][0]["rows"][0]["inserts"] == [person(2, "zed")]
            assert (await alice.next())["type"] == "TransactionUpdate"
            with pytest.raises(asyncio.TimeoutError):
                await bob.ws.receive(0.2)

    run_scenario(tmp_path, scenario)


def test_identical_queries_are_evaluated_once_per_commit(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            clients = [await RawClient.connect(s, base) for _ in range(4)]
            for c in clients:
                await c.next()
                await c.send(subscribe(0, 0, "SELECT * FROM person"))
                await c.next()
            backend = backend_of(server)
            before = backend.evaluations
            await clients[0].send(call(1, "add", pack_str("x")))
            for c in clients:
                await c.next()
            assert backend.evaluations - before == 1
            assert server.registry.databases["test"].subscriptions.query_count == 1

    run_scenario(tmp_path, scenario)


def test_unsubscribe_returns_dropped_rows_and_errors(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base)
            await c.next()
            await c.send(call(0, "add", pack_str("a")), call(1, "add", pack_str("b")))
            await c.frame()
            # The same query in two sets is counted twice (bag semantics on the client).
            await c.send(subscribe(2, 0, "SELECT * FROM person", "SELECT * FROM person"), subscribe(3, 1, "SELECT * FROM person WHERE name = 'a'"))
            applied = await c.frame()
            assert [len(m["tables"]) for m in applied] == [1, 1]
            assert applied[0]["tables"][0]["rows"] == [person(1, "a"), person(2, "b")]
            await c.send(unsubscribe(4, 1))
            assert (await c.next())["tables"] == [{"table": "person", "rows": [person(1, "a")]}]
            await c.send(unsubscribe(5, 0, send_rows=False))
            assert (await c.next())["tables"] is None
            await c.send(unsubscribe(6, 0))
            err = await c.next()
            assert err["type"] == "SubscriptionError" and err["request_id"] == 6
            await c.send(subscribe(7, 2, "SELECT nonsense"), subscribe(8, 3, "SELECT * FROM secret"))
            errs = await c.frame()
            assert [e["type"] for e in errs] == ["SubscriptionError"] * 2
            assert "no such table" in errs[1]["error"]
            # After unsubscribing nothing more arrives.
            await c.send(call(9, "add", pack_str("c")))
            assert (await c.next())["ok"]["query_sets"] == []

    run_scenario(tmp_path, scenario)


def test_select_star_from_star_and_private_tables_for_owner(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            anon = await RawClient.connect(s, base)
            owner = await RawClient.connect(s, base, headers={"Authorization": f"Bearer {server.owner.token}"})
            await anon.next()
            assert (await owner.next())["identity"] == server.owner.identity_hex
            await anon.send(subscribe(0, 0, "SELECT * FROM *"))
            await owner.send(subscribe(0, 0, "SELECT * FROM *"))
            assert [t["table"] for t in (await anon.next())["tables"]] == ["person"]
            assert sorted(t["table"] for t in (await owner.next())["tables"]) == ["person", "secret"]

    run_scenario(tmp_path, scenario)


def test_one_off_query(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base)
            await c.next()
            await c.send(call(0, "add", pack_str("q")))
            await c.next()
            await c.send(one_off(1, "SELECT * FROM person"), one_off(2, "DROP TABLE person"))
            ok, err = await c.frame()
            assert ok["ok"] == [{"table": "person", "rows": [person(1, "q")]}]
            assert err["request_id"] == 2 and "unsupported" in err["err"]

    run_scenario(tmp_path, scenario)


@pytest.mark.parametrize(
    "compress_frames,compression,tag",
    [(True, "Gzip", 2), (True, "Brotli", 1), (True, "None", 0), (False, "Gzip", 0), (False, "Brotli", 0)],
)
def test_large_frames_compressed(tmp_path: Path, compress_frames: bool, compression: str, tag: int) -> None:
    """Compressed only with --compress-frames (see tests/server/test_gzip_order.py for why)."""

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, query=f"compression={compression}")
            init = await c.ws.receive(5)
            assert init.data[0] == 0  # small: never compressed
            await c.send(*[call(i, "add", pack_str("n" * 100)) for i in range(20)])
            await c.send(subscribe(20, 0, "SELECT * FROM person"))
            raw = b""
            while not raw:
                msg = await c.ws.receive(5)
                if any(m["type"] == "SubscribeApplied" for m in decode_frame(msg.data)):
                    raw = msg.data
            assert raw[0] == tag

    run_scenario(tmp_path, scenario, compress_frames=compress_frames)


def test_on_connect_rejection_closes_socket(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        caller = server.authority.mint_anonymous()
        backend_of(server).refuse.add(caller.identity)
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, headers={"Authorization": f"Bearer {caller.token}"})
            msg = await c.ws.receive(5)
            assert msg.type == aiohttp.WSMsgType.CLOSE
            assert "not welcome" in msg.extra

    run_scenario(tmp_path, scenario)


def test_reused_query_set_closes_connection(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base)
            await c.next()
            await c.send(subscribe(0, 0, "SELECT * FROM person"))
            await c.next()
            await c.send(subscribe(1, 0, "SELECT * FROM person"))
            msg = await c.ws.receive(5)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1011

    run_scenario(tmp_path, scenario)


def test_scheduler_runs_due_reducers_and_broadcasts(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base)
            await c.next()
            await c.send(subscribe(0, 0, "SELECT * FROM person"))
            await c.next()
            db = server.registry.databases["test"]
            backend_of(server).due_us = 0
            db.submit(lambda: None)  # wake the worker so it re-reads next_due
            update = await c.next()
            assert update["query_sets"][0]["tables"][0]["rows"][0]["inserts"] == [person(1, "scheduled")]

    run_scenario(tmp_path, scenario)


def test_identity_in_initial_connection_matches_token_claims(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base)
            init = await c.next()
            caller = server.authority.validate(init["token"])
            assert bytes.fromhex(init["identity"]) == identity_from_claims(caller.issuer, caller.subject)

    run_scenario(tmp_path, scenario)


def test_confirmed_reads_hold_updates_until_durable(tmp_path: Path) -> None:
    gate = asyncio.Event()

    def factory(spec):  # type: ignore[no-untyped-def]
        from .fake_backend import FakeBackend

        return FakeBackend(spec, durability_gate=gate)

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            confirmed = await RawClient.connect(s, base)  # confirmed=true is the default
            fast = await RawClient.connect(s, base, query="compression=None&confirmed=false")
            for c in (confirmed, fast):
                await c.next()
                await c.send(subscribe(0, 0, "SELECT * FROM person"))
                await c.next()
            # The HTTP call itself answers only once durable: it waits with the confirmed client.
            call_done = asyncio.ensure_future(s.post(f"{base}/v1/database/test/call/add", json=["d"]))
            assert (await fast.next())["type"] == "TransactionUpdate"
            with pytest.raises(asyncio.TimeoutError):
                await confirmed.ws.receive(0.3)
            # Replies that follow a held update wait behind it, in order.
            await confirmed.send(subscribe(1, 1, "SELECT * FROM person WHERE name = 'd'"))
            with pytest.raises(asyncio.TimeoutError):
                await confirmed.ws.receive(0.2)
            assert not call_done.done()
            gate.set()
            released = await confirmed.frame()  # v3: released together, in order
            assert [m["type"] for m in released] == ["TransactionUpdate", "SubscribeApplied"]
            async with await call_done as r:
                assert r.status == 200

    run_scenario(tmp_path, scenario, factory=factory)


def test_failing_evaluation_drops_the_set_with_an_error_without_request_id(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base)
            other = await RawClient.connect(s, base)
            await c.next()
            await other.next()
            await c.send(subscribe(0, 0, "SELECT * FROM person"), subscribe(1, 1, "SELECT * FROM person WHERE name = 'explode'"))
            await c.frame()
            await other.send(subscribe(0, 0, "SELECT * FROM person WHERE name = 'explode'"))
            await other.next()
            await c.send(call(2, "add", pack_str("x")))
            err, result = await c.frame()
            assert err == {"type": "SubscriptionError", "request_id": None, "qs": 1, "error": err["error"]}
            assert "explodes" in err["error"]
            assert [q["qs"] for q in result["ok"]["query_sets"]] == [0]
            assert (await other.next())["request_id"] is None
            # The failed sets are gone: the next commit reports nothing for them.
            await c.send(call(3, "add", pack_str("y")))
            assert [q["qs"] for q in (await c.next())["ok"]["query_sets"]] == [0]

    run_scenario(tmp_path, scenario)


def test_durability_failure_closes_clients_waiting_for_confirmed_reads(tmp_path: Path) -> None:
    class FailingGate:
        async def wait(self) -> None:
            raise OSError("disk on fire")

    def factory(spec):  # type: ignore[no-untyped-def]
        from .fake_backend import FakeBackend

        return FakeBackend(spec, durability_gate=FailingGate())

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base)
            await c.next()
            await c.send(call(1, "add", pack_str("lost")))
            msg = await c.ws.receive(5)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1011
            assert "durable" in msg.extra

    run_scenario(tmp_path, scenario, factory=factory)


def test_frames_of_every_length_class_reach_the_client(tmp_path: Path) -> None:
    """Short (<126), medium (<65536) and long frames, written in batches straight to the socket."""

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, protocols=("v2.bsatn.spacetimedb",), max_msg_size=0)
            await c.next()
            for i, size in enumerate((10, 1000, 70_000)):
                await c.send(call(i, "add", pack_str("z" * size)))
                assert "ok" in await c.next()
            await c.send(subscribe(9, 0, "SELECT * FROM person"))
            applied = await c.next()
            assert [len(r) for r in applied["tables"][0]["rows"]] == [8 + 4 + n for n in (10, 1000, 70_000)]

    run_scenario(tmp_path, scenario)


def test_republish_swaps_the_backend_and_keeps_clients_and_their_subscriptions(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base)
            await c.next()
            await c.send(subscribe(1, 0, "SELECT * FROM person"))
            assert (await c.next())["type"] == "SubscribeApplied"
            db, old = server.registry.databases["test"], backend_of(server)
            await server.publish_path("test", tmp_path / "module.py")
            new = backend_of(server)
            assert server.registry.databases["test"] is db and new is not old and old.closed
            # Never disconnected, so neither module saw the client leave or arrive again.
            assert old.disconnected == [] and new.connected == []
            other = await RawClient.connect(s, base)
            await other.next()
            await other.send(call(2, "add", pack_str("after the swap")))
            update = await c.next()
            assert update["type"] == "TransactionUpdate"
            assert update["query_sets"][0]["tables"][0]["table"] == "person"

    run_scenario(tmp_path, scenario)


def test_a_module_that_cannot_take_over_restarts_the_previous_one_and_keeps_clients(tmp_path: Path) -> None:
    """The checks passed (the fake backend has none) but building the new backend fails: the old
    module is started again on the data, the client stays connected, and the publish fails."""
    from spacetimedb.control.database_registry import BackendSpec, PublishError

    from .fake_backend import FakeBackend

    def factory(spec: BackendSpec) -> FakeBackend:
        if "BROKEN" in spec.module_path.read_text():
            raise OSError("the data directory could not be opened")
        return FakeBackend(spec)

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base)
            await c.next()
            await c.send(subscribe(1, 0, "SELECT * FROM person"))
            await c.next()
            broken = tmp_path / "broken.py"
            broken.write_text("# BROKEN\n")
            with pytest.raises(PublishError, match="could not be opened"):
                await server.publish_path("test", broken)
            restarted = backend_of(server)
            assert restarted.spec is not None and "BROKEN" not in restarted.spec.module_path.read_text()
            assert restarted.connected == []  # the client never left
            await c.send(call(2, "add", pack_str("still served")))
            ok = await c.next()
            assert ok["ok"]["query_sets"][0]["tables"][0]["table"] == "person"

    run_scenario(tmp_path, scenario, factory=factory)


def test_subscribe_by_database_identity(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        ident = server.registry.databases["test"].info.identity.hex()
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db=ident)
            assert (await c.next())["type"] == "InitialConnection"
            assert backend_of(server).connected

    run_scenario(tmp_path, scenario)


def test_batched_socket_writes_are_in_use_with_the_pinned_aiohttp(tmp_path: Path) -> None:
    """Guards the v2 optimisation: an aiohttp upgrade that drops its flow-control hooks would
    silently fall back to one write per frame."""
    from spacetimedb.server.ws_routes import SESSIONS_KEY

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base)
            await c.next()
            [session] = server.app[SESSIONS_KEY]
            assert session.transport is not None
            assert hasattr(session.protocol, "_paused") and hasattr(session.protocol, "_drain_helper")

    run_scenario(tmp_path, scenario)
