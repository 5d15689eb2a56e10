"""Writes snapshots on a background thread, off the reducer path.

The reducer path only hands over an engine image (one list copy per table, taken between
transactions). This thread waits until the image's tx offset is durable in the log (a snapshot
must never get ahead of the log, or a crash could resurrect unconfirmed commits), encodes the
rows, writes the file atomically and prunes old snapshots. If the previous snapshot is still
being written, a new request waits; a newer request replaces a waiting one (never a queue).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spacetimedb.durability.errors import DurabilityError
from spacetimedb.durability.files import REAL_FILE_OPS, FileOps
from spacetimedb.durability.recovered_state import RowCodec
from spacetimedb.durability.snapshot_file import SnapshotData, TableImage, prune_snapshots, write_snapshot
from spacetimedb.durability.tx_payload import SequenceState
from spacetimedb.module.datastore import Row

if TYPE_CHECKING:
    from spacetimedb.engine.sequence import SequenceKey

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SnapshotRequest:
    tx_offset: int
    #: table id -> every row (tuples), as the engine's image holds them.
    tables: Mapping[int, list[Row]]
    sequences: Mapping[SequenceKey, int]
    names: Mapping[int, str]
    codecs: Mapping[int, RowCodec]

    def encode(self) -> SnapshotData:
        images = []
        for tid, rows in self.tables.items():
            encode = self.codecs[tid].encode
            images.append(TableImage(tid, self.names[tid], [encode(r) for r in rows]))
        seqs = [SequenceState(tid, col, v) for (tid, col), v in self.sequences.items()]
        return SnapshotData(self.tx_offset, images, seqs)


class SnapshotWriter:
    def __init__(
        self,
        directory: str,
        *,
        keep: int,
        wait_durable: Callable[[int, float], bool],
        file_ops: FileOps = REAL_FILE_OPS,
    ) -> None:
        """`wait_durable(offset, timeout)` blocks until the log has `offset` (False on timeout)."""
        self.directory = directory
        self.keep = keep
        self._wait_durable = wait_durable
        self._ops = file_ops
        self._cond = threading.Condition()
        self._pending: SnapshotRequest | None = None
        self._busy = False
        self._closing = False
        #: The tx offset of the last snapshot written by this writer, if any.
        self.last_written: int | None = None
        self.skipped = 0
        self.last_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="snapshot-writer", daemon=True)
        self._thread.start()

    def submit(self, request: SnapshotRequest) -> bool:
        """Schedule a snapshot (replacing one still waiting to start); False once closing."""
        with self._cond:
            if self._closing:
                return False
            if self._pending is not None:
                self.skipped += 1
            self._pending = request
            self._cond.notify_all()
            return True

    def wait_idle(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy and self._pending is None, timeout)

    def close(self) -> None:
        """Finish the snapshot in progress (if its offset becomes durable) and stop."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closing:
                    self._cond.wait()
                req, self._pending = self._pending, None
                if req is None:
                    return
                self._busy = True
            try:
                self._write(req)
            except (OSError, DurabilityError) as e:
                self.last_error = e
                log.error("snapshot at tx offset %d was not written: %s", req.tx_offset, e)
            except Exception as e:  # an unencodable row must not kill the thread
                self.last_error = e
                log.exception("snapshot at tx offset %d was not written", req.tx_offset)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _write(self, req: SnapshotRequest) -> None:
        while not self._wait_durable(req.tx_offset, 0.5):
            with self._cond:
                if self._closing:
                    log.warning("snapshot at tx offset %d abandoned: its commit never became durable", req.tx_offset)
                    return
        write_snapshot(self.directory, req.encode(), self._ops)
        self.last_written = req.tx_offset
        removed = prune_snapshots(self.directory, self.keep, self._ops)
        if removed:
            log.info("pruned snapshots %s", ", ".join(removed))
