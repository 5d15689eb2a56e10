"""The systems under test: our server, the two JSON-RPC peers (SQLite, PostgreSQL), and the no-op
server that measures the load generator's own ceiling (`noop_server.py`).

Each `start_*` launches its servers inside the run's ProcessGroup (so they are torn down with it),
waits until they listen, and says which load generator drives them. A missing dependency raises
SystemUnavailable with what to install; the orchestrator then skips that system.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from keynote_bench.config import BENCH_DIR, REPO_ROOT, RunConfig
from keynote_bench.postgres_cluster import PostgresUnavailable, new_cluster
from keynote_bench.processes import ProcessGroup, free_port, wait_for_http_ok, wait_for_port


class SystemUnavailable(Exception):
    """A system cannot run here; the message says what is missing and how to get it."""


@dataclass
class RunningSystem:
    name: str
    script: str  # the load generator in loadgen/
    options: dict[str, object]  # generator options that address this system
    inflight: int
    server_pids: list[int]
    is_ours: bool
    #: The no-op server: the client's ceiling, neither ours nor a peer (no balance check either).
    is_ceiling: bool = False


def _pinned(cfg: RunConfig, argv: list[str]) -> list[str]:
    """`argv` under `taskset -c CPUS` when the run pins servers (taskset execs: the pid stays the server's)."""
    if cfg.server_cpus is None:
        return argv
    taskset = shutil.which("taskset")
    if taskset is None:
        raise SystemUnavailable("--server-cpus needs taskset (util-linux)")
    return [taskset, "-c", cfg.server_cpus, *argv]


def _python_env() -> dict[str, str]:
    paths = [str(BENCH_DIR), str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def start_ours(group: ProcessGroup, cfg: RunConfig, workdir: Path) -> RunningSystem:
    if importlib.util.find_spec("spacetimedb.server.app") is None:
        raise SystemUnavailable("our server (spacetimedb.server.app.run_server) is not in this checkout yet")
    if not cfg.module.exists():
        raise SystemUnavailable(f"the bank module {cfg.module} does not exist")
    port = free_port()
    data_dir = workdir / "spacetimedb-data"
    argv = [sys.executable, "-m", "keynote_bench.ours_server", "--listen", f"127.0.0.1:{port}"]
    argv += ["--data-dir", str(data_dir), "--module", str(cfg.module), "--name", cfg.database]
    if cfg.trace is not None:
        argv += ["--trace", str(cfg.trace)]
    argv += cfg.server_flags
    proc, log = group.start("spacetimedb", _pinned(cfg, argv), env=_python_env())
    wait_for_port(port, proc, log, timeout_s=60)
    # The server listens before it has published the module: wait for the database itself.
    wait_for_http_ok(f"http://127.0.0.1:{port}/v1/database/{cfg.database}", proc, log, timeout_s=120)
    return RunningSystem(
        name="spacetimedb-py",
        script="stdb_loadgen.mjs",
        options={
            "url": f"ws://127.0.0.1:{port}",
            "db": cfg.database,
            "protocol": cfg.protocol,
            "confirmed": "true" if cfg.confirmed_reads else "false",
        },
        inflight=cfg.inflight,
        server_pids=[proc.pid],
        is_ours=True,
    )


def _start_peer(group: ProcessGroup, cfg: RunConfig, name: str, backend_args: list[str]) -> RunningSystem:
    port = free_port()
    argv = [sys.executable, "-m", "keynote_bench.peer_server", "--port", str(port), *backend_args]
    proc, log = group.start(name, _pinned(cfg, argv), env=_python_env())
    wait_for_port(port, proc, log, timeout_s=60)
    return RunningSystem(
        name=name,
        script="http_loadgen.mjs",
        options={"url": f"http://127.0.0.1:{port}", "client": cfg.http_client},
        inflight=cfg.effective_peer_inflight,
        server_pids=[proc.pid],
        is_ours=False,
    )


def start_sqlite(group: ProcessGroup, cfg: RunConfig, workdir: Path) -> RunningSystem:
    path = workdir / "accounts.sqlite"
    sync = cfg.sqlite_synchronous.upper()
    name = "aiohttp+sqlite" if sync == "NORMAL" else f"aiohttp+sqlite-{sync.lower()}"
    return _start_peer(group, cfg, name, ["--backend", "sqlite", "--path", str(path), "--synchronous", sync])


def start_postgres(group: ProcessGroup, cfg: RunConfig, workdir: Path) -> RunningSystem:
    if importlib.util.find_spec("asyncpg") is None:
        raise SystemUnavailable("the PostgreSQL driver is missing: pip install asyncpg==0.32.0")
    try:
        cluster = new_cluster(max_connections=cfg.pg_pool + 20)
    except PostgresUnavailable as err:
        raise SystemUnavailable(str(err)) from err
    group.on_exit(cluster.stop)
    cluster.start()
    running = _start_peer(
        group, cfg, "aiohttp+postgres", ["--backend", "postgres", "--dsn", cluster.dsn, "--pool", str(cfg.pg_pool)]
    )
    postmaster = cluster.postmaster_pid()
    if postmaster is not None:
        running.server_pids.append(postmaster)
    return running


def start_noop(group: ProcessGroup, cfg: RunConfig, workdir: Path) -> RunningSystem:
    port = free_port()
    argv = [sys.executable, "-m", "keynote_bench.noop_server", "--port", str(port)]
    proc, log = group.start("noop", _pinned(cfg, argv), env=_python_env())
    wait_for_port(port, proc, log, timeout_s=60)
    return RunningSystem(
        name="no-op (client ceiling)",
        script="stdb_loadgen.mjs",
        options={
            "url": f"ws://127.0.0.1:{port}",
            "db": cfg.database,
            "protocol": cfg.protocol,
            "confirmed": "true" if cfg.confirmed_reads else "false",
        },
        inflight=cfg.inflight,
        server_pids=[proc.pid],
        is_ours=False,
        is_ceiling=True,
    )


Starter = Callable[[ProcessGroup, RunConfig, Path], RunningSystem]
SYSTEMS: dict[str, Starter] = {
    "spacetimedb": start_ours,
    "sqlite": start_sqlite,
    "postgres": start_postgres,
    "noop": start_noop,
}
