"""The `spacetimedb build` bundle: size, cold start with and without the memory snapshot, and reducer
throughput in the sealed imitation of SpacetimeDB's V8 host as a ratio to our native host.

    python benchmarks/jsbundle.py [--module examples/quickstart_chat.py] [--calls 2000] [--starts 5]
                                  [--baseline OLD_BUNDLE.js]

`--baseline`: a bundle of the same module built by an earlier version (e.g. `spacetimedb build`
on another checkout); its cold starts alternate with this build's, and their ratio is printed.

Everything is measured in one run on one machine (figures as ratios: the machine is shared). Cold
starts go through the sealed host's JSON-line driver (tests/sealed_host), one node process per
start; reducer calls are made in process by benchmarks/jsbundle_calls.mjs. Needs node, npm and tests/node/node_modules (scripts/test installs them).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sealed_host.sealed import SealedHost  # noqa: E402

from spacetimedb.bsatn import compile as compile_codec  # noqa: E402
from spacetimedb.cli.js_bundle import build_bundle  # noqa: E402
from spacetimedb.host.module_host import ModuleHost  # noqa: E402
from spacetimedb.module.loader import load_module  # noqa: E402
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp  # noqa: E402

ALICE = 0xA11CE
CONN = 7
T0 = 1_735_689_600_000_000


def cold_starts(bundle: Path, n: int) -> list[float]:
    """Evaluate-to-ready times (ms) of `n` fresh isolates (one node process each)."""
    return [cold_start(bundle)[0] for _ in range(n)]


def cold_start(bundle: Path) -> tuple[float, float]:
    """One fresh isolate (its own node process): evaluate-to-ready time (ms), and the CPU time
    (ms) of the whole node process (its start and exit included), which the machine's load
    moves less than the wall clock."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with SealedHost() as host:
        ready = float(host.start(bundle)["total_ms"])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    return ready, cpu


def alternating(bundles: list[Path], n: int) -> list[list[tuple[float, float]]]:
    """`n` cold starts of each bundle, taken in turn (the machine's load moves between them)."""
    out: list[list[tuple[float, float]]] = [[] for _ in bundles]
    for _ in range(n):
        for i, b in enumerate(bundles):
            out[i].append(cold_start(b))
    return out


def sealed_rate(bundle: Path, calls: int) -> tuple[float, float]:
    """Reducer calls per second (wall, CPU) in the sealed host, called in process (jsbundle_calls.mjs)."""
    proc = subprocess.run(
        ["node", "--experimental-vm-modules", "--single-threaded", "--no-warnings",
         str(ROOT / "benchmarks" / "jsbundle_calls.mjs"), str(bundle), str(calls)],
        capture_output=True, text=True, timeout=1200, check=True,
    )  # fmt: skip
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(out["calls"]) / float(out["seconds"]), float(out["calls"]) / float(out["cpu_seconds"])


def native_rate(module_path: Path, calls: int) -> tuple[float, float]:
    """Reducer calls per second (wall, CPU) on our native host (in process, no durability, no network)."""
    host = ModuleHost(load_module(module_path))
    host.init()
    sender, conn = Identity(ALICE), ConnectionId(CONN)
    host.client_connected(sender, conn)
    text = compile_codec(str)
    for i in range(20):
        host.call_reducer("send_message", text.encode(f"w{i}"), caller=sender, connection_id=conn)
    t, cpu = time.perf_counter(), time.process_time()
    for i in range(calls):
        res = host.call_reducer(
            "send_message", text.encode(f"m{i}"), caller=sender, connection_id=conn, timestamp=Timestamp(T0 + i)
        )
        assert res.committed, res
    return calls / (time.perf_counter() - t), calls / (time.process_time() - cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", type=Path, default=ROOT / "examples" / "quickstart_chat.py")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--baseline", type=Path, help="a bundle of the same module from an earlier build")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="jsbundle-bench-") as tmp:
        snap, plain = Path(tmp) / "snap.js", Path(tmp) / "plain.js"
        build_bundle(a.module, snap)
        build_bundle(a.module, plain, snapshot=False)
        print(f"module: {a.module.relative_to(ROOT) if a.module.is_relative_to(ROOT) else a.module}")
        print(f"bundle size: {snap.stat().st_size / 1e6:.1f} MB with snapshot, {plain.stat().st_size / 1e6:.1f} MB without")
        load = os.getloadavg()
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
        if a.baseline is not None:
            new, old = alternating([snap, a.baseline], a.starts)
            for what, k in (("evaluate to ready", 0), ("node process CPU", 1)):
                n_med, o_med = statistics.median(t[k] for t in new), statistics.median(t[k] for t in old)
                print(f"cold start, {what}, this build against --baseline (median of {a.starts}, alternating): "
                      f"{n_med:.0f} ms against {o_med:.0f} ms, ratio {n_med / o_med:.2f} "
                      f"({' '.join(f'{t[k]:.0f}' for t in new)} / {' '.join(f'{t[k]:.0f}' for t in old)})")  # fmt: skip
        with_snap = statistics.median(cold_starts(snap, a.starts))
        without = statistics.median(cold_starts(plain, a.starts))
        print(f"cold start (median of {a.starts}): {with_snap:.0f} ms with snapshot, {without:.0f} ms without "
              f"(snapshot {without / with_snap:.1f}x faster)")  # fmt: skip
        # Native, sealed, native: the machine is shared, so the sealed figure is compared with the
        # mean of the two native runs around it.
        native1, ncpu1 = native_rate(a.module, a.calls)
        sealed, scpu = sealed_rate(snap, a.calls)
        native2, ncpu2 = native_rate(a.module, a.calls)
        native, ncpu = (native1 + native2) / 2, (ncpu1 + ncpu2) / 2
        print(f"reducer send_message, {a.calls} calls: sealed host {sealed:.0f}/s, native host {native:.0f}/s "
              f"({native1:.0f} and {native2:.0f}); per CPU second: sealed {scpu:.0f}, native {ncpu:.0f}")  # fmt: skip
        print(f"ratio sealed/native: {sealed / native:.3f} wall clock, {scpu / ncpu:.3f} CPU time "
              f"(native {native / sealed:.0f}x / {ncpu / scpu:.0f}x faster)")  # fmt: skip

if __name__ == "__main__":
    main()
