"""The `spacetimedb build` bundle: size, cold start with and without the memory snapshot, and reducer
throughput in the sealed imitation of SpacetimeDB's V8 host as a ratio to our native host.

    python benchmarks/jsbundle.py [--module examples/quickstart_chat.py] [--calls 2000] [--starts 3]

Everything is measured in one run on one machine (figures as ratios: the machine is shared). The
sealed host (tests/sealed_host) is driven over JSON lines, so each call pays a pipe round trip;
the script measures that round trip (a `describe`, which runs no Python) and also reports the
ratio net of it. Needs node, npm and tests/node/node_modules (scripts/test installs them).
"""

from __future__ import annotations

import argparse
import statistics
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
    out = []
    for _ in range(n):
        with SealedHost() as host:
            out.append(host.start(bundle)["total_ms"])
    return out


def sealed_rate(bundle: Path, calls: int) -> tuple[float, float]:
    """(reducer calls per second, describe round trips per second) in one sealed host."""
    text = compile_codec(str)
    with SealedHost() as host:
        host.start(bundle)
        host.lifecycle("connect", sender=ALICE, connection_id=CONN, timestamp=T0)
        for i in range(20):  # warm up the JITs (V8 and the codecs)
            host.call_reducer("send_message", text.encode(f"w{i}"), sender=ALICE, connection_id=CONN, timestamp=T0 + i)
        t = time.perf_counter()
        for i in range(calls):
            r = host.call_reducer(
                "send_message", text.encode(f"m{i}"), sender=ALICE, connection_id=CONN, timestamp=T0 + 100 + i
            )
            assert r.ok, r
        reducer = calls / (time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(calls):
            host.describe()
        trip = calls / (time.perf_counter() - t)
    return reducer, trip


def native_rate(module_path: Path, calls: int) -> float:
    """Reducer calls per second on our native host (in process, no durability, no network)."""
    host = ModuleHost(load_module(module_path))
    host.init()
    sender, conn = Identity(ALICE), ConnectionId(CONN)
    host.client_connected(sender, conn)
    text = compile_codec(str)
    for i in range(20):
        host.call_reducer("send_message", text.encode(f"w{i}"), caller=sender, connection_id=conn)
    t = time.perf_counter()
    for i in range(calls):
        res = host.call_reducer(
            "send_message", text.encode(f"m{i}"), caller=sender, connection_id=conn, timestamp=Timestamp(T0 + i)
        )
        assert res.committed, res
    return calls / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", type=Path, default=ROOT / "examples" / "quickstart_chat.py")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--starts", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="jsbundle-bench-") as tmp:
        snap, plain = Path(tmp) / "snap.js", Path(tmp) / "plain.js"
        build_bundle(a.module, snap)
        build_bundle(a.module, plain, snapshot=False)
        print(f"module: {a.module.relative_to(ROOT) if a.module.is_relative_to(ROOT) else a.module}")
        print(f"bundle size: {snap.stat().st_size / 1e6:.1f} MB with snapshot, {plain.stat().st_size / 1e6:.1f} MB without")
        with_snap = statistics.median(cold_starts(snap, a.starts))
        without = statistics.median(cold_starts(plain, a.starts))
        print(f"cold start (median of {a.starts}): {with_snap:.0f} ms with snapshot, {without:.0f} ms without "
              f"(snapshot {without / with_snap:.1f}x faster)")  # fmt: skip
        sealed, trip = sealed_rate(snap, a.calls)
        native = native_rate(a.module, a.calls)
        net = 1 / max(1 / sealed - 1 / trip, 1e-9)
        print(f"reducer send_message, {a.calls} calls: sealed host {sealed:.0f}/s (JSON-line round trip alone {trip:.0f}/s), "
              f"native host {native:.0f}/s")  # fmt: skip
        print(f"ratio sealed/native: {sealed / native:.2f} (net of the driver's round trip: {net / native:.2f})")


if __name__ == "__main__":
    main()
