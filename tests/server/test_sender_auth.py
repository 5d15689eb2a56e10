"""`ctx.sender_auth` end to end: the claims of the token a client presents over HTTP /call and
over the WebSocket reach the reducer (and client_connected), on the real host."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import aiohttp

from spacetimedb.protocol.wire import pack_str
from spacetimedb.server.app import Server

from .harness import RawClient, call
from .test_host_e2e import run_chat

MODULE = Path(__file__).parent / "modules" / "sender_auth.py"


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


async def _seen(s: aiohttp.ClientSession, base: str, subject: str) -> list[list[Any]]:
    """What the module recorded for calls by the token with this subject, in order."""
    sql = "SELECT id, how, subject, issuer, audience, internal, same_identity FROM seen"
    async with s.post(f"{base}/v1/database/chat/sql", data=sql) as r:
        assert r.status == 200, await r.text()
        rows = sorted((await r.json())[0]["rows"])
    return [row[1:] for row in rows if row[2] == subject]


def test_reducers_read_the_callers_jwt_claims_over_http_call_and_websocket(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> None:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/v1/identity") as r:
                token = (await r.json())["token"]
            claims = _payload(token)
            auth = {"Authorization": f"Bearer {token}"}
            async with s.post(f"{base}/v1/database/chat/call/whoami", json=["http"], headers=auth) as r:
                assert r.status == 200, await r.text()
            expected = [claims["sub"], claims["iss"], ",".join(claims["aud"]), False, True]
            # The transient connection of /call runs client_connected with the same token.
            assert await _seen(s, base, claims["sub"]) == [["connect", *expected], ["http", *expected]]

            other = await RawClient.connect(s, base, db="chat")  # no token: the server mints one
            init = await other.next()
            await other.send(call(1, "whoami", pack_str("ws")))
            await other.frame()
            ws_claims = _payload(init["token"])
            ws_expected = [ws_claims["sub"], ws_claims["iss"], "spacetimedb", False, True]
            assert await _seen(s, base, ws_claims["sub"]) == [["connect", *ws_expected], ["ws", *ws_expected]]
            assert ws_claims["sub"] != claims["sub"]

    run_chat(tmp_path, scenario, module=MODULE)
