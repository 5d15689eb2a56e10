"""Runs one Node load generator (loadgen/*.mjs) and collects its JSON-line events and result.

While the generator runs, the server's CPU time is sampled when the generator announces the start and
the end of its timed window, so the report can show how the 2 cores were split between the two.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keynote_bench.cpu_usage import main_thread_cpu, tree_cpu_seconds
from keynote_bench.processes import ProcessGroup

LOADGEN_DIR = Path(__file__).resolve().parent.parent / "loadgen"


class LoadGeneratorFailed(Exception):
    """The Node load generator reported an error, timed out, or printed no result."""


class NodeMissing(Exception):
    """`node` is not on PATH; the load generators need Node 20 and the npm SDK in tests/node."""


@dataclass
class LoadgenOutcome:
    result: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    server_cpu_s: float | None = None
    #: CPU seconds of the first server process's main thread (our event loop) in the window.
    loop_cpu_s: float | None = None


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise NodeMissing("node not found on PATH: install Node 20 and run `npm ci` in tests/node")
    return node


def run_loadgen(
    group: ProcessGroup,
    script: str,
    mode: str,
    options: dict[str, object],
    timeout_s: float,
    server_pids: Sequence[int] = (),
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> LoadgenOutcome:
    argv = [node_binary(), str(LOADGEN_DIR / script), mode]
    for key, value in options.items():
        argv += [f"--{key}", str(value)]
    return run_generator(group, argv, f"{script} {mode}", timeout_s, server_pids, on_event)


def run_generator(
    group: ProcessGroup,
    argv: list[str],
    label: str,
    timeout_s: float,
    server_pids: Sequence[int] = (),
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> LoadgenOutcome:
    """Run any generator printing loadgen/*.mjs's JSON-line events (py_loadgen.py does too)."""
    proc = group.start_piped(argv)
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        group.stop(proc)

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    events: list[dict[str, Any]] = []
    cpu_start: float | None = None
    server_cpu: float | None = None
    loop_start = loop_cpu = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a library's own log line
            if not isinstance(event, dict):
                continue
            events.append(event)
            if on_event is not None:
                on_event(event)
            if event.get("event") == "window_start" and server_pids:
                cpu_start = tree_cpu_seconds(server_pids)
                loop_start = main_thread_cpu(server_pids[0])
            elif event.get("event") == "window_end" and cpu_start is not None:
                server_cpu = tree_cpu_seconds(server_pids) - cpu_start
                loop_end = main_thread_cpu(server_pids[0])
                if loop_start is not None and loop_end is not None:
                    loop_cpu = loop_end - loop_start
        proc.wait(timeout=10)
    finally:
        timer.cancel()
        group.stop(proc)
    if timed_out.is_set():
        raise LoadGeneratorFailed(f"{label} did not finish within {timeout_s:.0f} s")
    errors = [e for e in events if e.get("event") == "error"]
    if errors:
        raise LoadGeneratorFailed(f"{label}: {errors[-1].get('message')}")
    results = [e for e in events if e.get("event") == "result"]
    if not results or proc.returncode != 0:
        raise LoadGeneratorFailed(f"{label} exited with {proc.returncode} and no result")
    return LoadgenOutcome(result=results[-1], events=events, server_cpu_s=server_cpu, loop_cpu_s=loop_cpu)

