"""A module's HTTP handlers at `/v1/database/:name/route/*path`, over real HTTP against a real
server and host: routing, upstream's 404 for an unknown route or method, the body limit, failing
and runaway handlers, and the payment webhook example end to end (`/sql` sees what it wrote)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from spacetimedb.control.host_backend import host_backend_factory_with
from spacetimedb.server.app import Server
from spacetimedb.server.routes_http_handlers import MAX_ROUTE_REQUEST_BYTES, NO_SUCH_ROUTE

from .harness import RawClient, subscribe

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Written to a temporary file per test (kept out of the module tree: it is not an example).
ROUTES_MODULE = '''
from typing import Annotated
from spacetimedb import HandlerContext, Request, Response, Router, http_handler, primary_key, table, u32

@table(public=True)
class Note:
    id: Annotated[u32, primary_key]
    text: str

@http_handler
def echo(ctx: HandlerContext, req: Request) -> Response:
    return Response.json({"method": req.method, "path": req.path, "query": req.query,
                          "header": req.headers.get("x-test"), "body": req.text()},
                         headers={"X-Handler": "echo"})

@http_handler
def root(ctx: HandlerContext, req: Request) -> Response:
    return Response.text("root:" + repr(req.path))

@http_handler
def boom(ctx: HandlerContext, req: Request) -> Response:
    raise RuntimeError("secret detail 42")

@http_handler
def not_a_response(ctx: HandlerContext, req: Request) -> Response:
    return "hello"  # type: ignore[return-value]

@http_handler
def rollback(ctx: HandlerContext, req: Request) -> Response:
    def body(tx):
        tx.db.note.insert(Note(id=7, text="never"))
        raise ValueError("undo")
    ctx.with_tx(body)
    return Response.text("unreachable")

@http_handler
def write(ctx: HandlerContext, req: Request) -> Response:
    n = ctx.with_tx(lambda tx: tx.db.note.insert(Note(id=int(req.query["id"]), text=req.text())))
    return Response(201, {"Content-Type": "text/plain"}, str(n.id))

@http_handler
def status(ctx: HandlerContext, req: Request) -> Response:
    if "raw" in req.query:
        r = Response()
        r.status = int(req.query["raw"])  # past the constructor's check
        return r
    return Response(int(req.query["s"]))

@http_handler
def spin(ctx: HandlerContext, req: Request) -> Response:
    while True:
        pass

@http_handler
def no_db(ctx: HandlerContext, req: Request) -> Response:
    try:
        ctx.db
    except AttributeError as e:
        return Response.text(str(e), status=409)
    return Response.text("had a db")

admin = Router().get("/status", echo).any("/echo", echo)
router = (
    Router()
    .any("", root)
    .get("/", root)
    .get("/echo", echo)
    .post("/echo", echo)
    .get("/boom", boom)
    .get("/bad", not_a_response)
    .post("/rollback", rollback)
    .post("/write", write)
    .get("/spin", spin)
    .get("/status", status)
    .get("/no-db", no_db)
    .nest("/admin", admin)
)
'''


def run(
    tmp_path: Path, module: Path, scenario: Callable[[Server, str, aiohttp.ClientSession], Awaitable[Any]], **kw: Any
) -> Any:
    async def main() -> Any:
        server = Server(tmp_path / "data", backend_factory=host_backend_factory_with(None, kw.get("limit", 10.0)))
        port = await server.start()
        try:
            await server.publish_path("db", module)
            async with aiohttp.ClientSession() as s:
                return await asyncio.wait_for(scenario(server, f"http://127.0.0.1:{port}/v1/database/db", s), 60)
        finally:
            await server.stop()

    return asyncio.run(main())


def routes_module(tmp_path: Path) -> Path:
    p = tmp_path / "routes.py"
    p.write_text(ROUTES_MODULE)
    return p


async def sql(s: aiohttp.ClientSession, base: str, query: str) -> list[list[Any]]:
    async with s.post(f"{base}/sql", data=query) as r:
        assert r.status == 200, await r.text()
        rows: list[list[Any]] = (await r.json())[0]["rows"]
        return rows


def test_get_post_nested_and_root_routes(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str, s: aiohttp.ClientSession) -> None:
        async with s.get(f"{base}/route/echo?a=1&b=x%20y", headers={"X-Test": "hdr"}) as r:
            assert r.status == 200 and r.headers["X-Handler"] == "echo"
            assert r.headers["Content-Type"].startswith("application/json")
            assert await r.json() == {"method": "GET", "path": "/echo", "query": {"a": "1", "b": "x y"}, "header": "hdr", "body": ""}
        async with s.post(f"{base}/route/echo", data="payload") as r:
            assert r.status == 200 and (await r.json())["body"] == "payload"
        async with s.get(f"{base}/route/admin/status") as r:
            assert r.status == 200 and (await r.json())["path"] == "/admin/status"
        async with s.delete(f"{base}/route/admin/echo") as r:  # an `any` route takes every method
            assert r.status == 200 and (await r.json())["method"] == "DELETE"
        async with s.put(f"{base}/route") as r:  # `/route` is the path "" (routed `any`)
            assert r.status == 200 and await r.text() == "root:''"
        async with s.get(f"{base}/route/") as r:  # `/route/` is the path "/"
            assert r.status == 200 and await r.text() == "root:'/'"
        # Unauthenticated, as upstream: a webhook's own Authorization reaches the module, no token is minted.
        for auth in ["Bearer not-a-spacetimedb-token", "Basic dXNlcjpwYXNz", "Bearer \u00e9"]:
            async with s.get(f"{base}/route/echo", headers={"Authorization": auth, "X-Test": auth}) as r:
                assert r.status == 200 and (await r.json())["header"] == auth
                assert "spacetime-identity" not in r.headers and "spacetime-identity-token" not in r.headers
        async with s.post(f"{base}/route/write?id=3", data="from http") as r:
            assert r.status == 201 and await r.text() == "3"
        assert await sql(s, base, "SELECT * FROM note") == [[3, "from http"]]

    run(tmp_path, routes_module(tmp_path), scenario)


def test_unknown_route_wrong_method_and_oversized_body(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str, s: aiohttp.ClientSession) -> None:
        for method, path in [("GET", "/nope"), ("GET", "/echo/"), ("GET", "/ECHO"), ("DELETE", "/echo"), ("POST", "/boom")]:
            async with s.request(method, f"{base}/route{path}") as r:
                assert (r.status, await r.text()) == (404, NO_SUCH_ROUTE), (method, path)
        async with s.get(f"{base.rsplit('/', 1)[0]}/nodb/route/echo") as r:
            assert r.status == 404
        async with s.post(f"{base}/route/echo", data=b"x" * (MAX_ROUTE_REQUEST_BYTES + 1)) as r:
            assert r.status == 413
        async with s.post(f"{base}/route/nope", data=b"x" * (MAX_ROUTE_REQUEST_BYTES + 1)) as r:
            assert r.status == 404  # routed before the body is read, as upstream
        async with s.post(f"{base}/route/echo", data=b"x" * MAX_ROUTE_REQUEST_BYTES) as r:
            assert r.status == 200 and len((await r.json())["body"]) == MAX_ROUTE_REQUEST_BYTES

    run(tmp_path, routes_module(tmp_path), scenario)


def test_failing_handlers_answer_500_and_log_the_traceback(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str, s: aiohttp.ClientSession) -> None:
        owner = {"Authorization": f"Bearer {server.owner.token}"}
        async with s.get(f"{base}/route/boom") as r:
            text = await r.text()
            assert r.status == 500 and "secret detail" not in text and "log" in text
        async with s.get(f"{base}/route/bad") as r:
            assert r.status == 500
        async with s.post(f"{base}/route/rollback") as r:
            assert r.status == 500
        assert await sql(s, base, "SELECT * FROM note") == []  # the failed with_tx rolled back
        for query in ["s=100", "s=101", "s=600", "raw=100", "raw=101"]:  # no 1xx: a client would wait on
            async with s.get(f"{base}/route/status?{query}") as r:
                assert r.status == 500, query
        async with s.get(f"{base}/route/status?s=204") as r:
            assert r.status == 204
        async with s.get(f"{base}/route/no-db") as r:
            assert r.status == 409 and "with_tx" in await r.text()
        async with s.get(f"{base}/logs", headers=owner) as r:
            logs = await r.text()
        assert "RuntimeError: secret detail 42" in logs and "Traceback" in logs
        assert "must return a Response" in logs

    run(tmp_path, routes_module(tmp_path), scenario)


def test_runaway_handler_is_interrupted_and_the_database_keeps_serving(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str, s: aiohttp.ClientSession) -> None:
        async with s.get(f"{base}/route/spin") as r:
            assert r.status == 500
        async with s.get(f"{base}/route/echo") as r:
            assert r.status == 200

    run(tmp_path, routes_module(tmp_path), scenario, limit=0.3)


def test_payment_webhook_end_to_end(tmp_path: Path) -> None:
    import hashlib
    import hmac

    def sign(secret: str, body: bytes) -> str:
        return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    async def scenario(server: Server, base: str, s: aiohttp.ClientSession) -> None:
        owner = {"Authorization": f"Bearer {server.owner.token}"}
        hook = f"{base}/route/payments/webhook"
        body = json.dumps({"order_id": "A-1", "amount_cents": 1250, "currency": "EUR"}).encode()
        async with s.get(f"{base}/route/health") as r:
            assert r.status == 200 and await r.text() == "ok"
        async with s.post(hook, data=body, headers={"X-Signature": sign("s3cret", body)}) as r:
            assert r.status == 503  # no secret configured yet
        async with s.post(f"{base}/call/set_webhook_secret", json=["s3cret"]) as r:
            assert r.status == 530  # not the owner
        async with s.post(f"{base}/call/set_webhook_secret", json=["s3cret"], headers=owner) as r:
            assert r.status == 200, await r.text()

        # A subscriber sees the webhook's write like a reducer's.
        c = await RawClient.connect(s, base.rsplit("/v1/", 1)[0], db="db")
        await c.next()
        await c.send(subscribe(0, 0, "SELECT * FROM payment"))
        await c.next()

        for bad in ["", "0" * 64, sign("wrong", body), sign("s3cret", body + b" ")]:
            async with s.post(hook, data=body, headers={"X-Signature": bad}) as r:
                assert r.status == 401
        assert await sql(s, base, "SELECT order_id FROM payment") == []

        async with s.post(hook, data=body, headers={"X-Signature": sign("s3cret", body)}) as r:
            assert r.status == 201 and await r.json() == {"order_id": "A-1", "created": True}
        update = await c.next()
        [table] = update["query_sets"][0]["tables"]
        assert table["table"] == "payment" and len(table["rows"][0]["inserts"]) == 1
        assert await sql(s, base, "SELECT order_id, amount_cents, currency FROM payment") == [["A-1", 1250, "EUR"]]

        async with s.post(hook, data=body, headers={"X-Signature": sign("s3cret", body)}) as r:
            assert r.status == 200 and (await r.json())["created"] is False  # a retried delivery
        junk = b"not json"
        async with s.post(hook, data=junk, headers={"X-Signature": sign("s3cret", junk)}) as r:
            assert r.status == 400
        async with s.get(f"{base}/route/payments") as r:
            assert await r.json() == [{"order_id": "A-1", "amount_cents": 1250, "currency": "EUR"}]
        async with s.get(hook) as r:
            assert r.status == 404  # the webhook takes POST only

    run(tmp_path, EXAMPLES / "webhook.py", scenario)


def test_with_tx_commits_survive_a_restart(tmp_path: Path) -> None:
    module = routes_module(tmp_path)

    async def first(server: Server, base: str, s: aiohttp.ClientSession) -> None:
        async with s.post(f"{base}/route/write?id=9", data="durable") as r:
            assert r.status == 201

    run(tmp_path, module, first)

    async def second(server: Server, base: str, s: aiohttp.ClientSession) -> None:
        assert await sql(s, base, "SELECT * FROM note") == [[9, "durable"]]
        async with s.post(f"{base}/route/write?id=10", data="after") as r:  # tx offsets go on from the log
            assert r.status == 201
        assert sorted(await sql(s, base, "SELECT id FROM note")) == [[9], [10]]

    run(tmp_path, module, second)  # publishing the same module again keeps the data
