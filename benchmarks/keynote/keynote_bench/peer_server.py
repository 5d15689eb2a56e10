"""The JSON-RPC peer server a Python developer would write: aiohttp, `POST /rpc`, over SQLite or PostgreSQL.

Run: python -m keynote_bench.peer_server --backend sqlite --path FILE --port P
     python -m keynote_bench.peer_server --backend postgres --dsn DSN --pool 64 --port P
Requests: {"name": "transfer"|"seed"|"verify"|"health", "args": {...}}; answers {"ok": true[, "result": ...]}
or, with HTTP 500, {"ok": false, "error": "..."} (upstream's peers answer the same way).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from keynote_bench.peer_errors import TransferRefused


class Bank(Protocol):
    async def transfer(self, from_id: int, to_id: int, amount: int) -> None: ...
    async def seed(self, n: int, balance: int) -> None: ...
    async def verify(self) -> tuple[int, int]: ...
    async def close(self) -> None: ...


class BadRequest(Exception):
    """The request body is not a JSON-RPC call this server knows."""


_OK = web.Response(text='{"ok":true}', content_type="application/json")


def _int_arg(args: dict[str, Any], *names: str) -> int:
    for name in names:
        value = args.get(name)
        if value is not None:
            try:
                return int(value)
            except (TypeError, ValueError) as err:
                raise BadRequest(f"argument {name!r} must be an integer, got {value!r}") from err
    raise BadRequest(f"missing argument {names[0]!r}")


def make_app(bank: Bank) -> web.Application:
    async def transfer(args: dict[str, Any]) -> Any:
        await bank.transfer(_int_arg(args, "from_id", "from"), _int_arg(args, "to_id", "to"), _int_arg(args, "amount"))
        return None

    async def seed(args: dict[str, Any]) -> Any:
        await bank.seed(_int_arg(args, "accounts", "n"), _int_arg(args, "initialBalance", "balance"))
        return None

    async def verify(args: dict[str, Any]) -> Any:
        count, total = await bank.verify()
        return {"count": count, "total": str(total)}

    async def health(args: dict[str, Any]) -> Any:
        return {"status": "ok"}

    methods: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
        "transfer": transfer,
        "seed": seed,
        "verify": verify,
        "health": health,
    }

    async def rpc(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
            if not isinstance(body, dict) or not isinstance(body.get("name"), str):
                raise BadRequest('expected {"name": "...", "args": {...}}')
            method = methods.get(body["name"])
            if method is None:
                raise BadRequest(f"unknown method {body['name']!r}; known: {', '.join(methods)}")
            args = body.get("args") or {}
            if not isinstance(args, dict):
                raise BadRequest('"args" must be an object')
            result = await method(args)
        except (BadRequest, json.JSONDecodeError) as err:
            return web.json_response({"ok": False, "error": str(err)}, status=400)
        except TransferRefused as err:
            return web.json_response({"ok": False, "error": str(err)}, status=500)
        except Exception as err:  # a database failure: report it, keep serving
            return web.json_response({"ok": False, "error": f"{type(err).__name__}: {err}"}, status=500)
        if result is None:
            return web.Response(body=_OK.body, content_type="application/json")
        return web.json_response({"ok": True, "result": result})

    app = web.Application()
    app.router.add_post("/rpc", rpc)

    async def close_bank(_app: web.Application) -> None:
        await bank.close()

    app.on_cleanup.append(close_bank)
    return app


async def open_bank(opts: argparse.Namespace) -> Bank:
    if opts.backend == "sqlite":
        from keynote_bench.peer_sqlite import SqliteBank

        return SqliteBank(opts.path, opts.synchronous)
    from keynote_bench.peer_postgres import PostgresBank

    return await PostgresBank.connect(opts.dsn, opts.pool)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--path", help="SQLite database file")
    parser.add_argument("--synchronous", choices=["NORMAL", "FULL"], default="NORMAL",
                        help="SQLite's synchronous pragma (upstream: NORMAL, no sync per commit in WAL mode)")
    parser.add_argument("--dsn", help="PostgreSQL DSN")
    parser.add_argument("--pool", type=int, default=64, help="PostgreSQL pool size (upstream: 64)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    opts = parser.parse_args(argv)
    if opts.backend == "sqlite" and not opts.path:
        parser.error("--backend sqlite needs --path")
    if opts.backend == "postgres" and not opts.dsn:
        parser.error("--backend postgres needs --dsn")
    try:
        import uvloop

        uvloop.install()  # the same event loop our server uses
    except ImportError:
        pass
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    bank = loop.run_until_complete(open_bank(opts))
    web.run_app(make_app(bank), host=opts.host, port=opts.port, access_log=None, print=None, loop=loop)


if __name__ == "__main__":
    main()
