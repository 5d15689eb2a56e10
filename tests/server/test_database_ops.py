"""The HTTP routes through control/database_ops.py: what changed with the split (the rest is
covered by test_http.py and the other route tests, unchanged)."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from spacetimedb.server.app import Server

from .harness import backend_of, run_scenario


def test_sql_rejects_a_bad_confirmed_flag_before_running_the_statement(tmp_path: Path) -> None:
    """`?confirmed=maybe` is a 400 and the INSERT did not run (it used to be checked only after)."""

    async def scenario(server: Server, base: str) -> None:
        owner = {"Authorization": f"Bearer {server.owner.token}"}
        url = f"{base}/v1/database/test/sql"
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{url}?confirmed=maybe", data="INSERT INTO person VALUES (7, 'x')", headers=owner) as r:
                assert r.status == 400 and "confirmed" in await r.text()
            assert 7 not in backend_of(server).rows["person"]
            async with s.post(f"{url}?confirmed=true", data="INSERT INTO person VALUES (7, 'x')", headers=owner) as r:
                assert r.status == 200
            assert backend_of(server).rows["person"][7] == (7, "x")

    run_scenario(tmp_path, scenario)
