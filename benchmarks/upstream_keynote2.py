"""SpacetimeDB's own keynote-2 harness (templates/keynote-2) against our server, side by side with its SQLite peer.

Exports the harness from a SpacetimeDB git directory (bare or not) into a cache directory, installs it
with npm from benchmarks/upstream_keynote2/ (its package.json trimmed and SDK-pinned, plus our
lockfile), starts our server with examples/bank.py published as `test-1` (the database name the
harness expects), seeds it as the harness's `prep` does (`seed 100000 1000000000`, here over HTTP
instead of the `spacetime` CLI), and runs the harness's own CLI (`tsx src/cli.ts test-1 --connectors
spacetimedb ...`), then the same with its `sqlite_rpc` peer (Node HTTP -> Drizzle -> better-sqlite3,
its own `src/rpc-servers/sqlite-rpc-server.ts`, seeded by that server's own `seed` RPC). The
harness's output is printed as it runs; a summary of the TPS it wrote to its run JSONs ends the run.

  python benchmarks/upstream_keynote2.py --data-dir /tmp/kn2-data --seconds 5 --settings 16x1
  python benchmarks/upstream_keynote2.py --data-dir /tmp/kn2-data             # the full rerun, 30 s windows

A setting CxI is C clients with I calls in flight each: I=1 runs the harness unpipelined (its default),
I>1 sets BENCH_PIPELINED=1 MAX_INFLIGHT_PER_WORKER=I (upstream's setting for SpacetimeDB is 40). The
SQLite peer runs only the unpipelined settings (upstream's headline compares it unpipelined).
Everything listens on 127.0.0.1 and every process started is stopped on exit, Ctrl-C included.
Needs Node 20, npm, a C++ toolchain and Node's headers (better-sqlite3 builds from source when its
prebuilt binary cannot be downloaded; the headers at /usr/include/node are used when present).

Differences from upstream's published runs (its README, "Published Benchmark Defaults"):
- The harness's code is unchanged. Its package.json is replaced by a trimmed one: the SDK pinned to the
  npm release 2.10.1 (upstream: `workspace:^`, the SDK built from the same tree), and only the packages
  its spacetimedb and sqlite_rpc paths import (no bun/convex/pg/supabase); versions from its own
  package-lock.json. No docker, no `pnpm run prep` (it needs the `spacetime` CLI): this script seeds.
- Protocol: the npm SDK 2.10.1 offers v3 then v2 and the harness has no switch for it; the server picks.
  `--protocol v2` (default, as issue 14 measured and as the harness's bundled SDK 2.0.x spoke) makes
  our server offer only v2, so the unchanged SDK falls back to v2; `--protocol v3` lets it choose v3.
- Confirmed reads on (the harness's default, STDB_CONFIRMED_READS=1), compression none (its default).
  Our server's durability at its default (fsync on): a confirmed call answers once its commit is durable.
- Clients and windows: upstream used 64 clients (2x the CPUs of a 32-thread host) and 300 s per alpha;
  here 16x1, 16x40 and 4x1 (a 2-core host) and --seconds (default 30, as issue 14).
- The SQLite peer's SQLITE_MODE is left unset by default, so its server applies its code default
  `realistic_cached` (WAL, synchronous NORMAL because `synchronous = MEMORY` is not a valid value,
  64 MB cache); upstream's .env.example sets `default` (no pragmas). `--sqlite-mode realistic` gives WAL
  with synchronous FULL, the durability a confirmed call has.
- Other harness knobs at its defaults (10,000,000 precomputed pairs per alpha, 15 s op timeout,
  VERIFY off; `--verify` turns on its balance check, which subscribes every client to all accounts).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks" / "keynote"))

from keynote_bench.processes import ProcessGroup, free_port, wait_for_http_ok, wait_for_port  # noqa: E402

HARNESS_PATH = "templates/keynote-2"
#: The harness's package.json and lockfile, as installed (trimmed, SDK pinned).
PACKAGE_DIR = REPO / "benchmarks" / "upstream_keynote2"
#: Where SpacetimeDB's source usually sits beside this checkout (a sibling `.mirror`); `--source` overrides.
DEFAULT_SOURCE_REL = Path("..") / ".mirror" / "clockworklabs+SpacetimeDB" / "repo"
DATABASE = "test-1"  # the harness's STDB_MODULE default
SUBPROTOCOLS = {"v2": ["v2.bsatn.spacetimedb"], "v3": ["v3.bsatn.spacetimedb", "v2.bsatn.spacetimedb"]}
SYSTEMS = ("spacetimedb", "sqlite_rpc")


@dataclass(frozen=True)
class Setting:
    clients: int
    inflight: int

    @property
    def pipelined(self) -> bool:
        return self.inflight > 1

    def __str__(self) -> str:
        return f"{self.clients}x{self.inflight}"


def parse_settings(text: str) -> list[Setting]:
    """`16x1,16x40,4x1` -> settings; raises ValueError on anything else."""
    out: list[Setting] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        clients, sep, inflight = item.lower().partition("x")
        if not sep or not clients.isdigit() or not inflight.isdigit() or int(clients) < 1 or int(inflight) < 1:
            raise ValueError(f"a setting is CLIENTSxINFLIGHT with both at least 1 (e.g. 16x40), not {item!r}")
        out.append(Setting(int(clients), int(inflight)))
    if not out:
        raise ValueError("no settings given")
    return out


def parse_alphas(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise ValueError(f"alphas are comma-separated numbers, not {text!r}") from e
    if not values or any(v < 0 for v in values):
        raise ValueError(f"alphas are comma-separated numbers >= 0, not {text!r}")
    return values


def parse_systems(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [n for n in names if n not in SYSTEMS]
    if bad or not names:
        raise ValueError(f"systems are a comma-separated subset of {', '.join(SYSTEMS)}, not {text!r}")
    return names


def default_work_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spacetimedb-server" / "upstream-keynote2"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", required=True, type=Path, help="our server's data directory (created if absent)")
    p.add_argument("--source", type=Path, default=None,
                   help="SpacetimeDB git directory holding templates/keynote-2 (default: $SPACETIMEDB_SOURCE, "
                        f"else {DEFAULT_SOURCE_REL} from this repository's root)")
    p.add_argument("--rev", default="HEAD", help="revision of --source to export (default HEAD)")
    p.add_argument("--work-dir", type=Path, default=None,
                   help=f"where the harness is exported and installed, runs and logs kept (default {default_work_dir()})")
    p.add_argument("--settings", default="16x1,16x40,4x1", help="comma-separated CLIENTSxINFLIGHT (default 16x1,16x40,4x1)")
    p.add_argument("--alphas", default="0,1.5", help="comma-separated Zipf alphas (default 0,1.5)")
    p.add_argument("--seconds", type=int, default=30, help="the harness's --seconds, per alpha (default 30)")
    p.add_argument("--rounds", type=int, default=1, help="repeat every setting and system, interleaved (default 1)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, of: {', '.join(SYSTEMS)}")
    p.add_argument("--protocol", choices=sorted(SUBPROTOCOLS), default="v2",
                   help="v2 (default): our server offers only v2; v3: it offers v3 then v2 (the SDK takes v3)")
    p.add_argument("--accounts", type=int, default=100_000, help="accounts seeded (default 100000)")
    p.add_argument("--initial-balance", type=int, default=1_000_000_000, help="per account (default 1000000000)")
    p.add_argument("--sqlite-mode", default=None,
                   help="the peer's SQLITE_MODE (default unset: its code default realistic_cached, WAL)")
    p.add_argument("--precomputed-pairs", type=int, default=None,
                   help="BENCH_PRECOMPUTED_TRANSFER_PAIRS (default: the harness's, 10000000)")
    p.add_argument("--verify", action="store_true", help="VERIFY=1: the harness checks the balance sum after each run")
    p.add_argument("--module", type=Path, default=REPO / "examples" / "bank.py", help="default examples/bank.py")
    p.add_argument("--install-only", action="store_true", help="export and install the harness, then stop")
    opts = p.parse_args(argv)
    try:
        opts.settings = parse_settings(opts.settings)
        opts.alphas = parse_alphas(opts.alphas)
        opts.systems = parse_systems(opts.systems)
    except ValueError as e:
        p.error(str(e))
    for name in ("seconds", "rounds", "accounts", "initial_balance"):
        if getattr(opts, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if opts.precomputed_pairs is not None and opts.precomputed_pairs < 1:
        p.error("--precomputed-pairs must be at least 1")
    if opts.source is None:
        env = os.environ.get("SPACETIMEDB_SOURCE")
        opts.source = Path(env) if env else (REPO / DEFAULT_SOURCE_REL)
    if opts.work_dir is None:
        opts.work_dir = default_work_dir()
    return opts


# --- the harness: export and install --------------------------------------------------------------


def export_harness(source: Path, rev: str, dest: Path) -> str:
    """Writes `templates/keynote-2` at `rev` into `dest` (kept: node_modules) with our package files; returns the commit."""
    if not source.exists():
        raise SystemExit(f"no SpacetimeDB source at {source} (give --source or $SPACETIMEDB_SOURCE)")
    commit = subprocess.run(["git", "-C", str(source), "rev-parse", f"{rev}^{{commit}}"],
                            check=True, capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(["git", "-C", str(source), "archive", "--format=tar", commit, HARNESS_PATH],
                             check=True, capture_output=True).stdout
    dest.mkdir(parents=True, exist_ok=True)
    for entry in dest.iterdir():
        if entry.name == "node_modules":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    prefix = HARNESS_PATH + "/"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if not member.name.startswith(prefix) or not (member.isfile() or member.isdir()):
                continue
            rel = member.name[len(prefix):]
            if not rel or ".." in Path(rel).parts:
                continue
            target = dest / rel
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source_file = tar.extractfile(member)
            assert source_file is not None
            target.write_bytes(source_file.read())
    (dest / "pnpm-lock.yaml").unlink(missing_ok=True)  # the workspace lockfile: npm uses ours
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(PACKAGE_DIR / name, dest / name)
    (dest / ".env").unlink(missing_ok=True)  # dotenv must not pick up settings we did not pass
    return commit


def install_harness(harness: Path) -> None:
    """`npm ci` unless node_modules already matches our lockfile and this Node."""
    node = subprocess.run(["node", "--version"], check=True, capture_output=True, text=True).stdout.strip()
    stamp_text = hashlib.sha256((PACKAGE_DIR / "package-lock.json").read_bytes()).hexdigest() + " " + node
    stamp = harness / "node_modules" / ".upstream-keynote2-stamp"
    if stamp.exists() and stamp.read_text() == stamp_text:
        return
    env = dict(os.environ)
    # better-sqlite3 builds from source when its prebuilt binary is out of reach; node-gyp then needs
    # Node's headers, which a Debian/nodesource node ships under /usr/include/node.
    if "npm_config_nodedir" not in env and Path("/usr/include/node/common.gypi").exists():
        env["npm_config_nodedir"] = "/usr"
    print(f"[upstream-keynote2] npm ci in {harness} (better-sqlite3 may compile: a few minutes)", flush=True)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=harness, env=env, check=True)
    stamp.write_text(stamp_text)


# --- the servers ---------------------------------------------------------------------------------


def serve_ours(argv: Sequence[str]) -> None:
    """The child process: our server with the module published under the harness's database name."""
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--module", required=True, type=Path)
    p.add_argument("--protocol", choices=sorted(SUBPROTOCOLS), required=True)
    opts = p.parse_args(argv)
    from spacetimedb.server.app import run_server

    run_server(opts.listen, opts.data_dir, publish=[(DATABASE, opts.module)], protocols=SUBPROTOCOLS[opts.protocol])


def start_ours(group: ProcessGroup, opts: argparse.Namespace) -> str:
    port = free_port()
    argv = [sys.executable, str(Path(__file__).resolve()), "_serve", "--listen", f"127.0.0.1:{port}",
            "--data-dir", str(opts.data_dir), "--module", str(opts.module), "--protocol", opts.protocol]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), *filter(None, [env.get("PYTHONPATH")])])
    proc, log = group.start("spacetimedb", argv, env=env)
    wait_for_port(port, proc, log, timeout_s=60)
    wait_for_http_ok(f"http://127.0.0.1:{port}/v1/database/{DATABASE}", proc, log, timeout_s=120)
    print(f"[upstream-keynote2] our server on 127.0.0.1:{port}, {opts.module.name} as {DATABASE!r}, "
          f"offering {', '.join(SUBPROTOCOLS[opts.protocol])} (log {log})", flush=True)
    return f"ws://127.0.0.1:{port}"


def start_sqlite_peer(group: ProcessGroup, opts: argparse.Namespace, harness: Path) -> str:
    port = free_port()
    data = opts.work_dir / "sqlite"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    env = dict(os.environ, SQLITE_FILE=str(data / "accounts.sqlite"), SQLITE_RPC_PORT=str(port),
               SEED_ACCOUNTS=str(opts.accounts), SEED_INITIAL_BALANCE=str(opts.initial_balance))
    env.pop("SQLITE_MODE", None)
    if opts.sqlite_mode:
        env["SQLITE_MODE"] = opts.sqlite_mode
    argv = [str(harness / "node_modules" / ".bin" / "tsx"), "src/rpc-servers/sqlite-rpc-server.ts"]
    proc, log = group.start("sqlite-rpc", argv, env=env, cwd=str(harness))
    wait_for_port(port, proc, log, timeout_s=60)
    print(f"[upstream-keynote2] the harness's sqlite-rpc-server on 127.0.0.1:{port}, "
          f"SQLITE_MODE={opts.sqlite_mode or '(unset: realistic_cached)'} (log {log})", flush=True)
    return f"http://127.0.0.1:{port}"


def post_json(url: str, body: object, timeout_s: float = 300.0) -> bytes:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        return bytes(resp.read())


def seed(system: str, url: str, opts: argparse.Namespace) -> None:
    t0 = time.monotonic()
    if system == "spacetimedb":
        # What the harness's prep runs: `spacetime call test-1 seed N BALANCE` (HTTP, as that CLI does).
        post_json(url.replace("ws://", "http://") + f"/v1/database/{DATABASE}/call/seed",
                  [opts.accounts, opts.initial_balance])
    else:
        post_json(url + "/rpc", {"name": "seed", "args": {"accounts": opts.accounts,
                                                          "initialBalance": opts.initial_balance}})
    print(f"[upstream-keynote2] seeded {system}: {opts.accounts} accounts in {time.monotonic() - t0:.1f} s", flush=True)


# --- one harness run -----------------------------------------------------------------------------


def harness_env(system: str, url: str, setting: Setting, opts: argparse.Namespace, runs_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STDB_", "BENCH_", "SQLITE_", "SEED_", "MAX_INFLIGHT", "VERIFY"))}
    env.update(BENCH_RUNS_DIR=str(runs_dir), SEED_ACCOUNTS=str(opts.accounts),
               SEED_INITIAL_BALANCE=str(opts.initial_balance), VERIFY="1" if opts.verify else "0")
    if system == "spacetimedb":
        env.update(STDB_URL=url, STDB_MODULE=DATABASE, STDB_CONFIRMED_READS="1", STDB_COMPRESSION="none")
    else:
        env["SQLITE_RPC_URL"] = url
    if setting.pipelined:
        env.update(BENCH_PIPELINED="1", MAX_INFLIGHT_PER_WORKER=str(setting.inflight))
    if opts.precomputed_pairs is not None:
        env["BENCH_PRECOMPUTED_TRANSFER_PAIRS"] = str(opts.precomputed_pairs)
    return env


def run_harness(group: ProcessGroup, harness: Path, system: str, setting: Setting, opts: argparse.Namespace,
                env: dict[str, str]) -> int:
    alphas = ",".join(f"{a:g}" for a in opts.alphas)
    argv = [str(harness / "node_modules" / ".bin" / "tsx"), "src/cli.ts", "test-1", "--connectors", system,
            "--seconds", str(opts.seconds), "--concurrency", str(setting.clients), "--alpha", alphas,
            "--accounts", str(opts.accounts)]
    print(f"[upstream-keynote2] {setting} {system}: (cd {harness} && {' '.join(argv[1:])})", flush=True)
    proc = subprocess.Popen(argv, cwd=harness, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    group.on_exit(lambda: group.stop(proc))  # its own process group (tsx runs node as a child): stopped on exit
    # Each alpha: connect, precompute the pairs, the window, the in-flight tail; generous on a loaded host.
    timeout_s = len(opts.alphas) * (opts.seconds + 180) + 60
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        print(f"[upstream-keynote2] the harness did not finish within {timeout_s} s: stopped", flush=True)
        group.stop(proc)
        return -1


@dataclass
class Result:
    setting: Setting
    system: str
    alpha: float
    tps: float
    p50_ms: float
    p99_ms: float


def read_results(runs_dir: Path, setting: Setting, system: str) -> list[Result]:
    out = []
    for path in sorted(runs_dir.glob("*.json")):
        data = json.loads(path.read_text())
        for r in data.get("results", []):
            res = r["res"]
            out.append(Result(setting, system, float(r["alpha"]), float(res["tps"]), float(res["p50_ms"]),
                              float(res["p99_ms"])))
    return out


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def summary(results: list[Result], alphas: Sequence[float]) -> str:
    lines = ["| setting | alpha | system | TPS | p50 ms | p99 ms |", "|---|---:|---|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.setting} | {r.alpha:g} | {r.system} | {r.tps:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} |")
    ratios = []
    settings = list(dict.fromkeys(str(r.setting) for r in results))
    for s in settings:
        for a in alphas:
            ours = [r.tps for r in results if str(r.setting) == s and r.alpha == a and r.system == "spacetimedb"]
            peer = [r.tps for r in results if r.setting.clients == int(s.split("x")[0]) and r.setting.inflight == 1
                    and r.alpha == a and r.system == "sqlite_rpc"]
            if ours and peer and min(peer) > 0:
                mean_ours, mean_peer = sum(ours) / len(ours), sum(peer) / len(peer)
                ratios.append(f"{s} alpha {a:g}: ours / sqlite_rpc ({s.split('x')[0]}x1) = {mean_ours / mean_peer:.1f}x")
    return "\n".join(lines + (["", *ratios] if ratios else []))


def run(opts: argparse.Namespace) -> int:
    work: Path = opts.work_dir
    harness = work / "harness"
    commit = export_harness(opts.source, opts.rev, harness)
    print(f"[upstream-keynote2] {HARNESS_PATH} at {commit} exported to {harness}", flush=True)
    install_harness(harness)
    if opts.install_only:
        return 0
    stamp = time.strftime("%Y%m%dT%H%M%S")
    log_dir = work / "logs" / stamp
    log_dir.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    failures: list[str] = []
    print(f"[upstream-keynote2] load average at start: {load_average()}", flush=True)
    with ProcessGroup(log_dir) as group:
        urls = {}
        if "spacetimedb" in opts.systems:
            urls["spacetimedb"] = start_ours(group, opts)
        if "sqlite_rpc" in opts.systems and any(not s.pipelined for s in opts.settings):
            urls["sqlite_rpc"] = start_sqlite_peer(group, opts, harness)
        for round_no in range(1, opts.rounds + 1):
            for setting in opts.settings:
                for system in opts.systems:
                    if system == "sqlite_rpc" and setting.pipelined:
                        continue  # upstream compares the peer unpipelined
                    runs_dir = work / "runs" / stamp / f"r{round_no}-{setting}-{system}"
                    seed(system, urls[system], opts)
                    env = harness_env(system, urls[system], setting, opts, runs_dir)
                    code = run_harness(group, harness, system, setting, opts, env)
                    got = read_results(runs_dir, setting, system) if runs_dir.exists() else []
                    if code != 0 or len(got) != len(opts.alphas) or any(r.tps <= 0 for r in got):
                        failures.append(f"round {round_no} {setting} {system}: exit {code}, "
                                        f"{len(got)} of {len(opts.alphas)} results, TPS {[r.tps for r in got]}")
                    results += got
    print(f"\n[upstream-keynote2] harness {commit[:12]}, SDK 2.10.1, protocol {opts.protocol}, confirmed reads, "
          f"{opts.accounts} accounts, {opts.seconds} s per alpha; load average at end: {load_average()}")
    print(summary(results, opts.alphas))
    for f in failures:
        print(f"[upstream-keynote2] FAILED {f}")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["_serve"]:
        serve_ours(args[1:])
        return 0
    opts = parse_args(args)

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # also when started in the background (SIGINT ignored at start)
    try:
        return run(opts)
    except KeyboardInterrupt:
        print("[upstream-keynote2] interrupted; every process started was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
