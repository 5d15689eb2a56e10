"""Optional py-spy profile of our server during a timed window, summarised as its top frames.

Samples are of the busy main thread only (py-spy leaves idle samples out), aggregated per function.

py-spy is not a project dependency: install it anywhere (e.g. a scratch venv) and pass its path
with --profile-pyspy. The raw output is py-spy's collapsed-stack format, one `a;b;c count` per line.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

from keynote_bench.processes import ProcessGroup


def start_pyspy(group: ProcessGroup, pyspy: str, pid: int, seconds: float, out: Path) -> subprocess.Popen[str]:
    argv = [pyspy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", "250",
            "--format", "raw", "--function", "--output", str(out), "--nonblocking"]
    return group.start_piped(argv)


def short_frame(frame: str) -> str:
    """`func (/long/path/pkg/mod.py:12)` -> `func (pkg/mod.py:12)`: the last two path parts are enough."""
    name, sep, where = frame.partition(" (")
    if not sep:
        return frame
    parts = where.rstrip(")").split("/")
    return f"{name} ({'/'.join(parts[-2:])})"


def top_frames(collapsed: Path, limit: int = 15) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, top frames by self samples, top frames by inclusive samples) from a collapsed-stack file."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [short_frame(f) for f in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return total, own.most_common(limit), inclusive.most_common(limit)


def render_profile(title: str, collapsed: Path, limit: int = 15) -> str:
    total, own, inclusive = top_frames(collapsed, limit)
    if total == 0:
        return f"{title}: no samples in {collapsed}"
    lines = [f"{title}: {total} samples ({collapsed})", "  self time:"]
    lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in own]
    lines.append("  inclusive:")
    lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive]
    return "\n".join(lines)
