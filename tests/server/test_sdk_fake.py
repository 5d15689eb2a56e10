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


def test_sdk_applies_a_v3_frame_of_several_held_commits_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Confirmed reads hold every update until the (fake) log is durable; released together, each
    watcher gets several commits in one shared v3 frame, and the npm SDK applies them in order."""
    import asyncio

    from spacetimedb.server import ws_session

    from .fake_backend import FakeBackend

    gate = asyncio.Event()
    frames: list[int] = []
    real = ws_session.shared_frame

    def recording(messages, cache, compression):  # type: ignore[no-untyped-def]
        frames.append(sum(1 for m in messages if m[:1] == b"\x04"))  # TransactionUpdates in the frame
        return real(messages, cache, compression)

    monkeypatch.setattr(ws_session, "shared_frame", recording)

    async def run(server: Server, base: str) -> None:
        backend = server.registry.databases["test"].backend
        assert isinstance(backend, FakeBackend)
        script = asyncio.ensure_future(run_node_script("conformance_fake.mjs", "held_batch", base=base, db="test"))
        while len(backend.rows["person"]) < 4 and not script.done():
            await asyncio.sleep(0.02)
        gate.set()
        lines = await script
        assert lines[-1] == {"step": "done"}
        # Commits batched into a frame (single-message frames may come from the cache unrecorded).
        assert max(frames) >= 2, frames

    run_scenario(tmp_path, run, factory=lambda spec: FakeBackend(spec, durability_gate=gate))
