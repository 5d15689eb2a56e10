"""Optional py-spy profile of our server during a timed window, summarised as its top frames.

py-spy is not a project dependency: install it anywhere (e.g. a scratch venv) and pass its path
with --profile-pyspy. Samples are per thread (the event loop's MainThread apart from helper threads
such as a commit-log writer), aggregated per function; py-spy leaves idle samples out, but a thread
blocked in a system call such as fsync counts as busy. The raw output is py-spy's collapsed-stack
format, one `thread (tid): name;frame;frame count` per line.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keynote_bench.config import RunConfig
from keynote_bench.processes import ProcessGroup
from keynote_bench.systems import RunningSystem

MAIN_THREAD = "MainThread"


def start_pyspy(group: ProcessGroup, pyspy: str, pid: int, seconds: float, out: Path) -> subprocess.Popen[str]:
    argv = [pyspy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", "250",
            "--format", "raw", "--function", "--threads", "--subprocesses", "--output", str(out), "--nonblocking"]
    return group.start_piped(argv)


def short_frame(frame: str) -> str:
    """`func (/long/path/pkg/mod.py:12)` -> `func (pkg/mod.py:12)`: the last two path parts are enough."""
    name, sep, where = frame.partition(" (")
    if not sep:
        return frame
    parts = where.rstrip(")").split("/")
    return f"{name} ({'/'.join(parts[-2:])})"


@dataclass
class ThreadProfile:
    samples: int = 0
    own: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)


def parse_collapsed(collapsed: Path) -> dict[str, ThreadProfile]:
    """Per thread name ('MainThread', 'Thread-1 (_run)', ...; '' without --threads): samples and frame counts."""
    threads: dict[str, ThreadProfile] = {}
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = ""
        if frames[0].startswith("thread (") and "): " in frames[0]:
            thread = frames.pop(0).split("): ", 1)[1]
        if frames and frames[0].startswith("process "):
            frames.pop(0)
        frames = [short_frame(f) for f in frames]
        prof = threads.setdefault(thread, ThreadProfile())
        prof.samples += count
        if frames:
            prof.own[frames[-1]] += count
        for frame in set(frames):
            prof.inclusive[frame] += count
    return threads


def render_profile(title: str, collapsed: Path, limit: int = 12) -> str:
    threads = parse_collapsed(collapsed)
    total = sum(t.samples for t in threads.values())
    if total == 0:
        return f"{title}: no samples in {collapsed}"
    shares = ", ".join(f"{name or 'all'} {100 * t.samples / total:.0f}%"
                       for name, t in sorted(threads.items(), key=lambda kv: -kv[1].samples))
    lines = [f"{title}: {total} busy samples ({collapsed}); by thread: {shares}"]
    for name, prof in sorted(threads.items(), key=lambda kv: (kv[0] != MAIN_THREAD, -kv[1].samples)):
        label = name or "all threads"
        lines.append(f"  {label}, self time (% of its samples):")
        lines += [f"    {100 * n / prof.samples:5.1f}%  {frame}" for frame, n in prof.own.most_common(limit)]
        # Frames on (nearly) every stack of the thread (runpy, asyncio.run, ...) say nothing: leave them out.
        telling = [(f, n) for f, n in prof.inclusive.most_common() if n < 0.9 * prof.samples][:limit]
        lines.append(f"  {label}, inclusive:")
        lines += [f"    {100 * n / prof.samples:5.1f}%  {frame}" for frame, n in telling]
    return "\n".join(lines)


class WindowProfiler:
    """Starts py-spy on our server when the window opens (if asked for), and summarises it afterwards."""

    def __init__(self, group: ProcessGroup, cfg: RunConfig, running: RunningSystem, label: str, sysdir: Path):
        self.enabled = cfg.profile_pyspy is not None and running.is_ours
        self.group, self.cfg, self.running, self.label = group, cfg, running, label
        self.out = (cfg.profile_dir or sysdir) / f"pyspy-{running.name}-{label}.txt"
        self.proc: subprocess.Popen[str] | None = None

    def on_event(self, event: dict[str, Any]) -> None:
        if self.enabled and event.get("event") == "window_start" and self.cfg.profile_pyspy:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            pid = self.running.server_pids[0]
            self.proc = start_pyspy(self.group, self.cfg.profile_pyspy, pid, self.cfg.seconds, self.out)

    def finish(self) -> str | None:
        if self.proc is None:
            return None
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.group.stop(self.proc)
        if not self.out.exists():
            return f"py-spy wrote no profile (exit {self.proc.returncode}); is it allowed to ptrace?"
        title = f"py-spy {self.running.name} {self.label}"
        return render_profile(title, self.out)
