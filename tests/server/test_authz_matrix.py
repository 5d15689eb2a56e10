"""Who may do what: every (caller, action) cell asserted against the intended answer.

Callers: `anonymous` (no token), `other` (a valid token of an identity with no rights here), `owner`
(the owner of the database, here the server's owner), `publisher` (an identity the operator allowed to
create databases with --allow-publish, but not this database's owner).

The intended answers follow upstream's rules (crates/client-api/src/routes/database.rs and
crates/standalone/src/lib.rs `authorize_action`: update, delete and logs are the owner's;
crates/core/src/sql/execute.rs: DML needs write access, private tables resolve only for the owner;
lifecycle reducers are never callable by clients) plus ours (docs/http-api.md, docs/deployment.md):
creating a database needs the server's owner or an allowed identity (401 without a token), snapshots are
the owner's. Scheduled reducers are private as in upstream 2.x (crates/schema/src/def/validate/v10.rs,
module_host.rs: a private reducer only for the owner), and one that checks `ctx.sender == ctx.identity`
refuses the owner too (docs/modules.md).
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from spacetimedb.control.host_backend import host_backend_factory
from spacetimedb.protocol.wire import pack_str
from spacetimedb.server.app import Server
from spacetimedb.server.publish_policy import PublishPolicy
from spacetimedb.server.tokens import TokenAuthority

from .harness import RawClient, call, one_off, subscribe

MODULE = Path(__file__).parent / "modules" / "authz.py"
ROLES = ("anonymous", "other", "owner", "publisher")


@dataclass
class Env:
    server: Server
    base: str
    loop: asyncio.AbstractEventLoop
    tokens: dict[str, str | None]

    def on_server(self, coro: Awaitable[Any]) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return fut.result(60)

    def headers(self, role: str) -> dict[str, str]:
        token = self.tokens[role]
        return {} if token is None else {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    data = tmp_path_factory.mktemp("authz") / "data"
    # The allowed publisher's identity has to be known when the server starts: mint it with the same key.
    publisher = TokenAuthority.load_or_create(data / "keys").mint_anonymous()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def boot() -> None:
        server = Server(data, backend_factory=host_backend_factory, allow_publish=PublishPolicy(frozenset({publisher.identity})))
        box["port"] = await server.start()
        await server.publish_path("main", MODULE)
        box["server"] = server

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(boot())
        except BaseException as e:  # surfaced by the fixture below
            box["error"] = e
        finally:
            started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(120)
    if "error" in box:
        raise box["error"]
    server: Server = box["server"]
    tokens = {
        "anonymous": None,
        "other": server.authority.mint_anonymous().token,
        "owner": server.owner.token,
        "publisher": publisher.token,
    }
    e = Env(server, f"http://127.0.0.1:{box['port']}", loop, tokens)
    try:
        yield e
    finally:
        e.on_server(server.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


# ---- actions: each returns an outcome to compare with the intended answer -------------------------------

_names = itertools.count()


async def _http(env: Env, role: str, method: str, path: str, **kw: Any) -> int:
    async with aiohttp.ClientSession() as s, s.request(method, env.base + path, headers=env.headers(role), **kw) as r:
        await r.read()
        return r.status


async def publish_new(env: Env, role: str) -> Any:
    name = f"new-{role}-{next(_names)}"
    status = await _http(env, role, "PUT", f"/v1/database/{name}", data=MODULE.read_bytes())
    return status, name in env.server.registry.databases


async def republish(env: Env, role: str) -> Any:
    before = env.server.registry.databases["main"].info.owner
    status = await _http(env, role, "PUT", "/v1/database/main", data=MODULE.read_bytes())
    return status, env.server.registry.databases["main"].info.owner == before


async def delete(env: Env, role: str) -> Any:
    name = f"victim-{role}-{next(_names)}"
    env.on_server(env.server.publish_path(name, MODULE))  # owned by the owner
    status = await _http(env, role, "DELETE", f"/v1/database/{name}")
    return status, name in env.server.registry.databases


async def logs(env: Env, role: str) -> Any:
    return await _http(env, role, "GET", "/v1/database/main/logs?num_lines=5")


async def snapshot(env: Env, role: str) -> Any:
    return await _http(env, role, "POST", "/v1/database/main/snapshot")


def _sql(text: str) -> Callable[[Env, str], Awaitable[Any]]:
    async def run(env: Env, role: str) -> Any:
        return await _http(env, role, "POST", "/v1/database/main/sql", data=text.encode())

    return run


_ids = itertools.count(1000)


async def sql_insert_public(env: Env, role: str) -> Any:
    return await _sql(f"INSERT INTO note (id, text) VALUES ({next(_ids)}, 'x')")(env, role)


async def sql_insert_private(env: Env, role: str) -> Any:
    return await _sql(f"INSERT INTO secret (id, text) VALUES ({next(_ids)}, 'x')")(env, role)


async def _ws(env: Env, role: str, message: bytes) -> dict[str, Any]:
    """Connect as `role`, send one message, return the reply (after InitialConnection)."""
    async with aiohttp.ClientSession() as s:
        c = await RawClient.connect(s, env.base, db="main", headers=env.headers(role))
        try:
            hello = await c.next()
            assert hello["type"] == "InitialConnection", hello
            await c.send(message)
            return await c.next()
        finally:
            await c.ws.close()


def _subscribe(query: str) -> Callable[[Env, str], Awaitable[Any]]:
    async def run(env: Env, role: str) -> Any:
        reply = await _ws(env, role, subscribe(1, 1, query))
        return {"SubscribeApplied": "ok", "SubscriptionError": "error"}[reply["type"]]

    return run


def _one_off(query: str) -> Callable[[Env, str], Awaitable[Any]]:
    async def run(env: Env, role: str) -> Any:
        reply = await _ws(env, role, one_off(1, query))
        assert reply["type"] == "OneOffQueryResult", reply
        return "ok" if "ok" in reply else "error"

    return run


def _call_http(reducer: str, args: str) -> Callable[[Env, str], Awaitable[Any]]:
    async def run(env: Env, role: str) -> Any:
        headers = {**env.headers(role), "Content-Type": "application/json"}
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{env.base}/v1/database/main/call/{reducer}", data=args, headers=headers) as r:
                await r.read()
                return r.status

    return run


def _call_ws(reducer: str, args: Callable[[], bytes]) -> Callable[[Env, str], Awaitable[Any]]:
    async def run(env: Env, role: str) -> Any:
        reply = await _ws(env, role, call(7, reducer, args()))
        assert reply["type"] == "ReducerResult", reply
        return "ok" if "ok" in reply else "error"

    return run


# ---- the matrix ----------------------------------------------------------------------------------------

A, OT, W, P = ROLES
MATRIX: dict[str, tuple[Callable[[Env, str], Awaitable[Any]], dict[str, Any]]] = {
    # creating: the server's owner and allowed identities; 401 without a token, 403 otherwise
    "publish": (publish_new, {A: (401, False), OT: (403, False), W: (200, True), P: (200, True)}),
    # an existing database: its owner only (upstream: authorize_action UpdateDatabase / DeleteDatabase)
    "republish": (republish, {A: (403, True), OT: (403, True), W: (200, True), P: (403, True)}),
    "delete": (delete, {A: (403, True), OT: (403, True), W: (200, False), P: (403, True)}),
    "logs": (logs, {A: 403, OT: 403, W: 200, P: 403}),
    "snapshot": (snapshot, {A: 403, OT: 403, W: 200, P: 403}),
    # SQL: public tables for everyone, private ones resolve only for the owner; DML is the owner's
    "sql read public": (_sql("SELECT * FROM note"), {A: 200, OT: 200, W: 200, P: 200}),
    "sql read private": (_sql("SELECT * FROM secret"), {A: 400, OT: 400, W: 200, P: 400}),
    "sql insert public": (sql_insert_public, {A: 403, OT: 403, W: 200, P: 403}),
    "sql insert private": (sql_insert_private, {A: 403, OT: 403, W: 200, P: 403}),
    # WebSocket queries: the same table visibility
    "subscribe public": (_subscribe("SELECT * FROM note"), {A: "ok", OT: "ok", W: "ok", P: "ok"}),
    "subscribe private": (_subscribe("SELECT * FROM secret"), {A: "error", OT: "error", W: "ok", P: "error"}),
    "one-off public": (_one_off("SELECT * FROM note"), {A: "ok", OT: "ok", W: "ok", P: "ok"}),
    "one-off private": (_one_off("SELECT * FROM secret"), {A: "error", OT: "error", W: "ok", P: "error"}),
    # reducers: anyone; lifecycle reducers: no one (HTTP 400, WebSocket error)
    "call reducer http": (_call_http("add_note", "[0, \"hi\"]"), {A: 200, OT: 200, W: 200, P: 200}),
    "call reducer ws": (_call_ws("add_note", lambda: struct.pack("<Q", next(_ids)) + pack_str("ws")), {A: "ok", OT: "ok", W: "ok", P: "ok"}),
    "call init http": (_call_http("setup", "[]"), {A: 400, OT: 400, W: 400, P: 400}),
    "call client_connected http": (_call_http("connected", "[]"), {A: 400, OT: 400, W: 400, P: 400}),
    "call init ws": (_call_ws("setup", lambda: b""), {A: "error", OT: "error", W: "error", P: "error"}),
    # scheduled reducers are private (upstream 2.x): only the owner may call one directly, and a reducer
    # that checks `ctx.sender == ctx.identity` refuses even the owner (docs/modules.md)
    "call scheduled unguarded": (_call_http("open_tick", '[[0, {"Time": 0}]]'), {A: 404, OT: 404, W: 200, P: 404}),
    "call scheduled guarded": (_call_http("guarded_tick", '[[0, {"Time": 0}]]'), {A: 404, OT: 404, W: 530, P: 404}),
}

CELLS = [(action, role) for action in MATRIX for role in ROLES]


@pytest.mark.parametrize("action,role", CELLS, ids=[f"{a}-{r}" for a, r in CELLS])
def test_authorization_matrix(env: Env, action: str, role: str) -> None:
    run, expected = MATRIX[action]
    got = asyncio.run(run(env, role))
    assert got == expected[role], f"{action} as {role}: got {got!r}, intended {expected[role]!r}"
