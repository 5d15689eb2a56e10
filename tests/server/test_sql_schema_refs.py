"""/sql result schemas hold no typespace refs (as upstream's resolved column schemas), except the
self-reference of a recursive column type, which cannot be inlined."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from spacetimedb.server.app import Server

from .test_host_e2e import run_chat

TREE = Path(__file__).resolve().parents[1] / "module" / "modules" / "tree.py"


def test_a_recursive_column_is_expanded_once_in_the_sql_schema(tmp_path: Path) -> None:
    async def scenario(server: Server, base: str) -> list[dict[str, object]]:
        async with aiohttp.ClientSession() as s:
            args = [1, {"label": "a", "children": [{"label": "b", "children": []}]}]
            async with s.post(f"{base}/v1/database/chat/call/plant", json=args) as r:
                assert r.status == 200, await r.text()
            owner = {"Authorization": f"Bearer {server.owner.token}"}  # tree is a private table
            async with s.post(f"{base}/v1/database/chat/sql", data="SELECT * FROM tree", headers=owner) as r:
                assert r.status == 200, await r.text()
                return await r.json()  # type: ignore[no-any-return]

    [result] = run_chat(tmp_path, scenario, module=TREE)
    assert result["rows"] == [[1, ["a", [["b", []]]]]]
    root = result["schema"]["elements"][1]["algebraic_type"]  # type: ignore[index]
    node = root["Product"]["elements"]
    assert [e["name"]["some"] for e in node] == ["label", "children"]
    assert node[0]["algebraic_type"] == {"String": []}
    # The children array's element is the node type itself: the one ref left, closing the cycle.
    [elem] = node[1]["algebraic_type"]["Array"].values()
    assert list(node[1]["algebraic_type"]["Array"]) == ["Ref"] and isinstance(elem, int)
    assert json.dumps(result["schema"]).count("Ref") == 1
