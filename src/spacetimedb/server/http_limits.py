"""Limits on how clients send HTTP requests: read timeouts and JSON nesting.

A client that opens a connection and trickles (or never finishes) its headers or body would otherwise
hold a connection and its buffers forever. The header timeout is aiohttp's keep-alive timer, which
starts when a connection opens and again after each response, and closes the connection if no
complete request head arrived by then (so it also bounds idle keep-alive connections). The body
timeout bounds reading a request body; past it the client gets 408 and the connection is closed.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

#: How deeply a JSON request body (reducer arguments) may nest arrays and objects. SATS-JSON nests
#: one level per product, sum or array; no real argument type comes near this.
MAX_JSON_DEPTH = 128


@dataclass(frozen=True, slots=True)
class HttpLimits:
    #: Seconds from connection open (or the end of the previous response) to a complete request head.
    header_timeout_s: float = 30.0
    #: Seconds to receive a whole request body once its head arrived.
    body_timeout_s: float = 60.0

    def runner_kwargs(self) -> dict[str, Any]:
        """aiohttp's request handler options that enforce the header timeout."""
        return {"keepalive_timeout": self.header_timeout_s}


LIMITS_KEY: web.AppKey[HttpLimits] = web.AppKey("http_limits", HttpLimits)


class SlowBody(Exception):
    """The request body did not arrive within the body timeout."""


async def read_body(request: web.Request) -> bytes:
    """The whole request body, or SlowBody once the body timeout passes (see `slow_body_middleware`)."""
    limits = request.app.get(LIMITS_KEY) or HttpLimits()
    try:
        async with asyncio.timeout(limits.body_timeout_s):
            return await request.read()
    except TimeoutError as e:
        raise SlowBody(f"the request body did not arrive within {limits.body_timeout_s:g} s") from e


@web.middleware
async def slow_body_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Answer a too-slow body with 408 and drop the connection (the rest of the body is not waited for)."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except SlowBody as e:
        response = web.Response(status=408, text=str(e))
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        request.protocol.force_close()  # no lingering read of the rest of the body
        return response


class TooDeep(ValueError):
    """A JSON document nested deeper than MAX_JSON_DEPTH."""


def loads_bounded(body: bytes) -> Any:
    """`json.loads` that refuses documents nested deeper than MAX_JSON_DEPTH with TooDeep (a ValueError),
    never RecursionError."""
    too_deep = TooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(body)
    except RecursionError:
        raise too_deep from None
    # Depth > limit needs more than `limit` brackets: only then walk the value (iteratively).
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _deeper_than(value, MAX_JSON_DEPTH):
        raise too_deep
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, list):
            children: Any = item
        elif isinstance(item, dict):
            children = item.values()
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, list | dict))
    return False
