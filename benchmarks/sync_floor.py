"""The disk's sync floor: what one synced append of a small group commit costs here, and the bound it puts on TPS.

A confirmed call waits for the group commit that carries it to be written and synced. With N clients
and one call in flight each, a group commit carries at most N calls, so N / (one synced write) is the
best TPS a server that syncs every group commit can reach, before it spends any time on the calls.
This script measures that write the way the commit log does it (one `pwritev2(RWF_DSYNC)` of
`--record-bytes` bytes per commit, in a file on `--dir`'s filesystem), in four layouts:

  append (unsynced)      a plain `write` at the end of the file: the floor without durability
  append + dsync         the file grows with every write: the sync also journals the new size
  fallocated + dsync     into space `posix_fallocate` reserved (size set, extents unwritten)
  pre-zeroed + dsync     into space written with zeros and synced beforehand

and then through the commit log itself (`CommitLog.append` + wait until durable, one commit at a time,
as a confirmed call at 1 in flight waits), with its segment preallocated (the default) and without:

  commit log, preallocated    `preallocate_bytes` = 4 MiB (zeros written and synced ahead)
  commit log, growing         `preallocate_bytes` = 0 (every group commit grows the file)

  python benchmarks/sync_floor.py [--dir DIR] [--count 2000] [--record-bytes 300] [--clients 4]

Prints p50 / p90 / mean microseconds of wall time and CPU time per write, the ratio of each synced
layout to the unsynced append, and the TPS bound for `--clients` calls per group commit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from spacetimedb.durability.commit_log import DEFAULT_PREALLOCATE_BYTES, CommitLog

ZERO_CHUNK = 1 << 20


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _write_dsync(fd: int, data: bytes, offset: int) -> None:
    flag = getattr(os, "RWF_DSYNC", None)
    if flag is None:
        os.pwrite(fd, data, offset)
        os.fdatasync(fd)
    else:
        os.pwritev(fd, [data], offset, flag)


def _prepare(path: str, layout: str, total: int) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    if layout == "fallocated":
        os.posix_fallocate(fd, 0, total)
        os.fsync(fd)
    elif layout == "zeroed":
        zeros = bytes(ZERO_CHUNK)
        for start in range(0, total, ZERO_CHUNK):
            os.pwrite(fd, zeros[: min(ZERO_CHUNK, total - start)], start)
        os.fsync(fd)
    return fd


def measure(directory: str, layout: str, count: int, record: bytes) -> tuple[list[float], list[float]]:
    """(wall us, cpu us) of each of `count` appends of `record` in `layout`."""
    path = os.path.join(directory, f"sync-floor-{layout}.bin")
    fd = _prepare(path, layout, count * len(record) + ZERO_CHUNK)
    write: Callable[[int, bytes, int], object]
    write = os.pwrite if layout == "unsynced" else _write_dsync
    wall: list[float] = []
    cpu: list[float] = []
    try:
        pos = 0
        for _ in range(count):
            t0 = time.perf_counter()
            c0 = time.thread_time()
            write(fd, record, pos)
            cpu.append((time.thread_time() - c0) * 1e6)
            wall.append((time.perf_counter() - t0) * 1e6)
            pos += len(record)
    finally:
        os.close(fd)
        os.remove(path)
    return wall, cpu


def measure_commit_log(directory: str, preallocate: int, count: int, record: bytes) -> tuple[list[float], list[float]]:
    """(wall us, this thread's cpu us) of each of `count` appends made durable one at a time."""
    d = tempfile.mkdtemp(dir=directory)
    wall: list[float] = []
    cpu: list[float] = []
    with CommitLog(d, preallocate_bytes=preallocate) as log:
        for i in range(count):
            t0 = time.perf_counter()
            c0 = time.thread_time()
            log.append(i, record)
            log.wait_durable_blocking(i)
            cpu.append((time.thread_time() - c0) * 1e6)
            wall.append((time.perf_counter() - t0) * 1e6)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=None, help="a directory on the disk to measure (default: a temp dir here)")
    ap.add_argument("--count", type=int, default=2000, help="appends per layout")
    ap.add_argument("--record-bytes", type=int, default=300, help="bytes per group commit (a 4 x 1 keynote commit is ~300)")
    ap.add_argument("--clients", type=int, default=4, help="calls per group commit at most (clients x 1 in flight)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds over the layouts")
    args = ap.parse_args()
    base = args.dir or os.path.dirname(os.path.abspath(__file__))
    record = os.urandom(args.record_bytes)
    layouts = [("unsynced", "append (unsynced)"), ("append", "append + dsync"),
               ("fallocated", "fallocated + dsync"), ("zeroed", "pre-zeroed + dsync"),
               ("log-prealloc", "commit log, preallocated"), ("log-growing", "commit log, growing")]
    walls: dict[str, list[float]] = {k: [] for k, _ in layouts}
    cpus: dict[str, list[float]] = {k: [] for k, _ in layouts}
    with tempfile.TemporaryDirectory(dir=base) as d:
        for _ in range(args.rounds):
            for key, _ in layouts:
                if key.startswith("log-"):
                    pre = DEFAULT_PREALLOCATE_BYTES if key == "log-prealloc" else 0
                    wall, cpu = measure_commit_log(d, pre, args.count, record)
                else:
                    wall, cpu = measure(d, key, args.count, record)
                walls[key] += wall
                cpus[key] += cpu
    print(f"{args.count * args.rounds} writes of {args.record_bytes} bytes per layout in {base}; "
          f"load average {os.getloadavg()[0]:.2f}; {sys.platform}")
    floor = statistics.median(walls["unsynced"])
    print(f"{'layout':<22} {'wall p50':>9} {'p90':>7} {'mean':>7} {'cpu p50':>8} {'x unsynced':>11} "
          f"{'TPS bound at ' + str(args.clients) + '/commit':>24}")
    for key, label in layouts:
        w, c = walls[key], cpus[key]
        p50 = statistics.median(w)
        bound = args.clients * 1e6 / p50
        print(f"{label:<22} {p50:>9.1f} {_percentile(w, 0.9):>7.1f} {statistics.fmean(w):>7.1f} "
              f"{statistics.median(c):>8.1f} {p50 / floor:>10.1f}x {bound:>24,.0f}")
    print("TPS bound: clients / (p50 synced write); the calls themselves, the thread hops and the replies come on top.")
    print("commit log rows: wall = append until durable (the writer thread's wake-up and hand-back included); "
          "cpu = the appending thread's")


if __name__ == "__main__":
    main()
