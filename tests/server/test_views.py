"""Views served like tables on the real host: per-sender and anonymous subscriptions with their
incremental updates, WHERE filters, one-off queries and `/sql` as the caller."""

from __future__ import annotations

import struct
from pathlib import Path

import aiohttp
import pytest

from spacetimedb.control.host_backend import HostBackend, host_backend_factory
from spacetimedb.control.query_limits import QueryLimits
from spacetimedb.protocol.wire import pack_str
from spacetimedb.server.app import Server

from .harness import RawClient, call, one_off, subscribe

VIEWS = Path(__file__).parent / "modules" / "views.py"


def run_views(tmp_path: Path, scenario, **kw):  # type: ignore[no-untyped-def]
    import asyncio

    async def main():  # type: ignore[no-untyped-def]
        server = Server(tmp_path / "data", backend_factory=host_backend_factory, **kw)
        port = await server.start()
        try:
            await server.publish_path("views", VIEWS)
            return await asyncio.wait_for(scenario(server, f"http://127.0.0.1:{port}"), 90)
        finally:
            await server.stop()

    return asyncio.run(main())


def _i64(v: int) -> bytes:
    return struct.pack("<q", v)


def _tables(frame: dict) -> dict[str, list]:  # type: ignore[type-arg]
    """table -> its rows (SubscribeApplied) or its update pieces (TransactionUpdate)."""
    if "tables" in frame:
        return {t["table"]: t["rows"] for t in frame["tables"]}
    out: dict[str, list] = {}  # type: ignore[type-arg]
    for qs in frame["ok"]["query_sets"] if "ok" in frame else frame["query_sets"]:
        for t in qs["tables"]:
            out.setdefault(t["table"], []).extend(t["rows"])
    return out


def _evaluations(server: Server) -> int:
    backend = server.registry.databases["views"].backend
    assert isinstance(backend, HostBackend)
    return backend.views.evaluations


@pytest.mark.in_process
def test_per_sender_view_rows_and_incremental_updates(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            a = await RawClient.connect(s, base, db="views")
            b = await RawClient.connect(s, base, db="views")
            await a.next(), await b.next()
            await a.send(call(1, "open_account", pack_str("alice") + _i64(10)))
            assert (await a.next())["type"] == "ReducerResult"
            await a.send(subscribe(2, 0, "SELECT * FROM my_account"))
            await b.send(subscribe(2, 0, "SELECT * FROM my_account"))
            rows_a = _tables(await a.next())["my_account"]
            rows_b = _tables(await b.next())["my_account"]
            assert len(rows_a) == 1 and b"alice" in rows_a[0] and rows_b == []
            # b opens its account: only b's view changes; a hears nothing.
            await b.send(call(3, "open_account", pack_str("bob") + _i64(5)))
            [upd] = _tables(await b.next())["my_account"]
            assert len(upd["inserts"]) == 1 and b"bob" in upd["inserts"][0] and upd["deletes"] == []
            # a's balance change: a gets delete old + insert new. First a barrier: b's reply can
            # leave before its turn has evaluated the other clients' views, and the next turn
            # starts only after that one ended, so the count is read with nothing in flight.
            await b.send(one_off(6, "SELECT * FROM my_account"))
            await b.next()
            before = _evaluations(server)
            await a.send(call(4, "set_balance", _i64(99)))
            [upd] = _tables(await a.next())["my_account"]
            assert upd["inserts"][0].endswith(_i64(99)) and upd["deletes"][0].endswith(_i64(10))
            # Read tracking: only a's view (it looked up a's key) was evaluated again.
            assert _evaluations(server) == before + 1
            await b.send(one_off(5, "SELECT * FROM my_account"))
            result = await b.next()
            assert b"bob" in result["ok"][0]["rows"][0]

    run_views(tmp_path, scenario)


@pytest.mark.in_process
def test_anonymous_view_shared_and_filtered(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            a = await RawClient.connect(s, base, db="views")
            b = await RawClient.connect(s, base, db="views")
            await a.next(), await b.next()
            await a.send(call(1, "add_player", pack_str("p1") + _i64(1)))
            await a.next()
            await a.send(subscribe(2, 0, "SELECT * FROM top_players"))
            await b.send(subscribe(2, 0, "SELECT * FROM top_players WHERE score > 5"))
            assert len(_tables(await a.next())["top_players"]) == 1
            assert _tables(await b.next())["top_players"] == []
            before = _evaluations(server)
            await a.send(call(3, "add_player", pack_str("p9") + _i64(9)))
            [upd] = _tables(await a.next())["top_players"]
            assert len(upd["inserts"]) == 1 and b"p9" in upd["inserts"][0]
            [upd_b] = _tables(await b.next())["top_players"]
            assert len(upd_b["inserts"]) == 1 and b"p9" in upd_b["inserts"][0]
            # p5 pushes p1 out of the top two: a sees p1 deleted, b (score > 5) nothing of p1/p5.
            await a.send(call(4, "add_player", pack_str("p5") + _i64(5)))
            [upd] = _tables(await a.next())["top_players"]
            assert b"p5" in upd["inserts"][0] and b"p1" in upd["deletes"][0]
            assert _evaluations(server) > before
            await a.send(subscribe(5, 1, "SELECT t.* FROM top_players t JOIN player p ON t.name = p.name"))
            err = await a.next()
            assert err["type"] == "SubscriptionError"  # a view is not joined

    run_views(tmp_path, scenario)


def test_sql_reads_view_as_caller(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            a = await RawClient.connect(s, base, db="views")
            init = await a.next()
            await a.send(call(1, "open_account", pack_str("alice") + _i64(10)))
            await a.next()
            headers = {"Authorization": f"Bearer {init['token']}"}
            async with s.post(f"{base}/v1/database/views/sql", data="SELECT name, balance FROM my_account", headers=headers) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())[0]["rows"] == [["alice", 10]]
            async with s.post(f"{base}/v1/database/views/sql", data="SELECT * FROM my_account") as r:
                assert (await r.json())[0]["rows"] == []  # an anonymous caller has no account
            owner = {"Authorization": f"Bearer {server.owner.token}"}
            async with s.post(f"{base}/v1/database/views/sql", data="DELETE FROM my_account", headers=owner) as r:
                assert r.status == 400 and "my_account" in await r.text()  # views are not written

    run_views(tmp_path, scenario)


@pytest.mark.in_process
def test_failing_view_rejects_subscription_or_fails_the_reducer(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            a = await RawClient.connect(s, base, db="views")
            await a.next()
            await a.send(call(1, "add_player", pack_str("p1") + _i64(1)))
            await a.next()
            await a.send(subscribe(2, 0, "SELECT * FROM fragile"))
            assert len(_tables(await a.next())["fragile"]) == 1
            before = _evaluations(server)
            # The view now raises inside the commit: as upstream, the reducer fails and is rolled back.
            await a.send(call(3, "add_player", pack_str("boom") + _i64(2)))
            result = await a.next()
            assert result["type"] == "ReducerResult" and "ok" not in result, result
            assert "a player named boom" in str(result)
            await a.send(one_off(4, "SELECT * FROM player"))
            assert len((await a.next())["ok"][0]["rows"]) == 1  # rolled back; still connected and served
            # A commit the view accepts: evaluated once (inside the commit), its rows fanned out.
            await a.send(call(5, "add_player", pack_str("p2") + _i64(3)))
            result = await a.next()
            assert "ok" in result and len(_tables(result)["fragile"]) == 1
            assert _evaluations(server) == before + 2  # the failed check, then this commit's (not twice)
            await a.send(subscribe(6, 1, "SELECT * FROM fragile"))
            assert len(_tables(await a.next())["fragile"]) == 2
            # Owner DML the view fails on: rolled back too, the statement answers 400 with the view's error.
            owner = {"Authorization": f"Bearer {server.owner.token}"}
            dml = "INSERT INTO player (name, score) VALUES ('boom', 9)"
            async with s.post(f"{base}/v1/database/views/sql", data=dml, headers=owner) as r:
                assert r.status == 400 and "a player named boom" in await r.text()
            await a.send(one_off(7, "SELECT * FROM player"))
            assert len((await a.next())["ok"][0]["rows"]) == 2

    run_views(tmp_path, scenario)


def test_view_rows_count_against_the_row_budget(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            a = await RawClient.connect(s, base, db="views")
            await a.next()
            for i in range(3):
                await a.send(call(i, "add_player", pack_str(f"p{i}") + _i64(i)))
                await a.next()
            await a.send(subscribe(5, 0, "SELECT * FROM fragile"))  # 3 rows: over a budget of 2
            err = await a.next()
            assert err["type"] == "SubscriptionError" and "row budget" in err["error"]
            await a.send(subscribe(6, 1, "SELECT * FROM top_players"))  # 2 rows: within it
            assert len(_tables(await a.next())["top_players"]) == 2

    run_views(tmp_path, scenario, query_limits=QueryLimits(row_budget=2))
