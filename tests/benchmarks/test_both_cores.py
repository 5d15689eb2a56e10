"""benchmarks/both_cores.py: the per-thread CPU and affinity helpers, and the smallest end-to-end run."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from keynote_bench import cores

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_thread_cpu_sees_a_busy_thread_and_pin_reaches_every_thread() -> None:
    pid = os.getpid()
    stop = threading.Event()
    tid: list[int] = []

    def spin() -> None:
        tid.append(threading.get_native_id())
        end = time.process_time() + 5
        while not stop.is_set() and time.process_time() < end:
            pass

    before = cores.thread_cpu(pid)
    worker = threading.Thread(target=spin)
    worker.start()
    original = os.sched_getaffinity(0)
    try:
        while not tid:
            time.sleep(0.01)
        one = {min(original)}
        cores.pin(pid, one)
        assert os.sched_getaffinity(tid[0]) == one and os.sched_getaffinity(0) == one
        deadline = time.monotonic() + 10
        while cores.cpu_between(before, cores.thread_cpu(pid)).get(tid[0], 0.0) < 0.05:
            assert time.monotonic() < deadline, "the spinning thread never showed CPU time"
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join()
        cores.pin(pid, original)
    assert cores.thread_names(None, pid) == {pid: "MainThread"}


def test_smallest_run_prints_both_placements_for_one_and_two_databases(tmp_path: Path) -> None:
    node_modules = BENCHMARKS.parent / "tests" / "node" / "node_modules"
    if not (node_modules / "spacetimedb").is_dir():
        pytest.skip("needs `npm ci` in tests/node")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs")
    cpus = sorted(os.sched_getaffinity(0))[:2]
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "both_cores.py"), "--settings", "2:v3", "--seconds", "1", "--warmup", "0.5",
         "--accounts", "100", "--clients", "2", "--placements", f"{cpus[0]};{cpus[0]},{cpus[1]}"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 2x2 v3")]
    assert [row.split("|")[2].strip() for row in rows] == ["1", "2"], result.stdout
    assert "MainThread" in result.stdout, result.stdout
