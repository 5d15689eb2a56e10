"""The Python client SDK as the keynote load generator, against the npm SDK on the same server, same run.

One server (ours, examples/bank.py, durable as a user runs it) is seeded once; then, for each alpha and
each round, the keynote transfer workload runs twice back to back: driven by the official npm SDK
(loadgen/stdb_loadgen.mjs) and by this repository's Python client with generated bindings
(keynote/py_loadgen.py), both with `--clients` connections and `--inflight` calls in flight on each.
It prints each one's TPS, latency and generator CPU, and the ratio Python / npm (the goal: at least 0.5).
The sum of balances is checked at the end.

  python benchmarks/client_load.py                       # 16 clients x 40 in flight, alphas 0 and 1.5, 10 s
  python benchmarks/client_load.py --seconds 5 --alphas 0 --repeat 3

Needs Node 20 with the npm SDK in tests/node (`npm ci` there). Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "keynote"))

from keynote_bench.config import BENCH_DIR, RunConfig
from keynote_bench.loadgen_runner import LoadgenOutcome, NodeMissing, node_binary, run_generator, run_loadgen
from keynote_bench.processes import ProcessGroup
from keynote_bench.systems import start_ours

PY_LOADGEN = BENCH_DIR / "py_loadgen.py"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0, help="timed window per run (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="warmup before each window (default 2)")
    p.add_argument("--clients", type=int, default=16, help="connections (default 16)")
    p.add_argument("--inflight", type=int, default=40, help="calls in flight per connection (default 40)")
    p.add_argument("--alphas", default="0,1.5", help="comma-separated Zipf alphas (default 0,1.5)")
    p.add_argument("--repeat", type=int, default=1, help="rounds; the report shows medians (default 1)")
    p.add_argument("--accounts", type=int, default=100_000, help="accounts seeded (default 100000)")
    p.add_argument("--protocol", choices=["v2", "v3"], default="v3", help="WebSocket subprotocol (default v3)")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON to this file")
    return p.parse_args(argv)


def write_bindings(dest: Path, module: Path) -> None:
    """bank_bindings/ for py_loadgen.py, as `spacetimedb generate --lang python` writes it."""
    from spacetimedb.codegen.module_view import load_module_view
    from spacetimedb.codegen.python import generate_python
    from spacetimedb.module.loader import load_module

    pkg = dest / "bank_bindings"
    pkg.mkdir(parents=True)
    for rel, text in generate_python(load_module_view(load_module(module).raw_module_def_json())).items():
        (pkg / rel).write_text(text, "utf-8")


def _row(name: str, alpha: float, out: LoadgenOutcome) -> dict[str, Any]:
    r = out.result
    return {
        "generator": name,
        "alpha": alpha,
        "tps": r["tps"],
        "ok": r["ok"],
        "failed": r["failed"],
        "p50_ms": r.get("p50_ms"),
        "p99_ms": r.get("p99_ms"),
        "gen_cores": r.get("gen_cores"),
        "gen_us_per_call": r.get("gen_us_per_call"),
        "server_cores": None if out.server_cpu_s is None else out.server_cpu_s / float(r["window_s"]),
    }


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        node_binary()
    except NodeMissing as err:
        print(err, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    cfg = RunConfig(accounts=args.accounts, clients=args.clients, inflight=args.inflight, seconds=args.seconds,
                    warmup=args.warmup, protocol=args.protocol)  # fmt: skip
    alphas = [float(a) for a in args.alphas.split(",") if a.strip()]
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="client-load-") as tmp, ProcessGroup(Path(tmp)) as group:
        workdir = Path(tmp)
        write_bindings(workdir / "bindings", cfg.module)
        running = start_ours(group, cfg, workdir)
        common = {"accounts": cfg.accounts, "balance": cfg.balance}
        say(f"seeding {cfg.accounts} accounts")
        run_loadgen(group, running.script, "seed", {**running.options, **common}, timeout_s=300)
        for rnd in range(args.repeat):
            for alpha in alphas:
                opts = {**common, "clients": cfg.clients, "inflight": cfg.inflight, "alpha": alpha,
                        "warmup": cfg.warmup, "seconds": cfg.seconds}  # fmt: skip
                # Alternate which goes first, so neither always meets the fresher server.
                order = ["npm", "python"] if rnd % 2 == 0 else ["python", "npm"]
                for gen in order:
                    say(f"round {rnd + 1}, alpha {alpha:g}: {gen} SDK, {cfg.clients} x {cfg.inflight} in flight")
                    if gen == "npm":
                        out = run_loadgen(group, running.script, "run", {**running.options, **opts, "pairs": cfg.pairs},
                                          cfg.loadgen_timeout_s(), server_pids=running.server_pids)  # fmt: skip
                    else:
                        argv_py = [sys.executable, str(PY_LOADGEN), "run", "--bindings", str(workdir / "bindings"),
                                   "--url", str(running.options["url"]), "--db", cfg.database,
                                   "--protocol", cfg.protocol]  # fmt: skip
                        for k, v in opts.items():
                            argv_py += [f"--{k}", str(v)]
                        out = run_generator(group, argv_py, "py_loadgen.py run", cfg.loadgen_timeout_s(),
                                            server_pids=running.server_pids)  # fmt: skip
                    rows.append(_row(gen, alpha, out))
        verify = run_loadgen(group, running.script, "verify", {**running.options, **common}, timeout_s=300)
        count, total = int(verify.result["count"]), int(verify.result["total"])
        sum_ok = count == cfg.accounts and total == cfg.accounts * cfg.balance
    load = os.getloadavg()
    print(f"{'generator':<10} {'alpha':>5} {'TPS':>9} {'p50 ms':>7} {'p99 ms':>7} {'gen cores':>9} {'gen us/call':>11} {'server cores':>12}")
    for r in rows:
        print(f"{r['generator']:<10} {r['alpha']:>5g} {r['tps']:>9,.0f} {_fmt(r['p50_ms'], '7.1f')} "
              f"{_fmt(r['p99_ms'], '7.1f')} {_fmt(r['gen_cores'], '9.2f')} {_fmt(r['gen_us_per_call'], '11.1f')} "
              f"{_fmt(r['server_cores'], '12.2f')}")  # fmt: skip
    ratios = {}
    for alpha in alphas:
        py = statistics.median(r["tps"] for r in rows if r["alpha"] == alpha and r["generator"] == "python")
        npm = statistics.median(r["tps"] for r in rows if r["alpha"] == alpha and r["generator"] == "npm")
        ratios[alpha] = py / npm if npm else 0.0
        print(f"alpha {alpha:g}: Python client {py:,.0f} TPS / npm SDK {npm:,.0f} TPS = {ratios[alpha]:.2f} (goal >= 0.5)")
    print(f"balances: {'ok' if sum_ok else 'MISMATCH'} ({count} accounts, sum {total}); load average {load[0]:.1f}")
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": rows, "ratios": ratios, "sum_ok": sum_ok, "load": load}, indent=2))
    failed = any(r["failed"] for r in rows)
    return 0 if sum_ok and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
