"""Fan-out benchmark: how fast one chat message reaches N subscribers, ours against a bare broadcaster.

For each case (N subscribers, R messages per second) and each system, one fresh server, N subscribers
spread over `--procs` Node processes, and one sender sending R messages per second for `--seconds`
(after `--warmup` seconds of warmup messages). Each message's text carries its send time; latency is
taken at each subscriber's receipt. Systems:

  ours  examples/quickstart_chat.py on our server; the subscribers are npm SDK (spacetimedb@2.10.1)
        clients subscribed to `SELECT * FROM message` (latency at onInsert); the sender calls the
        send_message reducer through the SDK (its call latency is reported too).
  base  (with --baseline DIR) our server from another checkout, the same way as ours.
  raw   ours, but the subscribers are plain `ws` clients speaking v2 BSATN (one Subscribe, the text
        found in each TransactionUpdate's bytes): the client's cost is then about a ws peer client's,
        so what is left of the latency gap is the server's (the sender is the SDK, as for ours).
  py    benchmarks/fanout/py_peer.py, the same broadcaster in Python (aiohttp on uvloop, one frame
        built per message and written to each transport): the floor of a Python server, with the
        ws peer's clients.
  ws    benchmarks/fanout/ws_peer.mjs, a ~20-line Node `ws` server that sends every message to every
        other client; the subscribers and the sender are plain `ws` clients in the same processes.

Reported per case and system: p50/p99 delivery latency, deliveries (received of expected), the
server's CPU per delivered message (user+system from /proc over the timed window, its whole process
tree), the subscriber processes' CPU per delivered message, the reducer call p50/p99 (ours), and the
ratios ours/ws. The machine's load (uptime) is printed with the table.

  python benchmarks/fanout.py                                  # 100x20, 1000x20 (N x msgs/s)
  python benchmarks/fanout.py --cases 300x100 --seconds 10 --profile-pyspy ~/.venv/bin/py-spy
  git archive OLD src examples benchmarks | tar -x -C /tmp/old   # then, before and after in one run:
  python benchmarks/fanout.py --systems base,ours,ws --baseline /tmp/old

Needs Node 20 and `npm ci` in tests/node (the SDK and `ws`). Everything listens on 127.0.0.1 and
is stopped on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR / "keynote"))

from keynote_bench.cpu_usage import tree_cpu_seconds  # noqa: E402
from keynote_bench.loadgen_runner import NodeMissing, node_binary  # noqa: E402
from keynote_bench.processes import ProcessGroup, free_port, wait_for_http_ok, wait_for_port  # noqa: E402
from keynote_bench.profiling import render_profile, start_pyspy  # noqa: E402

FANOUT_JS = BENCH_DIR / "fanout"
_TICKS = os.sysconf("SC_CLK_TCK")


def user_system_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of one process (the server: one process for ours and for ws)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return 0.0, 0.0
    fields = raw[raw.rindex(b")") + 2 :].split()
    return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS
SYSTEMS = ("ours", "ws", "base", "raw", "py")


@dataclass
class Outcome:
    system: str
    clients: int
    rate: float
    expected: int = 0
    received: int = 0
    latencies: list[float] = field(default_factory=list)
    call_latencies: list[float] = field(default_factory=list)
    call_failures: int = 0
    server_cpu_s: float = 0.0
    server_sys_s: float = 0.0
    subscriber_cpu_s: float = 0.0
    error: str | None = None
    profile: str | None = None

    def pct(self, values: list[float], p: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def server_us(self) -> float:
        return 1e6 * self.server_cpu_s / self.received if self.received else float("nan")

    @property
    def server_sys_us(self) -> float:
        return 1e6 * self.server_sys_s / self.received if self.received else float("nan")

    @property
    def subscriber_us(self) -> float:
        return 1e6 * self.subscriber_cpu_s / self.received if self.received else float("nan")


class Lines:
    """JSON lines of a child's stdout, read on a thread into a queue."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                try:
                    self.queue.put(json.loads(line))
                except json.JSONDecodeError:
                    pass
        self.queue.put(None)

    def wait_for(self, event: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no '{event}' within {timeout_s:.0f} s")
            try:
                msg = self.queue.get(timeout=left)
            except queue.Empty:
                continue
            if msg is None:
                raise RuntimeError(f"exited (status {self.proc.poll()}) before '{event}'")
            if msg.get("event") == "error":
                raise RuntimeError(msg.get("message", "error"))
            if msg.get("event") == event:
                return msg


def node_child(group: ProcessGroup, script: str, args: dict[str, Any]) -> Lines:
    argv = [node_binary(), str(FANOUT_JS / script)]
    for k, v in args.items():
        argv += [f"--{k}", str(v)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True, start_new_session=True)
    group._children.append(proc)  # stopped with the group
    return Lines(proc)


def start_ours(group: ProcessGroup, workdir: Path, root: Path = REPO_ROOT) -> tuple[str, int]:
    """Our server from the checkout at `root` (its src/ and examples/)."""
    port = free_port()
    # The checkout's own server launcher when it has one (it matches that checkout's src/).
    keynote = root / "benchmarks" / "keynote"
    if not (keynote / "keynote_bench" / "ours_server.py").is_file():
        keynote = BENCH_DIR / "keynote"
    paths = (str(keynote), str(root / "src"), os.environ.get("PYTHONPATH", ""))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    argv = [sys.executable, "-m", "keynote_bench.ours_server", "--listen", f"127.0.0.1:{port}",
            "--data-dir", str(workdir / "data"), "--module", str(root / "examples" / "quickstart_chat.py"),
            "--name", "chat"]
    proc, log = group.start("ours", argv, env=env)
    wait_for_http_ok(f"http://127.0.0.1:{port}/v1/database/chat", proc, log, timeout_s=120)
    return f"ws://127.0.0.1:{port}", proc.pid


def start_ws(group: ProcessGroup) -> tuple[str, int]:
    port = free_port()
    proc, log = group.start("ws_peer", [node_binary(), str(FANOUT_JS / "ws_peer.mjs"), str(port)])
    wait_for_port(port, proc, log)
    return f"ws://127.0.0.1:{port}", proc.pid


def start_py(group: ProcessGroup) -> tuple[str, int]:
    port = free_port()
    proc, log = group.start("py_peer", [sys.executable, str(FANOUT_JS / "py_peer.py"), str(port)])
    wait_for_port(port, proc, log)
    return f"ws://127.0.0.1:{port}", proc.pid


def run_case(system: str, clients: int, rate: float, args: argparse.Namespace, say: Any) -> Outcome:
    out = Outcome(system, clients, rate)
    count = max(1, round(rate * args.seconds))
    out.expected = clients * count
    workdir = Path(tempfile.mkdtemp(prefix=f"fanout-{system}-"))
    try:
        with ProcessGroup(workdir) as group:
            if system == "ws":
                url, server_pid = start_ws(group)
            elif system == "py":
                url, server_pid = start_py(group)
            else:
                url, server_pid = start_ours(group, workdir, args.baseline if system == "base" else REPO_ROOT)
            mode = {"ws": "ws", "py": "ws", "raw": "raw"}.get(system, "stdb")
            procs = max(1, min(args.procs, clients))
            subs = []
            for i in range(procs):
                share = clients // procs + (1 if i < clients % procs else 0)
                subs.append(node_child(group, "subscribers.mjs", {
                    "mode": mode, "url": url, "clients": share, "expect": count, "protocol": args.protocol,
                    "compression": args.compression, "confirmed": args.confirmed}))
            for s in subs:
                s.wait_for("ready", 300)
            say(f"{system} {clients}x{rate:g}: {clients} subscribers ready")
            sender = node_child(group, "sender.mjs", {
                "mode": "ws" if system in ("ws", "py") else "stdb", "url": url, "rate": rate, "count": count, "warmup": args.warmup,
                "protocol": args.protocol, "confirmed": args.confirmed})
            sender.wait_for("window_start", 120)
            sub_pids = [s.proc.pid for s in subs]
            cpu0, sub0 = tree_cpu_seconds([server_pid]), tree_cpu_seconds(sub_pids)
            sys0 = user_system_seconds(server_pid)[1]
            pyspy = None
            if args.profile_pyspy and system not in ("ws", "py"):
                prof_out = workdir / "pyspy.txt"
                pyspy = start_pyspy(group, args.profile_pyspy, server_pid, args.seconds, prof_out)
            sender.wait_for("window_end", args.seconds * 3 + 60)
            for s in subs:
                try:
                    s.wait_for("done", args.drain)
                except TimeoutError:
                    pass
            cpu1, sub1 = tree_cpu_seconds([server_pid]), tree_cpu_seconds(sub_pids)
            out.server_cpu_s, out.subscriber_cpu_s = cpu1 - cpu0, sub1 - sub0
            out.server_sys_s = user_system_seconds(server_pid)[1] - sys0
            result = sender.wait_for("result", args.drain + 30)
            out.call_latencies = result.get("callLatencies", [])
            out.call_failures = int(result.get("failures", 0))
            for s in subs:
                assert s.proc.stdin is not None
                s.proc.stdin.write("report\n")
                s.proc.stdin.flush()
                r = s.wait_for("result", 60)
                out.received += int(r["received"])
                out.latencies += r["latencies"]
            if pyspy is not None:
                pyspy.wait(timeout=60)
                if (workdir / "pyspy.txt").exists():
                    out.profile = render_profile(f"py-spy {system} {clients}x{rate:g}", workdir / "pyspy.txt")
                    if args.profile_dir:
                        args.profile_dir.mkdir(parents=True, exist_ok=True)
                        shutil.copy(workdir / "pyspy.txt", args.profile_dir / f"pyspy-fanout-{system}-{clients}x{rate:g}.txt")
    except (RuntimeError, TimeoutError, OSError) as e:
        out.error = f"{type(e).__name__}: {e}"
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"kept {workdir}")
    return out


def _ratio(a: float, b: float) -> str:
    """a/b as `1.23x`; `n/a` when b is zero (a tiny run: CPU is counted in 10 ms ticks)."""
    return f"{a / b:.2f}x" if b else "n/a"


def render(outcomes: list[Outcome]) -> str:
    head = ("| case N x msgs/s | system | delivered | p50 ms | p99 ms | server CPU us/delivery (of it system) | "
            "subscriber CPU us/delivery | call p50 / p99 ms |")
    lines = [f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min), "
             f"{os.cpu_count()} cores", "", head, "|---|---|---:|---:|---:|---:|---:|---:|"]
    for o in outcomes:
        case = f"{o.clients} x {o.rate:g}"
        if o.error:
            lines.append(f"| {case} | {o.system} | FAILED: {o.error} | | | | | |")
            continue
        calls = (f"{o.pct(o.call_latencies, 50):.1f} / {o.pct(o.call_latencies, 99):.1f}"
                 if o.call_latencies else "-")
        if o.call_failures:
            calls += f" ({o.call_failures} failed)"
        lines.append(f"| {case} | {o.system} | {o.received}/{o.expected} | {o.pct(o.latencies, 50):.1f} | "
                     f"{o.pct(o.latencies, 99):.1f} | {o.server_us:.1f} ({o.server_sys_us:.1f}) | {o.subscriber_us:.1f} | {calls} |")
    by_case: dict[tuple[int, float], dict[str, Outcome]] = {}
    for o in outcomes:
        if not o.error:
            by_case.setdefault((o.clients, o.rate), {})[o.system] = o
    ratios = []
    for (n, r), systems in by_case.items():
        peer = systems.get("ws")
        for name in ("ours", "base", "raw", "py"):
            ours = systems.get(name)
            if ours and peer:
                ratios.append(f"  {name} / ws, {n} x {r:g}: "
                              f"p50 {_ratio(ours.pct(ours.latencies, 50), peer.pct(peer.latencies, 50))}, "
                              f"p99 {_ratio(ours.pct(ours.latencies, 99), peer.pct(peer.latencies, 99))}, "
                              f"server CPU per delivery {_ratio(ours.server_us, peer.server_us)}")
    if ratios:
        lines += ["", "ratios to the ws peer (lower is better for ours):", *ratios]
    for o in outcomes:
        if o.profile:
            lines += ["", o.profile]
    return "\n".join(lines)


def parse_cases(text: str) -> list[tuple[int, float]]:
    cases = []
    for part in text.split(","):
        n, _, r = part.strip().partition("x")
        cases.append((int(n), float(r)))
    return cases


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through every ProcessGroup, stopping its children


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="100x20,1000x20", help="comma-separated NxRATE (default 100x20,1000x20)")
    p.add_argument("--systems", default="ours,ws", help="comma-separated, of: ours, ws, base, raw, py (default ours,ws)")
    p.add_argument("--baseline", type=Path, default=None,
                   help="system 'base': our server from this other checkout (its src/ and examples/), e.g. an "
                        "export of an older commit, for before/after figures in one run")
    p.add_argument("--seconds", type=float, default=10.0, help="timed window per case (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warmup messages first (default 2)")
    p.add_argument("--drain", type=float, default=20.0, help="seconds to wait for late deliveries (default 20)")
    p.add_argument("--procs", type=int, default=4, help="Node processes the subscribers are spread over (default 4)")
    p.add_argument("--protocol", choices=["v2", "v3"], default="v3", help="our subscribers' subprotocol (default v3)")
    p.add_argument("--compression", choices=["none", "gzip", "brotli"], default="none",
                   help="compression our subscribers ask for (default none; chat messages are below the threshold)")
    p.add_argument("--confirmed", choices=["default", "true", "false"], default="default",
                   help="confirmed reads for our clients (default: the SDK's own default)")
    p.add_argument("--profile-pyspy", default=None, metavar="PY_SPY", help="profile our server with this py-spy binary")
    p.add_argument("--profile-dir", type=Path, default=None, help="keep the raw py-spy profiles here")
    p.add_argument("--keep", action="store_true", help="keep each run's temp dir (server logs)")
    args = p.parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if any(s not in SYSTEMS for s in systems):
        print(f"unknown system in {args.systems!r}; choose from {', '.join(SYSTEMS)}", file=sys.stderr)
        return 2
    if "base" in systems and (args.baseline is None or not (args.baseline / "src" / "spacetimedb").is_dir()):
        print("system 'base' needs --baseline DIR, a checkout with src/spacetimedb", file=sys.stderr)
        return 2
    if args.baseline is not None:
        args.baseline = args.baseline.resolve()
    try:
        node_binary()
    except NodeMissing as err:
        print(err, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    outcomes = []
    try:
        for clients, rate in parse_cases(args.cases):
            for system in systems:
                o = run_case(system, clients, rate, args, say)
                say(f"{system} {clients}x{rate:g}: {o.received}/{o.expected} delivered"
                    + (f" ({o.error})" if o.error else ""))
                outcomes.append(o)
    except KeyboardInterrupt:
        say("interrupted: every process has been stopped")
        return 130
    print(render(outcomes))
    return 1 if any(o.error for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
