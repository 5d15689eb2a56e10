"""The report's ratio of our TPS to the best peer's, and the process helpers the orchestrator relies on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from keynote_bench.cpu_usage import tree_cpu_seconds
from keynote_bench.processes import ProcessGroup
from keynote_bench.report import as_json, ratios, render
from keynote_bench.runner import Measurement, SystemOutcome


def _m(system: str, alpha: float, tps: float, ours: bool) -> Measurement:
    result = {"tps": tps, "ok": int(tps), "window_s": 1.0, "p50_ms": 1.0, "p99_ms": 2.0, "failed": 0, "stuck": 0, "gen_cores": 0.5}
    return Measurement(system, alpha, result, server_cpu_s=0.8, is_ours=ours)


def test_ratio_is_against_the_best_peer_at_each_alpha() -> None:
    outcomes = [
        SystemOutcome("ours", [_m("ours", 0, 9000, True), _m("ours", 1.5, 2000, True)]),
        SystemOutcome("sqlite", [_m("sqlite", 0, 1000, False), _m("sqlite", 1.5, 1000, False)]),
        SystemOutcome("postgres", [_m("postgres", 0, 3000, False), _m("postgres", 1.5, 500, False)]),
    ]
    rows = {r["alpha"]: r for r in ratios(outcomes)}
    assert rows[0]["best_peer"] == "postgres" and rows[0]["ratio"] == 3.0 and rows[0]["meets_goal"]
    assert rows[1.5]["best_peer"] == "sqlite" and rows[1.5]["ratio"] == 2.0 and not rows[1.5]["meets_goal"]
    text = render(outcomes)
    assert "3.00x (meets" in text and "2.00x (BELOW" in text
    # server CPU per call: 0.8 s of server CPU over 9000 calls
    assert as_json(outcomes)["systems"][0]["measurements"][0]["server_us_per_call"] == 0.8e6 / 9000


def test_the_no_op_server_is_the_ceiling_not_a_peer() -> None:
    ceiling = [Measurement("no-op", 0, _m("no-op", 0, 20000, False).result, 0.1, is_ours=False, is_ceiling=True)]
    outcomes = [
        SystemOutcome("ours", [_m("ours", 0, 18000, True)]),
        SystemOutcome("sqlite", [_m("sqlite", 0, 2000, False)]),
        SystemOutcome("no-op", ceiling),
    ]
    [row] = ratios(outcomes)
    assert row["best_peer"] == "sqlite" and row["ratio"] == 9.0
    assert row["ceiling_tps"] == 20000 and row["ceiling_share"] == 0.9
    assert "ours / client ceiling (no-op server, same generator) = 0.90 (meets the 0.9 goal)" in render(outcomes)


def test_no_ratio_without_our_server_and_skips_are_reported() -> None:
    outcomes = [
        SystemOutcome("spacetimedb", skipped="not built"),
        SystemOutcome("sqlite", [_m("sqlite", 0, 1000, False)]),
    ]
    assert ratios(outcomes)[0]["ratio"] is None
    text = render(outcomes)
    assert "spacetimedb: SKIPPED: not built" in text and "no ratio" in text
    assert as_json(outcomes)["systems"][0]["skipped"] == "not built"


def test_process_group_stops_its_children_and_runs_cleanups(tmp_path: Path) -> None:
    cleaned: list[str] = []
    with ProcessGroup(tmp_path) as group:
        proc, _log = group.start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
        group.on_exit(lambda: cleaned.append("done"))
        assert proc.poll() is None
    assert proc.poll() is not None and cleaned == ["done"]


def test_tree_cpu_counts_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "sum(range(3_000_000)); import time; time.sleep(5)"])
    try:
        for _ in range(100):
            if tree_cpu_seconds([os.getpid()]) >= tree_cpu_seconds([child.pid]) > 0:
                break
            subprocess.run([sys.executable, "-c", "pass"], check=True)
        assert tree_cpu_seconds([os.getpid()]) >= tree_cpu_seconds([child.pid]) > 0
    finally:
        child.kill()
        child.wait()


def test_profile_summary_is_per_thread_with_self_and_inclusive_frames(tmp_path: Path) -> None:
    from keynote_bench.profiling import parse_collapsed, render_profile

    raw = tmp_path / "p.txt"
    raw.write_text(
        "thread (1): MainThread;main (/x/app/run.py:1);handle (/x/app/ws.py:10);decode (/x/app/bsatn.py:5) 30\n"
        "thread (1): MainThread;main (/x/app/run.py:1);handle (/x/app/ws.py:10) 10\n"
        "thread (1): MainThread;main (/x/app/run.py:1);commit (/x/app/log.py:3) 60\n"
        "thread (2): Thread-1 (_run);write (/x/app/log.py:9);fsync (/x/app/files.py:3) 25\n"
    )
    threads = parse_collapsed(raw)
    main = threads["MainThread"]
    assert main.samples == 100 and threads["Thread-1 (_run)"].samples == 25
    assert main.own.most_common(1)[0] == ("commit (app/log.py:3)", 60)
    assert main.inclusive["handle (app/ws.py:10)"] == 40
    text = render_profile("t", raw)
    assert "by thread: MainThread 80%, Thread-1 (_run) 20%" in text
    assert "60.0%  commit (app/log.py:3)" in text and "100.0%  fsync (app/files.py:3)" in text
    assert "main (app/run.py:1)" not in text.split("inclusive:")[1].split("Thread-1")[0]  # on every stack


def test_repeated_rounds_report_the_median_and_range() -> None:
    ours = [_m("ours", 0, tps, True) for tps in (9000, 3000, 6000)]
    peer = [_m("sqlite", 0, tps, False) for tps in (1000, 2000, 1500)]
    outcomes = [SystemOutcome("ours", ours), SystemOutcome("sqlite", peer)]
    row = ratios(outcomes)[0]
    assert (row["ours_tps"], row["best_peer_tps"], row["ratio"]) == (6000, 1500, 4.0)
    text = render(outcomes)
    assert "6,000 (3,000-9,000)" in text and "1,500 (1,000-2,000)" in text


def test_server_cpus_pins_each_server_with_taskset() -> None:
    import shutil

    import pytest
    from keynote_bench.config import RunConfig
    from keynote_bench.systems import _pinned

    argv = ["python", "-m", "x"]
    assert _pinned(RunConfig(), argv) == argv
    if shutil.which("taskset") is None:
        pytest.skip("no taskset here")
    assert _pinned(RunConfig(server_cpus="0"), argv)[1:] == ["-c", "0", *argv]
