"""Every benchmark script runs in its smallest configuration, so none of them rots between releases.

No timing assertions: only that each finishes and prints ratios (the scripts' only results).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize(
    "args",
    [
        ["bsatn.py", "--quick"],
        ["engine.py", "--quick"],
        ["durability.py", "--quick"],
        ["sync_floor.py", "--count", "50", "--rounds", "1"],
        ["subscriptions.py", "--quick"],
        ["server_overhead.py", "--calls", "100", "--repeats", "2"],
        ["server_overhead.py", "--unpipelined", "--calls", "50", "--repeats", "2"],
        ["fanout_cost.py", "--clients", "20", "--commits", "5"],
        ["ws_receive.py", "--messages", "200", "--rounds", "1"],
    ],
    ids=lambda a: a[0],
)
def test_benchmark_runs_and_prints_ratios(args: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"\d+(\.\d+)?x", result.stdout), result.stdout[-2000:]


def test_fanout_benchmark_runs_and_prints_ratios(tmp_path: Path) -> None:
    """benchmarks/fanout.py in its smallest case: npm SDK subscribers on our server, bare `ws` clients
    on it (raw), and `ws` clients of the Python and Node broadcaster peers, every message delivered
    to every subscriber."""
    node_modules = BENCHMARKS.parent / "tests" / "node" / "node_modules"
    if not (node_modules / "spacetimedb").is_dir() or not (node_modules / "ws").is_dir():
        pytest.skip("needs `npm ci` in tests/node")
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "fanout.py"), "--cases", "3x20", "--seconds", "1", "--warmup", "0.5",
         "--procs", "1", "--systems", "ours,raw,py,ws"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for system in ("ours", "raw", "py", "ws"):
        assert f"| 3 x 20 | {system} | 60/60 |" in result.stdout, result.stdout
    # A ratio, or n/a when the peer's CPU over so short a run stayed under one 10 ms tick.
    assert re.search(r"p50 \d+(\.\d+)?x, p99 \d+(\.\d+)?x, server CPU per delivery (\d+(\.\d+)?x|n/a)", result.stdout), (
        result.stdout[-2000:]
    )
