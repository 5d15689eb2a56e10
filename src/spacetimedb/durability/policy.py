"""When the commit log fsyncs: every batch (default), at most every N milliseconds, or never."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FsyncMode = Literal["every_batch", "interval", "off"]


@dataclass(frozen=True, slots=True)
class FsyncPolicy:
    """`every_batch`: a commit is durable once the batch it was written in is fsynced.

    `interval`: batches are written as they come, fsynced at most every `interval_ms`; a commit is
    durable after the fsync that follows it. `off`: never fsync (tests, benchmarks); a commit
    counts as durable once written to the OS, which survives a process crash but not a power cut.
    """

    mode: FsyncMode = "every_batch"
    interval_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in ("every_batch", "interval", "off"):
            raise ValueError(f"fsync mode {self.mode!r} is not one of every_batch, interval, off")
        if self.mode == "interval" and self.interval_ms <= 0:
            raise ValueError("the interval fsync policy needs interval_ms > 0")

    @classmethod
    def every_batch(cls) -> FsyncPolicy:
        return cls("every_batch")

    @classmethod
    def every(cls, interval_ms: float) -> FsyncPolicy:
        return cls("interval", interval_ms)

    @classmethod
    def off(cls) -> FsyncPolicy:
        return cls("off")

    @classmethod
    def parse(cls, text: str) -> FsyncPolicy:
        """'every_batch', 'off', or '<N>ms' (as a CLI or config value)."""
        t = text.strip().lower()
        if t.endswith("ms"):
            return cls.every(float(t[:-2]))
        return cls(t)  # type: ignore[arg-type]
