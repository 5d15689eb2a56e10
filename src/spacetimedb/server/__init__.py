"""The server's front: SpacetimeDB 2.x's HTTP API and WebSocket protocol (v2/v3) over the hosted
databases of `spacetimedb.control`.

    from spacetimedb.server import run_server
    run_server("127.0.0.1:3000", "./data", publish=[("chat", "examples/quickstart_chat.py")])

`Server` is the embeddable form (start on a port, publish, stop); `spacetimedb.control.backend.
DatabaseBackend` is the interface a hosted database implements (`HostBackend` over the real host).
See docs/http-api.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spacetimedb.server.app import Server, run_server

__all__ = ["Server", "run_server"]


def __getattr__(name: str) -> Any:
    # Lazy: importing the package (e.g. for spacetimedb.server.tokens) must not pull in aiohttp.
    if name in ("Server", "run_server"):
        from spacetimedb.server import app

        return getattr(app, name)
    raise AttributeError(name)
