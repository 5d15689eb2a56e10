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


#: What the front may not reach into: a hosted database's backend, worker, subscriptions, or its
#: worker-side methods (a closure run there could not cross into a database process).
_INSIDE_A_DATABASE = frozenset(
    {"backend", "worker", "subscriptions", "call", "submit", "send", "connect", "disconnect", "http_session", "broadcast"}
)


def test_the_server_layer_asks_databases_only_through_named_operations() -> None:
    """docs/architecture.md, "Database processes": the front talks to a database through
    control/database_ops.py (and `submit_frame`), never by handing it closures or reading its
    backend, so each operation can become one request to a database process."""
    import ast

    import spacetimedb.server

    found = []
    for path in sorted(Path(spacetimedb.server.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in _INSIDE_A_DATABASE:
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert found == []
