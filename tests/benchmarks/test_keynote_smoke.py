"""Runs benchmarks/keynote.py end to end in a tiny configuration, so the benchmark cannot rot.

Every available system runs (a system whose dependency is missing must be skipped with a reason);
no timing is asserted, only that transfers succeeded and the balance sum held.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
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
        if s["system"].startswith("no-op"):
            assert s["sum_check"] is None  # it keeps no balances
        else:
            assert s["sum_check"].startswith("ok"), s
        assert [m["alpha"] for m in s["measurements"]] == [0.0, 1.5]
        assert all(m["ok"] > 0 for m in s["measurements"]), s
    assert "alpha 0:" in proc.stdout and "alpha 1.5:" in proc.stdout


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_run_stops_every_server_and_removes_temp_dirs(tmp_path: Path, sig: signal.Signals) -> None:
    argv = [sys.executable, str(REPO / "benchmarks" / "keynote.py"), "--systems", "sqlite", "--seconds", "60",
            "--warmup", "0", "--clients", "1", "--inflight", "1", "--accounts", "200", "--pairs", "1000"]
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # every temp dir of the run, and so every server, names it
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # wait until the load is running
            if "alpha 0:" in line:
                break
        time.sleep(1.0)
        assert _processes_mentioning(str(tmp_path)), "the peer server should be running"
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert _processes_mentioning(str(tmp_path)) == []
    assert list(tmp_path.iterdir()) == []


def test_the_call_trace_times_every_step_of_confirmed_calls(tmp_path: Path) -> None:
    """`--trace` wraps functions of the server's call path by name: it must still find calls there
    (it silently found none after the path changed once)."""
    trace = tmp_path / "trace.json"
    argv = [sys.executable, str(REPO / "benchmarks" / "keynote.py"), "--systems", "spacetimedb", "--seconds", "1",
            "--warmup", "0.2", "--clients", "2", "--inflight", "1", "--accounts", "500", "--pairs", "5000",
            "--alphas", "0", "--trace", str(trace)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(trace.read_text())
    assert summary["calls"] > 10, summary
    for step in ("frame read -> append", "append -> writer woke", "write", "fdatasync",
                 "fdatasync done -> loop woke", "loop woke -> replies written", "total"):
        assert summary[step]["p50_us"] >= 0, summary
