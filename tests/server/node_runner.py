"""Running the Node conformance scripts (tests/node/*.mjs) against a server on a free port."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).resolve().parent.parent / "node"

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules" / "spacetimedb").exists(),
    reason="needs node and the pinned SDK in tests/node/node_modules (scripts/test installs them)",
)


async def run_node_script(script: str, *args: str, base: str, db: str, env: dict[str, str] | None = None, timeout: float = 30) -> list[dict[str, Any]]:
    """Run a script; returns its JSON lines. Fails the test with its output if it exits nonzero."""
    full_env = {**os.environ, "STDB_URI": base.replace("http", "ws", 1), "STDB_DB": db, **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        "node", str(NODE_DIR / script), *args,
        cwd=NODE_DIR, env=full_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    lines = []
    for line in out.decode().splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            lines.append({"text": line})
    if proc.returncode != 0:
        pytest.fail(f"{script} {' '.join(args)} exited {proc.returncode}\nstdout:\n{out.decode()}\nstderr:\n{err.decode()[-3000:]}")
    return lines
