"""Durability settings a server applies to every database it hosts (`spacetimedb start` flags)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spacetimedb.durability.commit_log import DEFAULT_MAX_SEGMENT_BYTES, DEFAULT_PREALLOCATE_BYTES
from spacetimedb.durability.database_durability import DEFAULT_KEEP_SNAPSHOTS, DEFAULT_SNAPSHOT_EVERY
from spacetimedb.durability.policy import FsyncPolicy


@dataclass(frozen=True)
class DurabilityOptions:
    #: When commits are fsynced: every group-commit batch (default), every N ms, or never (tests only).
    fsync: FsyncPolicy = field(default_factory=FsyncPolicy.every_batch)
    #: Take a snapshot every N commits (0: only on demand).
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY
    keep_snapshots: int = DEFAULT_KEEP_SNAPSHOTS
    max_segment_bytes: int = DEFAULT_MAX_SEGMENT_BYTES
    #: Cut a log damaged before its tail at the damage instead of refusing to start (loses what follows).
    allow_truncate: bool = False
    #: Reserve commit-log segment space this far ahead of the writes (0: never), so a sync overwrites.
    preallocate_bytes: int = DEFAULT_PREALLOCATE_BYTES

    def open_kwargs(self) -> dict[str, Any]:
        return {
            "policy": self.fsync,
            "snapshot_every": self.snapshot_every,
            "keep_snapshots": self.keep_snapshots,
            "max_segment_bytes": self.max_segment_bytes,
            "allow_truncate": self.allow_truncate,
            "preallocate_bytes": self.preallocate_bytes,
        }
