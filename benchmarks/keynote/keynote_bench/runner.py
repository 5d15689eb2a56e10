"""One keynote run: for each system in turn, start it, seed, run every alpha, check the balance sum, stop it.

Systems run one after another (never side by side) so each gets the same 2 cores as its generator.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keynote_bench.config import RunConfig
from keynote_bench.loadgen_runner import LoadGeneratorFailed, run_loadgen
from keynote_bench.postgres_cluster import PostgresFailed
from keynote_bench.processes import ProcessGroup, ServerDidNotStart
from keynote_bench.profiling import WindowProfiler
from keynote_bench.systems import SYSTEMS, RunningSystem, SystemUnavailable

SEED_TIMEOUT_S = 300.0


@dataclass
class Measurement:
    system: str
    alpha: float
    result: dict[str, Any]
    server_cpu_s: float | None
    is_ours: bool
    is_ceiling: bool = False
    #: The first server process's main thread (our event loop), CPU seconds in the window.
    loop_cpu_s: float | None = None

    @property
    def tps(self) -> float:
        return float(self.result["tps"])

    @property
    def server_us_per_call(self) -> float | None:
        """Server CPU per successful call, in microseconds: comparable across machine load."""
        return self._per_call(self.server_cpu_s)

    @property
    def loop_us_per_call(self) -> float | None:
        """The first server process's main thread's CPU per successful call, in microseconds."""
        return self._per_call(self.loop_cpu_s)

    def _per_call(self, cpu_s: float | None) -> float | None:
        ok = int(self.result.get("ok", 0))
        if cpu_s is None or ok == 0:
            return None
        return cpu_s * 1e6 / ok

    @property
    def server_cores(self) -> float | None:
        if self.server_cpu_s is None:
            return None
        return self.server_cpu_s / float(self.result["window_s"])


@dataclass
class SystemOutcome:
    system: str
    measurements: list[Measurement] = field(default_factory=list)
    skipped: str | None = None  # why the system did not run at all
    failed: str | None = None  # why it stopped part-way
    sum_check: str | None = None  # "ok ..." or what was wrong
    profiles: list[str] = field(default_factory=list)  # rendered py-spy summaries


def _check_sum(running: RunningSystem, group: ProcessGroup, cfg: RunConfig) -> str:
    outcome = run_loadgen(
        group, running.script, "verify", {**running.options, "accounts": cfg.accounts}, timeout_s=SEED_TIMEOUT_S
    )
    count, total = int(outcome.result["count"]), int(outcome.result["total"])
    expected = cfg.accounts * cfg.balance
    if count != cfg.accounts or total != expected:
        return f"MISMATCH: {count} accounts summing to {total}, expected {cfg.accounts} summing to {expected}"
    return f"ok: {count} accounts, sum {total} unchanged"


def run_system(name: str, cfg: RunConfig, workdir: Path, say: Callable[[str], None]) -> SystemOutcome:
    outcome = SystemOutcome(system=name)
    sysdir = workdir / name
    sysdir.mkdir(parents=True, exist_ok=True)
    with ProcessGroup(sysdir) as group:
        try:
            running = SYSTEMS[name](group, cfg, sysdir)
        except SystemUnavailable as err:
            outcome.skipped = str(err)
            return outcome
        except (ServerDidNotStart, PostgresFailed) as err:
            outcome.failed = f"did not start: {err}"
            return outcome
        outcome.system = running.name
        common = {"accounts": cfg.accounts, "balance": cfg.balance}
        try:
            say(f"[{running.name}] seeding {cfg.accounts} accounts")
            run_loadgen(group, running.script, "seed", {**running.options, **common}, timeout_s=SEED_TIMEOUT_S)
            for rep, alpha in ((r, a) for r in range(cfg.repeat) for a in cfg.alphas):
                say(f"[{running.name}] alpha {alpha:g}: {cfg.clients} clients x {running.inflight} in flight, "
                    f"{cfg.warmup:g} s warmup + {cfg.seconds:g} s" + (f" (round {rep + 1})" if cfg.repeat > 1 else ""))
                options = {
                    **running.options,
                    **common,
                    "clients": cfg.clients,
                    "inflight": running.inflight,
                    "alpha": alpha,
                    "warmup": cfg.warmup,
                    "seconds": cfg.seconds,
                    "pairs": cfg.pairs,
                }
                profiler = WindowProfiler(group, cfg, running, f"alpha{alpha:g}-{cfg.protocol}-round{rep + 1}", sysdir)
                run = run_loadgen(
                    group,
                    running.script,
                    "run",
                    options,
                    cfg.loadgen_timeout_s(),
                    server_pids=running.server_pids,
                    on_event=profiler.on_event,
                )
                profile = profiler.finish()
                if profile:
                    outcome.profiles.append(profile)
                outcome.measurements.append(
                    Measurement(
                        running.name, alpha, run.result, run.server_cpu_s, running.is_ours, running.is_ceiling,
                        run.loop_cpu_s,
                    )
                )
            if not running.is_ceiling:  # the no-op server keeps no balances
                outcome.sum_check = _check_sum(running, group, cfg)
        except LoadGeneratorFailed as err:
            outcome.failed = str(err)
    return outcome


def run_benchmark(
    cfg: RunConfig, systems: list[str], say: Callable[[str], None], keep_dir: bool = False
) -> list[SystemOutcome]:
    workdir = Path(tempfile.mkdtemp(prefix="keynote-"))
    try:
        return [run_system(name, cfg, workdir, say) for name in systems]
    finally:
        if keep_dir:
            say(f"logs and data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
