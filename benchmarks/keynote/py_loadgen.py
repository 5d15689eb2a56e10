"""The keynote load generator on the Python client SDK: the same closed loop as loadgen/stdb_loadgen.mjs
(which drives the npm SDK), with generated Python bindings for examples/bank.py.

    python benchmarks/keynote/py_loadgen.py run --url ws://127.0.0.1:3000 --db bank --bindings DIR ...

`--bindings DIR` holds `bank_bindings/` (`spacetimedb generate --lang python`); benchmarks/client_load.py
generates it. Output: JSON lines on stdout, the events stdb_loadgen.mjs prints (`connected`,
`window_start`, `window_end`, then `result` with tps, p50/p99 and the generator's CPU), so one runner
reads both. Pairs come from the same mulberry32/Zipf sampler as loadgen/zipf.mjs (fewer of them: Python
draws them slower, and every slot walks its own stretch of the list either way).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

MAX_ERROR_KINDS = 5


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def mulberry32(seed: int = 0x12345678) -> Any:
    t = seed & 0xFFFFFFFF

    def rng() -> float:
        nonlocal t
        t = (t + 0x6D2B79F5) & 0xFFFFFFFF
        r = ((t ^ (t >> 15)) * (1 | t)) & 0xFFFFFFFF
        r ^= (r + (((r ^ (r >> 7)) * (61 | r)) & 0xFFFFFFFF)) & 0xFFFFFFFF
        return ((r ^ (r >> 14)) & 0xFFFFFFFF) / 4294967296

    return rng


def precompute_pairs(n: int, alpha: float, count: int) -> list[tuple[int, int]]:
    """(from, to) pairs with from != to; ids Zipf-distributed (alpha 0: uniform), as zipf.mjs draws them."""
    rng = mulberry32()
    if alpha <= 0:

        def pick() -> int:
            return int(rng() * n)

    else:
        weights = [1 / (i + 1) ** alpha for i in range(n)]
        total = sum(weights)
        cdf: list[float] = []
        acc = 0.0
        for w in weights:
            acc += w / total
            cdf.append(acc)
        cdf[-1] = 1.0

        def pick() -> int:
            return bisect.bisect_left(cdf, rng())

    pairs = []
    for _ in range(count):
        a, b = pick(), pick()
        spins = 0
        while b == a and spins < 32:
            b, spins = pick(), spins + 1
        if b == a:
            b = (a + 1) % n
        pairs.append((a, b))
    return pairs


def percentile(sorted_ms: list[float], p: float) -> float | None:
    if not sorted_ms:
        return None
    return sorted_ms[min(len(sorted_ms) - 1, int(p / 100 * len(sorted_ms)))]


async def connect(b: Any, opts: argparse.Namespace) -> Any:
    builder = (
        b.DbConnection.builder()
        .with_uri(opts.url)
        .with_database_name(opts.db)
        .with_compression("none")
        .with_confirmed_reads(opts.confirmed != "false")
        .with_protocol(opts.protocol)
        .with_timeout(opts.connect_timeout)
    )
    return await builder.build()


async def run(b: Any, opts: argparse.Namespace) -> None:
    conns = [await connect(b, opts) for _ in range(opts.clients)]
    emit("connected", clients=len(conns), protocol=opts.protocol)
    t = time.perf_counter()
    pairs = precompute_pairs(opts.accounts, opts.alpha, opts.pairs)
    emit("pairs", count=len(pairs), seconds=time.perf_counter() - t)
    loop = asyncio.get_running_loop()
    slots = opts.clients * opts.inflight
    stride = max(1, len(pairs) // slots)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counts = {"ok": 0, "failed": 0, "ok_outside": 0, "failed_outside": 0}
    t0 = loop.time()
    window_start, window_end = t0 + opts.warmup, t0 + opts.warmup + opts.seconds
    marks: dict[str, tuple[float, float]] = {}

    def mark(name: str) -> None:
        marks[name] = (time.perf_counter(), time.process_time())
        emit(f"window_{name}")

    loop.call_at(window_start, mark, "start")
    loop.call_at(window_end, mark, "end")

    async def slot(index: int) -> None:
        reducers = conns[index % opts.clients].reducers
        p = (index * stride) % len(pairs)
        while loop.time() < window_end:
            start = time.perf_counter()  # uvloop's loop.time() ticks in milliseconds
            a, c = pairs[p]
            p = p + 1 if p + 1 < len(pairs) else 0
            try:
                await reducers.transfer(a, c, 1)
                error = None
            except Exception as e:
                error = f"{type(e).__name__}: {e}"[:160]
            end = time.perf_counter()
            done_at = loop.time()
            inside = window_start <= done_at <= window_end
            if error is None:
                if inside:
                    counts["ok"] += 1
                    latencies.append((end - start) * 1000)
                else:
                    counts["ok_outside"] += 1
            else:
                if error in errors or len(errors) < MAX_ERROR_KINDS:
                    errors[error] = errors.get(error, 0) + 1
                counts["failed" if inside else "failed_outside"] += 1

    tasks = [asyncio.ensure_future(slot(i)) for i in range(slots)]
    await asyncio.sleep(max(0.0, window_end - loop.time()) + 0.01)
    _, still = await asyncio.wait(tasks, timeout=opts.drain)
    for task in still:
        task.cancel()
    if "start" not in marks or "end" not in marks:
        raise RuntimeError("the timed window never opened or closed")
    wall = marks["end"][0] - marks["start"][0]
    cpu = marks["end"][1] - marks["start"][1]
    latencies.sort()
    ok, failed = counts["ok"], counts["failed"]
    emit(
        "result",
        slots=slots,
        window_s=opts.seconds,
        ok=ok,
        failed=failed,
        ok_outside_window=counts["ok_outside"],
        failed_outside_window=counts["failed_outside"],
        stuck=len(still),
        drained=not still,
        tps=ok / opts.seconds,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        gen_cpu_s=cpu,
        gen_cores=cpu / wall if wall > 0 else None,
        gen_us_per_call=cpu * 1e6 / (ok + failed) if ok + failed else None,
        errors=errors,
        protocol=opts.protocol,
    )
    await asyncio.gather(*(c.close() for c in conns))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["run"])
    p.add_argument("--bindings", type=Path, required=True, help="directory holding bank_bindings/")
    p.add_argument("--url", default="ws://127.0.0.1:3000")
    p.add_argument("--db", default="bank")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--inflight", type=int, default=40)
    p.add_argument("--accounts", type=int, default=100_000)
    p.add_argument("--balance", default="1000000000")  # accepted for the runner's common options
    p.add_argument("--alpha", type=float, default=0.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--pairs", type=int, default=200_000)
    p.add_argument("--protocol", choices=["v2", "v3"], default="v3")
    p.add_argument("--confirmed", default="true")
    p.add_argument("--connect-timeout", type=float, default=15.0)
    p.add_argument("--drain", type=float, default=10.0)
    p.add_argument("--event-loop", choices=["uvloop", "asyncio"], default="uvloop",
                   help="uvloop when installed (as the server runs), else asyncio's own")  # fmt: skip
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    sys.path.insert(0, str(opts.bindings))
    bindings = importlib.import_module("bank_bindings")
    runner: Any = asyncio.run
    if opts.event_loop == "uvloop":
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            pass
    try:
        runner(run(bindings, opts))
    except Exception as e:
        emit("error", message=f"{type(e).__name__}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
