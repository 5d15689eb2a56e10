"""Does our server use both cores? The keynote transfer workload with the server pinned to one core vs two.

One server (ours, examples/bank.py published as `bank` and `bank2`, durable as a user runs it) is
seeded once; then, for each setting (calls in flight per client, protocol), for one database (all
clients on `bank`) and two (half the clients on each, two generators at once), the same window runs
with the server's threads pinned to core 0 and to cores 0,1 (`sched_setaffinity` on every thread,
switched between windows, so every pair is measured minutes apart on the same server). The load
generator is not pinned (`--loadgen-cpus` pins it). Per window: TPS, the server's cores used and how
they split over its threads (/proc per-thread CPU, named from `py-spy dump` when `--pyspy` is given).
Balances are checked at the end.

  python benchmarks/both_cores.py                              # 16 clients x 1 and x 40, v2 and v3, alpha 0
  python benchmarks/both_cores.py --settings 40:v3 --rounds 3 --seconds 5
  python benchmarks/both_cores.py --pyspy /path/to/py-spy --profile-dir /tmp/prof   # + a py-spy --idle profile

Needs Node 20 with the npm SDK in tests/node (`npm ci` there). Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "keynote"))

from keynote_bench import cores
from keynote_bench.config import DEFAULT_MODULE
from keynote_bench.loadgen_runner import LoadgenOutcome, NodeMissing, node_binary, run_loadgen
from keynote_bench.processes import ProcessGroup, free_port, wait_for_http_ok, wait_for_port
from keynote_bench.profiling import render_profile
from keynote_bench.systems import _python_env

DATABASES = ("bank", "bank2")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0, help="timed window (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="warmup before each window (default 2)")
    p.add_argument("--clients", type=int, default=16, help="connections in all (default 16; split over 2 databases)")
    p.add_argument("--settings", default="1:v2,40:v2,1:v3,40:v3", help="INFLIGHT:PROTOCOL,... (default all four)")
    p.add_argument("--databases", default="1,2", help="comma-separated: 1 and/or 2 databases loaded (default 1,2)")
    p.add_argument("--placements", default="0;0,1", help="server CPU lists, ';'-separated (default '0;0,1')")
    p.add_argument("--loadgen-cpus", default=None, help="pin the load generators to these CPUs (default: not pinned)")
    p.add_argument("--alpha", type=float, default=0.0, help="Zipf alpha (default 0)")
    p.add_argument("--rounds", type=int, default=1, help="rounds over everything (default 1)")
    p.add_argument("--accounts", type=int, default=100_000, help="accounts seeded per database (default 100000)")
    p.add_argument("--pyspy", default=None, help="py-spy binary: name the threads; with --profile-dir also profile")
    p.add_argument("--profile-dir", type=Path, default=None, help="py-spy --idle profiles of the 2-core windows")
    p.add_argument("--unconfirmed-reads", action="store_true",
                   help="clients do not ask for confirmed reads: replies no longer wait for the fsync, so the "
                        "server's CPU is what limits (a diagnostic; the workload asks for confirmed reads)")
    p.add_argument("--server-flag", action="append", default=[], help="extra ours_server argument (repeatable)")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON to this file")
    return p.parse_args(argv)


def _cpus(text: str) -> set[int]:
    return {int(c) for c in text.split(",") if c.strip()}


def start_server(group: ProcessGroup, workdir: Path, extra: list[str]) -> tuple[int, int]:
    port = free_port()
    argv = [sys.executable, "-m", "keynote_bench.ours_server", "--listen", f"127.0.0.1:{port}"]
    argv += ["--data-dir", str(workdir / "data"), "--module", str(DEFAULT_MODULE), *extra]
    for name in DATABASES:
        argv += ["--name", name]
    proc, log = group.start("spacetimedb", argv, env=_python_env())
    wait_for_port(port, proc, log, timeout_s=60)
    for name in DATABASES:
        wait_for_http_ok(f"http://127.0.0.1:{port}/v1/database/{name}", proc, log, timeout_s=120)
    return port, proc.pid


def _options(port: int, db: str, protocol: str, confirmed: bool = True) -> dict[str, object]:
    return {"url": f"ws://127.0.0.1:{port}", "db": db, "protocol": protocol, "confirmed": str(confirmed).lower()}


class Window:
    """One timed window of one or two generators at once; per-thread server CPU over the first one's window."""

    def __init__(self, group: ProcessGroup, pid: int, profile: Path | None, pyspy: str | None, seconds: float):
        self.group, self.pid, self.profile, self.pyspy, self.seconds = group, pid, profile, pyspy, seconds
        self.before: dict[int, float] | None = None
        self.cpu: dict[int, float] = {}
        self.spy: subprocess.Popen[str] | None = None

    def on_event(self, event: dict[str, Any]) -> None:
        if event.get("event") == "window_start":
            self.before = cores.thread_cpu(self.pid)
            if self.profile is not None and self.pyspy is not None:
                argv = [self.pyspy, "record", "--pid", str(self.pid), "--duration", str(max(1, round(self.seconds))),
                        "--rate", "250", "--format", "raw", "--function", "--threads", "--idle",
                        "--output", str(self.profile), "--nonblocking"]
                self.spy = self.group.start_piped(argv)
        elif event.get("event") == "window_end" and self.before is not None:
            self.cpu = cores.cpu_between(self.before, cores.thread_cpu(self.pid))

    def finish(self) -> None:
        if self.spy is not None:
            try:
                self.spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.group.stop(self.spy)


def run_window(
    group: ProcessGroup, args: argparse.Namespace, port: int, pid: int, inflight: int, protocol: str, dbs: int,
    profile: Path | None,
) -> tuple[float, dict[int, float], float, float]:
    """(TPS summed over the databases, per-thread server CPU seconds, window seconds, generator cores)."""
    window = Window(group, pid, profile, args.pyspy, args.seconds)
    results: list[LoadgenOutcome | BaseException] = []
    lock = threading.Lock()
    timeout = args.warmup + args.seconds + 120.0

    def one(i: int) -> None:
        options = {
            **_options(port, DATABASES[i], protocol, not args.unconfirmed_reads), "accounts": args.accounts, "balance": 1_000_000_000,
            "clients": max(1, args.clients // dbs), "inflight": inflight, "alpha": args.alpha,
            "warmup": args.warmup, "seconds": args.seconds,
        }
        try:
            out = run_loadgen(group, "stdb_loadgen.mjs", "run", options, timeout,
                              on_event=window.on_event if i == 0 else None)
        except BaseException as err:  # reported below, after both ended
            out = err  # type: ignore[assignment]
        with lock:
            results.append(out)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(dbs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    window.finish()
    for r in results:
        if isinstance(r, BaseException):
            raise r
    ok = [r for r in results if isinstance(r, LoadgenOutcome)]
    gen = sum(float(r.result.get("gen_cores") or 0.0) for r in ok)
    return sum(float(r.result["tps"]) for r in ok), window.cpu, float(ok[0].result["window_s"]), gen


def _split(cpu: dict[int, float], names: dict[int, str], pid: int, window_s: float) -> dict[str, float]:
    """Cores used per thread name (threads without a name, e.g. libuv's, summed as 'other')."""
    out: dict[str, float] = {}
    for tid, seconds in cpu.items():
        owner = cores.process_of(tid)
        if owner != pid:  # a database process (--database-processes): its threads summed
            name = cores.process_label(owner)
        else:
            name = names.get(tid) or ("other" if cores.comm(pid, tid) != "python" else f"tid {tid}")
        out[name] = out.get(name, 0.0) + seconds / window_s
    return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v >= 0.01}


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the ProcessGroup, stopping the server and generators


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        node_binary()
    except NodeMissing as err:
        print(err, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    settings = [(int(s.split(":")[0]), s.split(":")[1]) for s in args.settings.split(",") if s.strip()]
    db_counts = [int(d) for d in args.databases.split(",") if d.strip()]
    placements = [p.strip() for p in args.placements.split(";") if p.strip()]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="both-cores-") as tmp, ProcessGroup(Path(tmp)) as group:
        if args.loadgen_cpus:
            os.sched_setaffinity(0, _cpus(args.loadgen_cpus))  # the generators inherit it
        port, pid = start_server(group, Path(tmp), args.server_flag)
        for name in DATABASES:
            say(f"seeding {args.accounts} accounts in {name}")
            opts = {**_options(port, name, "v3"), "accounts": args.accounts, "balance": 1_000_000_000}
            run_loadgen(group, "stdb_loadgen.mjs", "seed", opts, timeout_s=300.0)
        for rnd in range(args.rounds):
            for inflight, protocol in settings:
                for dbs in db_counts:
                    for placement in placements:
                        cores.pin(pid, _cpus(placement))
                        label = f"{args.clients}x{inflight} {protocol}, {dbs} db, server on cpu {placement}"
                        profile = None
                        if args.profile_dir is not None and len(_cpus(placement)) > 1:
                            args.profile_dir.mkdir(parents=True, exist_ok=True)
                            profile = args.profile_dir / f"idle-{inflight}-{protocol}-{dbs}db-r{rnd + 1}.txt"
                        say(f"round {rnd + 1}: {label}")
                        tps, cpu, window_s, gen = run_window(group, args, port, pid, inflight, protocol, dbs, profile)
                        names = cores.thread_names(args.pyspy, pid)
                        split = _split(cpu, names, pid, window_s)
                        rows.append({"round": rnd + 1, "inflight": inflight, "protocol": protocol, "databases": dbs,
                                     "server_cpus": placement, "tps": round(tps), "server_cores": round(
                                         sum(cpu.values()) / window_s, 2), "generator_cores": round(gen, 2),
                                     "threads": split, "load": os.getloadavg()[0]})
                        say(f"  {tps:,.0f} TPS, server {sum(cpu.values()) / window_s:.2f} cores: {split}; "
                            f"generator {gen:.2f} cores; load {os.getloadavg()[0]:.1f}")
                        if profile is not None and profile.exists():
                            say(render_profile(f"py-spy --idle {label}", profile, limit=8))
        cores.pin(pid, set(range(os.cpu_count() or 1)))
        for name in DATABASES:
            opts = {**_options(port, name, "v3"), "accounts": args.accounts}
            check = run_loadgen(group, "stdb_loadgen.mjs", "verify", opts, timeout_s=300.0).result
            expected = args.accounts * 1_000_000_000
            if int(check["count"]) != args.accounts or int(check["total"]) != expected:
                say(f"MISMATCH in {name}: {check}")
                return 1
    print(render(rows, placements, args.clients))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def render(rows: list[dict[str, Any]], placements: list[str], clients: int) -> str:
    """One line per (round, setting, databases): TPS per placement and the ratio last / first."""
    lines = ["| setting | databases | " + " | ".join(f"TPS, server on cpu {p}" for p in placements)
             + " | ratio | server cores used | threads (cores), last placement |",
             "|---|---:|" + "---:|" * len(placements) + "---:|---|---|"]
    keys: dict[tuple[int, int, str, int], dict[str, dict[str, Any]]] = {}
    for r in rows:
        keys.setdefault((r["round"], r["inflight"], r["protocol"], r["databases"]), {})[r["server_cpus"]] = r
    for (rnd, inflight, protocol, dbs), by in keys.items():
        tps = [by[p]["tps"] if p in by else 0 for p in placements]
        ratio = f"{tps[-1] / tps[0]:.2f}" if tps[0] else "-"
        used = " / ".join(f"{by[p]['server_cores']:.2f}" for p in placements if p in by)
        last = by.get(placements[-1], {}).get("threads", {})
        threads = ", ".join(f"{k} {v:.2f}" for k, v in last.items())
        lines.append(f"| {clients}x{inflight} {protocol} (round {rnd}) | {dbs} | "
                     + " | ".join(f"{t:,}" for t in tps) + f" | {ratio} | {used} | {threads} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
