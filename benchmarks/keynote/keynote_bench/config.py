"""The knobs of one keynote run (defaults follow the keynote workload spec)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
BENCH_DIR = Path(__file__).resolve().parents[1]  # benchmarks/keynote
DEFAULT_MODULE = REPO_ROOT / "examples" / "bank.py"


@dataclass
class RunConfig:
    accounts: int = 100_000
    balance: int = 1_000_000_000
    clients: int = 16
    inflight: int = 40
    peer_inflight: int | None = None  # None: same as inflight
    seconds: float = 10.0
    warmup: float = 2.0
    alphas: list[float] = field(default_factory=lambda: [0.0, 1.5])
    repeat: int = 1  # rounds over the alphas per system; the report takes each median
    protocol: str = "v3"
    confirmed_reads: bool = True  # the workload's setting; False only to diagnose the durability wait
    pg_pool: int = 64
    http_client: str = "request"
    pairs: int = 1_000_000
    module: Path = DEFAULT_MODULE
    database: str = "bank"
    profile_pyspy: str | None = None  # py-spy binary: profile our server during each window
    profile_dir: Path | None = None  # where the profiles go (default: the run's temp dir)
    server_cpus: str | None = None  # e.g. "0": run every system's server under `taskset -c` (issue 14, goal 4)
    sqlite_synchronous: str = "normal"  # the SQLite peer's pragma: normal (upstream's) or full (a sync per commit)
    trace: Path | None = None  # our server writes a confirmed call's latency breakdown here (call_trace.py)
    server_flags: list[str] = field(default_factory=list)  # extra ours_server arguments, e.g. --database-processes

    @property
    def effective_peer_inflight(self) -> int:
        return self.inflight if self.peer_inflight is None else self.peer_inflight

    def __post_init__(self) -> None:
        if self.repeat < 1:
            raise ValueError(f"repeat must be at least 1, got {self.repeat}")

    def loadgen_timeout_s(self) -> float:
        """Bound on one generator run: connect, precompute, warmup, window, drain, slack."""
        return self.warmup + self.seconds + 120.0
