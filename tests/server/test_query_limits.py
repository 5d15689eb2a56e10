"""Hostile queries on the real host (issue 10, findings 4 and 5, Option joins): every request gets a
clear answer, costly queries are stopped by the limits of docs/limits.md, and /v1/ping keeps
answering while they run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from spacetimedb.control.host_backend import host_backend_factory
from spacetimedb.control.query_limits import (
    DEFAULT_MAX_QUERIES_PER_CONNECTION,
    DEFAULT_MAX_QUERIES_PER_SUBSCRIBE,
    QueryLimits,
)
from spacetimedb.server.app import Server

from .harness import RawClient, one_off, subscribe, unsubscribe

CHAT = Path(__file__).parent / "modules" / "chat.py"
SENDER = "0x" + "11" * 32


def run(tmp_path: Path, scenario: Callable[[Server, str], Awaitable[Any]], **kw: Any) -> Any:
    async def main() -> Any:
        server = Server(tmp_path / "data", backend_factory=host_backend_factory, **kw)
        port = await server.start()
        try:
            await server.publish_path("chat", CHAT)
            return await asyncio.wait_for(scenario(server, f"http://127.0.0.1:{port}"), 120)
        finally:
            await server.stop()

    return asyncio.run(main())


async def sql(s: aiohttp.ClientSession, base: str, text: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with s.post(f"{base}/v1/database/chat/sql", data=text, headers=headers) as r:
        return r.status, (await r.json() if r.status == 200 else await r.text())


async def fill(s: aiohttp.ClientSession, base: str, server: Server, n: int) -> None:
    """`n` messages and `n` pets, all with the same sender / owner (one join key)."""
    msgs = ", ".join(f"({SENDER}, '2025-01-01T00:00:00Z', 'm{i}')" for i in range(n))
    pets = ", ".join(f"({i + 1}, {SENDER}, 'p{i}')" for i in range(n))
    for text in (f"INSERT INTO message (sender, sent, text) VALUES {msgs}", f"INSERT INTO pet VALUES {pets}"):
        status, body = await sql(s, base, text, server.owner.token)
        assert status == 200, body


def nested(n: int, table: str = "message", cond: str = "text = 'x'") -> str:
    return f"SELECT * FROM {table} WHERE " + "(" * n + cond + ")" * n


# ---- finding 5: nesting ------------------------------------------------------------------------


def test_nested_and_long_sql_is_answered_everywhere(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            for n in (60, 80, 1000):
                status, body = await sql(s, base, nested(n))
                assert status == 400 and "nested too deeply" in body and "line 1, column" in body, (n, body)
            ors = " OR ".join(f"text = 'm{i}'" for i in range(200))
            status, body = await sql(s, base, f"SELECT * FROM message WHERE {ors}")
            assert status == 200 and body[0]["rows"] == [], body
            status, body = await sql(s, base, "SELECT * FROM message WHERE " + "NOT " * 3000 + "text = 'x'")
            assert status == 400, body

            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            await c.send(one_off(1, nested(80)))
            reply = await c.next()
            assert reply["type"] == "OneOffQueryResult" and "nested too deeply" in reply["err"]
            await c.send(one_off(2, f"SELECT * FROM message WHERE {ors}"))
            assert (await c.next())["ok"][0]["rows"] == []
            await c.send(subscribe(3, 1, nested(80)))
            err = await c.next()
            assert err["type"] == "SubscriptionError" and "nested too deeply" in err["error"]
            await c.send(subscribe(4, 2, f"SELECT * FROM message WHERE {ors}"))
            assert (await c.next())["type"] == "SubscribeApplied"

    run(tmp_path, scenario)


# ---- Option joins --------------------------------------------------------------------------------


def test_join_on_option_columns_is_refused_like_where(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        message = "Invalid binary operator `=` for type `Option<String>`"
        async with aiohttp.ClientSession() as s:
            status, body = await sql(s, base, "SELECT * FROM user WHERE name = name")
            assert status == 400 and message in body
            status, body = await sql(s, base, "SELECT COUNT(*) AS n FROM user x JOIN user y ON x.name = y.name")
            assert status == 400 and message in body, body
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            join = "SELECT x.* FROM user x JOIN user y ON x.name = y.name"
            await c.send(one_off(1, join))
            assert message in (await c.next())["err"]
            await c.send(subscribe(2, 1, join))
            assert message in (await c.next())["error"]

    run(tmp_path, scenario)


# ---- finding 4: cost -----------------------------------------------------------------------------


def test_queries_per_subscribe_and_per_connection_are_limited(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            queries = [f"SELECT * FROM message WHERE text = 'q{i}'" for i in range(6)]
            await c.send(subscribe(1, 1, *queries))
            err = await c.next()
            assert err["type"] == "SubscriptionError" and "too many queries in one Subscribe: 6, at most 5" in err["error"]
            await c.send(subscribe(2, 2, *queries[:5]))
            assert (await c.next())["type"] == "SubscribeApplied"
            await c.send(subscribe(3, 3, *queries[:3]))
            err = await c.next()
            assert "too many subscribed queries on this connection: 5 held and 3 more, at most 7" in err["error"]
            await c.send(subscribe(4, 4, "SELECT * FROM *"))  # one string, one query per public table
            err = await c.next()
            assert err["type"] == "SubscriptionError" and "5 held and" in err["error"]
            await c.send(subscribe(5, 5, *queries[:2]))
            assert (await c.next())["type"] == "SubscribeApplied"  # 7: at the limit, not over it

    run(tmp_path, scenario, query_limits=QueryLimits(max_queries_per_subscribe=5, max_queries_per_connection=7))


def test_limit_is_pushed_down_and_the_row_budget_stops_joins(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            await fill(s, base, server, 1000)
            join = "FROM message a JOIN message b ON a.sender = b.sender"
            # 1,000,000 pairs, but LIMIT 1 stops after the first: well within the budget.
            status, body = await sql(s, base, f"SELECT a.text {join} LIMIT 1")
            assert status == 200 and len(body[0]["rows"]) == 1, body
            status, body = await sql(s, base, f"SELECT COUNT(*) AS n {join}")
            assert status == 400 and "Query too expensive" in body and "50000 rows" in body, body
            status, body = await sql(s, base, f"SELECT COUNT(*) AS n {join}", server.owner.token)
            assert status == 200 and body[0]["rows"] == [[1_000_000]]  # the owner is not limited

            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            pets = "SELECT a.* FROM pet a JOIN pet b ON a.owner = b.owner"
            await c.send(one_off(1, pets))
            assert "Query too expensive" in (await c.next())["err"]
            await c.send(subscribe(2, 1, pets))
            err = await c.next()
            assert err["type"] == "SubscriptionError" and "Query too expensive" in err["error"]
            await c.send(subscribe(3, 1, "SELECT * FROM pet"))  # the failed set is not kept
            assert (await c.next())["type"] == "SubscribeApplied"

    run(tmp_path, scenario, query_limits=QueryLimits(row_budget=50_000))


def test_ping_answers_during_costly_queries(tmp_path: Path) -> None:
    """With the default limits, /v1/ping answers within a second while each attack of finding 4
    and 5 runs, and every attack gets its answer."""

    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            await fill(s, base, server, 3000)
            c = await RawClient.connect(s, base, db="chat")
            await c.next()
            many = [f"SELECT * FROM message WHERE text = 'q{i}'" for i in range(20_000)]

            async def sub_flood() -> None:
                await c.send(subscribe(1, 1, *many))
                reply = await c.next(60)
                assert reply["type"] == "SubscriptionError" and "too many queries" in reply["error"]
                assert len(many) > DEFAULT_MAX_QUERIES_PER_SUBSCRIBE

            async def self_join(limit: str) -> None:
                status, body = await sql(s, base, f"SELECT a.* FROM message a JOIN message b ON a.sender = b.sender{limit}")
                if limit:
                    assert status == 200 and len(body[0]["rows"]) == 1, body
                else:
                    assert status == 400 and "Query too expensive" in body, body

            async def one_off_join() -> None:
                await c.send(one_off(2, "SELECT a.* FROM pet a JOIN pet b ON a.owner = b.owner"))
                assert "Query too expensive" in (await c.next(60))["err"]

            async def one_off_nested() -> None:
                await c.send(one_off(3, nested(80)))
                assert "nested too deeply" in (await c.next(60))["err"]

            async def collect(n: int) -> list[dict[str, Any]]:
                out: list[dict[str, Any]] = []
                while len(out) < n:
                    out.extend(await c.frame(60))
                assert len(out) == n, out
                return out

            async def frame_flood() -> None:
                # One v3 frame of many Subscribe messages, each within the per-message limit: the
                # per-connection limit stops the rest, and the frame never holds the loop.
                per = DEFAULT_MAX_QUERIES_PER_SUBSCRIBE
                frame = [
                    subscribe(10 + k, 10 + k, *(f"SELECT * FROM pet WHERE id = {k * per + i}" for i in range(per)))
                    for k in range(20)
                ]
                await c.send(*frame)
                replies = await collect(20)
                kinds = [m["type"] for m in replies]
                assert kinds.count("SubscribeApplied") == DEFAULT_MAX_QUERIES_PER_CONNECTION // per
                assert "too many subscribed queries" in replies[-1]["error"]
                await c.send(*(unsubscribe(100 + k, 10 + k, send_rows=False) for k in range(20)))
                await collect(20)

            async def one_off_flood() -> None:
                # Many costly one-off queries in one frame: each is stopped by the row budget.
                await c.send(*(one_off(200 + k, "SELECT a.* FROM pet a JOIN pet b ON a.owner = b.owner") for k in range(20)))
                replies = await collect(20)
                assert all("Query too expensive" in m["err"] for m in replies), replies

            attacks: list[Callable[[], Awaitable[None]]] = [
                sub_flood,
                frame_flood,
                one_off_flood,
                lambda: self_join(" LIMIT 1"),
                lambda: self_join(""),
                one_off_join,
                one_off_nested,
            ]
            for attack in attacks:
                task = asyncio.create_task(attack())
                worst = 0.0
                pings = 0
                while not task.done() or pings < 3:
                    started = time.perf_counter()
                    async with s.get(f"{base}/v1/ping") as r:
                        assert r.status == 200
                    worst = max(worst, time.perf_counter() - started)
                    pings += 1
                    await asyncio.sleep(0.01)
                await task
                assert worst < 1.0, (attack, worst)

    run(tmp_path, scenario)
