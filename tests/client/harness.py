"""A real server (host backend) on 127.0.0.1 for client tests, started inside the test's loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from spacetimedb.control.host_backend import host_backend_factory
from spacetimedb.server.app import Server

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "examples" / "quickstart_chat.py"


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (bounded) until `predicate()` holds; fails the test on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def run_with_server(
    tmp_path: Path,
    scenario: Callable[[Server, str], Awaitable[T]],
    modules: dict[str, Path] | None = None,
    **server_kw: Any,
) -> T:
    async def main() -> T:
        server = Server(tmp_path / "data", backend_factory=host_backend_factory, **server_kw)
        port = await server.start()
        try:
            for name, path in (modules or {"chat": CHAT}).items():
                await server.publish_path(name, path)
            return await asyncio.wait_for(scenario(server, f"ws://127.0.0.1:{port}"), 90)
        finally:
            await server.stop()

    return asyncio.run(main())
