"""The pinned npm SDK against our server hosting the fake module (protocol conformance)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spacetimedb.server.app import Server

from .harness import run_scenario
from .node_runner import needs_node, run_node_script

pytestmark = [pytest.mark.node, needs_node]


@pytest.mark.parametrize(
    "scenario,env",
    [
        ("connect", {}),
        ("reauth", {}),
        ("reducers", {"STDB_COMPRESSION": "gzip"}),
        ("reducers", {"STDB_COMPRESSION": "none"}),
        ("two_clients", {}),
        ("filter_unsubscribe", {}),
        ("overlapping", {}),
        ("subscription_error", {}),
    ],
)
def test_sdk_scenario(tmp_path: Path, scenario: str, env: dict[str, str]) -> None:
    async def run(server: Server, base: str) -> None:
        lines = await run_node_script("conformance_fake.mjs", scenario, base=base, db="test", env=env)
        assert lines[-1] == {"step": "done"}

    run_scenario(tmp_path, run)


def test_sdk_on_v2_only_server(tmp_path: Path) -> None:
    async def run(server: Server, base: str) -> None:
        await run_node_script("conformance_fake.mjs", "reducers", base=base, db="test")

    run_scenario(tmp_path, run, protocols=("v2.bsatn.spacetimedb",))
