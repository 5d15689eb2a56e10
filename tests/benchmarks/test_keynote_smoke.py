"""Runs benchmarks/keynote.py end to end in a tiny configuration, so the benchmark cannot rot.

Every available system runs (a system whose dependency is missing must be skipped with a reason);
no timing is asserted, only that transfers succeeded and the balance sum held.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE_SDK = REPO / "tests" / "node" / "node_modules" / "spacetimedb"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(shutil.which("node") is None or not NODE_SDK.exists(), reason="needs node and tests/node"),
]


def test_tiny_keynote_run_measures_every_available_system(tmp_path: Path) -> None:
    out = tmp_path / "keynote.json"
    argv = [sys.executable, str(REPO / "benchmarks" / "keynote.py"), "--seconds", "0.8", "--warmup", "0.2",
            "--clients", "2", "--inflight", "2", "--accounts", "500", "--pairs", "5000", "--pg-pool", "4",
            "--json", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    ran = [s for s in report["systems"] if not s["skipped"]]
    assert any(s["system"] == "aiohttp+sqlite" for s in ran), proc.stdout
    for s in report["systems"]:
        if s["skipped"]:
            assert len(s["skipped"]) > 10  # a reason, with what to install
            continue
        assert s["failed"] is None, s
        assert s["sum_check"].startswith("ok"), s
        assert [m["alpha"] for m in s["measurements"]] == [0.0, 1.5]
        assert all(m["ok"] > 0 for m in s["measurements"]), s
    assert "alpha 0:" in proc.stdout and "alpha 1.5:" in proc.stdout
