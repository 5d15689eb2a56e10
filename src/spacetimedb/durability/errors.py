"""Durability errors, named by cause; each message says what is wrong and how to recover."""

from __future__ import annotations

from spacetimedb.sats.errors import SpacetimeError


class DurabilityError(SpacetimeError):
    """Base of every error the durability layer raises on purpose."""


class LogFailedError(DurabilityError):
    """A write or fsync of the commit log failed: this commit (and every later one) is NOT durable.

    The log stays failed until the database is restarted; everything confirmed before the failure
    is still on disk. `cause` is the underlying OSError.
    """

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class LogClosedError(DurabilityError):
    """The commit log was closed; nothing more can be appended."""


class CorruptLogError(DurabilityError):
    """A commit-log record failed verification somewhere other than the torn tail of the log.

    Names the segment file, the byte position in it and the tx offset expected there.
    """

    def __init__(self, segment: str, position: int, tx_offset: int, reason: str) -> None:
        self.segment = segment
        self.position = position
        self.tx_offset = tx_offset
        self.reason = reason
        super().__init__(
            f"commit log is corrupt in segment {segment} at byte {position} (tx offset {tx_offset}): "
            f"{reason}. The database was not started. To recover: restore the database directory from "
            f"a backup, or restart the server with `spacetimedb start --allow-truncate` "
            f"(`allow_truncate=True` in code) to discard every transaction from tx offset {tx_offset} "
            f"on (the discarded segments are kept beside the log with a '.discarded' suffix)."
        )


class CorruptSnapshotError(DurabilityError):
    """A snapshot file failed its checksum or could not be decoded."""


class LogGapError(DurabilityError):
    """The log does not continue where the snapshot (or the previous segment) left off."""
