"""Client caches under gzip (issue 10; upstream #5730): the npm SDK 2.10.1 decompresses each frame
asynchronously and applies frames in the order decompression finishes, so a small plain frame can
overtake a larger compressed one. The server never compresses on a Gzip connection (see
docs/http-api.md, "Compression"); with it, a gzip client's cache ends equal to /sql every time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from spacetimedb.control.host_backend import host_backend_factory
from spacetimedb.server.app import Server

from .node_runner import needs_node, run_node_script

KV = Path(__file__).parent / "modules" / "kv.py"
ROUNDS = 40


@pytest.mark.node
@needs_node
@pytest.mark.parametrize("protocols", [("v3.bsatn.spacetimedb", "v2.bsatn.spacetimedb"), ("v2.bsatn.spacetimedb",)])
def test_gzip_client_cache_matches_sql_after_pipelined_upserts(tmp_path: Path, protocols: tuple[str, ...]) -> None:
    async def main() -> None:
        server = Server(tmp_path / "data", backend_factory=host_backend_factory, protocols=protocols)
        port = await server.start()
        base = f"http://127.0.0.1:{port}"
        try:
            await server.publish_path("kv", KV)
            lines = await run_node_script("gzip_order.mjs", str(ROUNDS), "gzip", base=base, db="kv", timeout=120)
            summary = next(line for line in lines if line.get("step") == "summary")
            stale = [line for line in lines if line.get("step") == "round"]
            assert summary["stale"] == 0, f"{summary['stale']}/{ROUNDS} rounds ended with an old row: {stale[:5]}"
            async with aiohttp.ClientSession() as s:
                async with s.post(f"{base}/v1/database/kv/sql", data="SELECT value FROM kv WHERE id = 1") as r:
                    [[value]] = (await r.json())[0]["rows"]
            assert value.split(":")[:2] == summary["last"].split(":") and len(value) == summary["length"]
        finally:
            await server.stop()

    asyncio.run(main())
