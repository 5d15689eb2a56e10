"""`DatabaseDurability`: everything one database needs to survive a crash, behind one object.

    dur = DatabaseDurability.open(directory, policy=FsyncPolicy.every_batch())  # recovers
    dur.attach(engine, codecs)          # loads the recovered state into the engine
    ...                                 # per committed transaction (host's commit listener):
    dur.record_commit(tx_offset, delta, reducer_call)
    await dur.wait_durable(tx_offset)   # before confirming the commit to the client
    dur.close()

Directory layout: `<directory>/log/*.stdb.log` (the commit log), `<directory>/snapshots/*.stdb.snap`,
`<directory>/LOCK` (held while open, so two processes never write one database).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from spacetimedb.durability import durable_files
from spacetimedb.durability.commit_log import (
    DEFAULT_MAX_SEGMENT_BYTES,
    DEFAULT_PREALLOCATE_BYTES,
    CallWhenDurable,
    CommitLog,
)
from spacetimedb.durability.dir_lock import DirectoryLock
from spacetimedb.durability.errors import DurabilityError, LogFailedError
from spacetimedb.durability.files import REAL_FILE_OPS, FileOps
from spacetimedb.durability.log_reader import replay_log
from spacetimedb.durability.policy import FsyncPolicy
from spacetimedb.durability.recovered_state import RecoveredState, RowCodec
from spacetimedb.durability.row_codecs import flat_row_formats
from spacetimedb.durability.snapshot_file import load_newest_snapshot
from spacetimedb.durability.snapshot_writer import SnapshotRequest, SnapshotWriter
from spacetimedb.durability.tx_payload import CommitEncoder, ReducerCallInfo
from spacetimedb.module.schema import TableSchema

if TYPE_CHECKING:
    from spacetimedb.engine.delta import DatabaseImage, TxDelta
    from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

log = logging.getLogger(__name__)

LOG_DIR = "log"
SNAPSHOT_DIR = "snapshots"
DEFAULT_SNAPSHOT_EVERY = 100_000
DEFAULT_KEEP_SNAPSHOTS = 2


def args_bytes(args: object) -> bytes:
    """Reducer arguments for the audit trail: BSATN bytes as received; JSON/Python values as JSON text."""
    if args is None:
        return b""
    if type(args) is bytes:
        return args
    if isinstance(args, bytes | bytearray | memoryview):
        return bytes(args)
    if isinstance(args, str):
        return args.encode()
    return json.dumps(args, default=repr, separators=(",", ":")).encode()


class CommittedCall(Protocol):
    """What `on_reducer_result` reads of a committed call (the host's `ReducerCallResult` has it)."""

    @property
    def reducer(self) -> str: ...
    @property
    def delta(self) -> TxDelta | None: ...
    @property
    def tx_offset(self) -> int | None: ...
    @property
    def caller(self) -> Identity: ...
    @property
    def connection_id(self) -> ConnectionId | None: ...
    @property
    def timestamp(self) -> Timestamp: ...
    @property
    def args(self) -> object: ...


class EngineLike(Protocol):
    """The engine operations durability uses (`spacetimedb.engine.Database` has them)."""

    def schemas(self) -> list[TableSchema]: ...

    def snapshot_image(self) -> DatabaseImage: ...

    def load_image(self, image: DatabaseImage) -> None: ...


class DurableWaiter:
    """How a server waits for durability: call it for a future of the offset (the backend's
    `DurableOffsetWaiter`), or `call_when_durable` to have a callback run on the loop as soon as
    the writer thread knows (one hop fewer than a future's done-callback: confirmed reads use it)."""

    __slots__ = ("_log", "call_when_durable")

    #: The log's own method (an attribute, not a method forwarding to it: one call less per turn).
    call_when_durable: CallWhenDurable

    def __init__(self, commit_log: CommitLog) -> None:
        self._log = commit_log
        self.call_when_durable = commit_log.call_when_durable

    def __call__(self, tx_offset: int) -> asyncio.Future[None]:
        return self._log.durable_future(tx_offset)


class DatabaseDurability:
    def __init__(
        self,
        directory: str,
        commit_log: CommitLog,
        recovered: RecoveredState,
        snapshots: SnapshotWriter,
        lock: DirectoryLock,
        snapshot_every: int,
    ) -> None:
        self.directory = directory
        self.log = commit_log
        #: What recovery found; load it with `attach` (or read it directly).
        self.recovered = recovered
        self.snapshots = snapshots
        self._snapshot_every = snapshot_every
        self._lock = lock
        self._engine: EngineLike | None = None
        self._codecs: Mapping[int, RowCodec] = {}
        self._names: dict[int, str] = {}
        self._encoder = CommitEncoder({}, {})
        self._last_offset = recovered.tx_offset
        self._snapshot_offset = recovered.snapshot_offset if recovered.snapshot_offset is not None else -1
        #: The tx offset from which on a commit starts a snapshot (`snapshot_every` commits after
        #: the open or the last snapshot): one comparison per commit.
        self._snapshot_due = self._due_after(self._last_offset)
        self._closed = False

    @classmethod
    def open(
        cls,
        directory: str,
        *,
        policy: FsyncPolicy | None = None,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        keep_snapshots: int = DEFAULT_KEEP_SNAPSHOTS,
        max_segment_bytes: int = DEFAULT_MAX_SEGMENT_BYTES,
        allow_truncate: bool = False,
        file_ops: FileOps = REAL_FILE_OPS,
        preallocate_bytes: int = DEFAULT_PREALLOCATE_BYTES,
    ) -> DatabaseDurability:
        """Recover the database in `directory` (created if missing) and open its log for appending.

        Raises CorruptLogError (naming segment, byte and tx offset) if the log is damaged other
        than at its torn tail; `allow_truncate=True` cuts the log there instead.
        `snapshot_every`: take a snapshot every N commits (0: only on demand).
        `preallocate_bytes`: how far ahead the log reserves segment space (0: never; see `CommitLog`).
        """
        file_ops.make_dirs(directory)  # with its parents fsynced: a new database survives a power cut
        lock = DirectoryLock(os.path.join(directory, "LOCK"))
        started = time.monotonic()
        log.info("recovering %s ...", directory)
        try:
            snap_dir = os.path.join(directory, SNAPSHOT_DIR)
            snap = load_newest_snapshot(snap_dir, file_ops=file_ops)
            state = RecoveredState.from_snapshot(snap) if snap is not None else RecoveredState()
            replay = replay_log(
                os.path.join(directory, LOG_DIR),
                state.fold,
                after_offset=None if snap is None else snap.tx_offset,
                allow_truncate=allow_truncate,
                file_ops=file_ops,
            )
            state.truncated = replay.truncated
            commit_log = CommitLog(
                os.path.join(directory, LOG_DIR),
                replay.tail,
                policy=policy,
                max_segment_bytes=max_segment_bytes,
                file_ops=file_ops,
                preallocate_bytes=preallocate_bytes,
            )
        except BaseException:
            lock.release()
            raise
        log.info(
            "recovered %s at tx offset %d (snapshot %s, %d log records replayed) in %.2f s",
            directory, state.tx_offset, state.snapshot_offset, state.replayed, time.monotonic() - started,
        )
        snapshots = SnapshotWriter(
            snap_dir, keep=keep_snapshots, wait_durable=commit_log.wait_durable_blocking, file_ops=file_ops
        )
        return cls(directory, commit_log, state, snapshots, lock, snapshot_every)

    # ---- wiring to the engine -------------------------------------------------------------------

    def attach(self, engine: EngineLike, codecs: Mapping[int, RowCodec], *, load: bool = True) -> None:
        """Use `engine` for snapshots and (if `load`) load the recovered state into it.

        `codecs` maps each table id to its row codec. Call again after a republish (keeps data).
        """
        schemas = engine.schemas()
        self.set_tables({s.table_id: s.name for s in schemas}, codecs)
        self._engine = engine
        if load:
            from spacetimedb.engine.delta import DatabaseImage

            rows = self.recovered.decoded_rows(codecs, {s.name: s.table_id for s in schemas})
            engine.load_image(DatabaseImage(rows, dict(self.recovered.sequences)))

    def set_tables(self, names: Mapping[int, str], codecs: Mapping[int, RowCodec]) -> None:
        """Table names and row codecs by table id (attach does this from the engine's schemas)."""
        self._names = dict(names)
        self._codecs = codecs
        self._encoder = CommitEncoder(
            self._names, {tid: c.encode for tid, c in codecs.items()}, flat_row_formats(codecs)
        )

    @property
    def snapshot_every(self) -> int:
        """Take a snapshot every this many commits (0: only on demand)."""
        return self._snapshot_every

    @snapshot_every.setter
    def snapshot_every(self, every: int) -> None:
        self._snapshot_every = every
        self._snapshot_due = self._due_after(self._last_offset)  # counted from now

    def _due_after(self, offset: int) -> int:
        return offset + self._snapshot_every if self._snapshot_every > 0 else 1 << 63

    @property
    def next_tx_offset(self) -> int:
        """The offset the next committed transaction must carry."""
        return self._last_offset + 1

    # ---- the commit path ------------------------------------------------------------------------

    def record_commit(self, tx_offset: int, delta: TxDelta, reducer: ReducerCallInfo | None = None) -> None:
        """Log one committed transaction (non-blocking). Raises LogFailedError once the log failed."""
        self._append(tx_offset, self._encoder.encode(delta.tables, delta.sequences, reducer))

    def _append(self, tx_offset: int, payload: bytes) -> None:
        self.log.append(tx_offset, payload)
        self._last_offset = tx_offset
        if tx_offset >= self._snapshot_due:
            self.snapshot_now()

    def on_reducer_result(self, result: CommittedCall) -> None:
        """A `ModuleHost` commit listener: logs the committed call's delta and the call itself.

        Takes the host's `ReducerCallResult` (reducer, delta, tx_offset, caller, connection_id,
        timestamp, args). Every committed call is logged, even one that changed nothing, so the
        log is a complete audit trail and every tx offset the host hands out becomes durable.
        """
        args = result.args
        offset = result.tx_offset
        assert result.delta is not None and offset is not None, "only committed calls are logged"
        payload = self._encoder.encode_result(result, args if args.__class__ is bytes else args_bytes(args))
        # As `_append`, inlined: this runs once per committed reducer call. Everything above may
        # raise (the host then undoes the commit); once the log took the record, nothing may.
        commit_log = self.log
        if offset == commit_log._last_appended + 1 and commit_log._accepting:
            # `CommitLog.append`'s usual case, inlined (a Python call less per commit).
            commit_log._last_appended = offset
            commit_log._pending.append(payload)
            if commit_log._writer_idle:
                commit_log._wake_writer()
        else:
            commit_log.append(offset, payload)
        self._last_offset = offset
        if offset >= self._snapshot_due:
            self._snapshot_after_append()

    def _snapshot_after_append(self) -> None:
        try:
            self.snapshot_now()
        except Exception:  # the commit is logged: a snapshot that cannot start must not undo it
            log.exception("could not start a snapshot of %s", self.directory)

    def snapshot_now(self) -> bool:
        """Snapshot the attached engine as of the last recorded commit; call between transactions.

        Returns False when skipped (no engine, or nothing new since the last snapshot).
        """
        if self._engine is None or self._last_offset <= self._snapshot_offset:
            return False
        image = self._engine.snapshot_image()
        req = SnapshotRequest(
            tx_offset=self._last_offset, tables=image.tables, sequences=image.sequences, names=self._names,
            codecs=self._codecs,
        )
        if not self.snapshots.submit(req):
            return False
        self._snapshot_offset = self._last_offset
        self._snapshot_due = self._due_after(self._last_offset)
        return True

    def request_snapshot(self) -> int | None:
        """On demand (`spacetimedb snapshot`): snapshot as of the last commit unless that snapshot
        is already written or on its way; returns the tx offset to pass to `wait_snapshot` (None:
        nothing was ever committed). Call between transactions, like `snapshot_now`."""
        if self._engine is None:
            raise DurabilityError("no engine is attached to this database's durability; nothing to snapshot")
        if self._last_offset < 0:
            return None
        if self._last_offset == self._snapshot_offset and not self._snapshot_on_disk(self._snapshot_offset):
            if self.snapshots.wait_idle(0):  # that snapshot failed to write: take it again
                self._snapshot_offset = -1
        self.snapshot_now()
        return self._last_offset

    def wait_snapshot(self, tx_offset: int, timeout: float | None = None) -> None:
        """Block until a snapshot at `tx_offset` or newer is on disk; raises DurabilityError if it
        could not be written, TimeoutError after `timeout` seconds."""
        if not self.snapshots.wait_idle(timeout):
            raise TimeoutError(f"the snapshot at tx offset {tx_offset} is still being written")
        if not self._snapshot_on_disk(tx_offset):
            raise DurabilityError(
                f"the snapshot at tx offset {tx_offset} was not written: {self.snapshots.last_error or 'it was abandoned'}"
            )

    def _snapshot_on_disk(self, tx_offset: int) -> bool:
        written = self.snapshots.last_written
        return (written is not None and written >= tx_offset) or self.recovered.snapshot_offset == tx_offset

    # ---- durability status ----------------------------------------------------------------------

    @property
    def durable_offset(self) -> int:
        return self.log.durable_offset

    @property
    def failure(self) -> LogFailedError | None:
        return self.log.failure

    async def wait_durable(self, tx_offset: int) -> None:
        await self.log.wait_durable(tx_offset)

    def durable_future(self, tx_offset: int) -> asyncio.Future[None]:
        return self.log.durable_future(tx_offset)

    def wait_durable_blocking(self, tx_offset: int, timeout: float | None = None) -> bool:
        return self.log.wait_durable_blocking(tx_offset, timeout)

    def durable_waiter(self) -> DurableWaiter:
        """A waiter on this log (see `DurableWaiter`)."""
        return DurableWaiter(self.log)

    def add_durable_listener(self, callback: Callable[[int], None]) -> None:
        self.log.add_durable_listener(callback)

    def add_failure_listener(self, callback: Callable[[LogFailedError], None]) -> None:
        """Told once, on the log's writer thread, when a write/fsync fails: stop accepting writes."""
        self.log.add_failure_listener(callback)
        if self.log.failure is not None:
            callback(self.log.failure)

    # ---- lifecycle ------------------------------------------------------------------------------

    def flush(self) -> None:
        self.log.flush()

    def close(self) -> None:
        """Make everything recorded durable, finish a snapshot in progress, release the directory."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.log.failure is None:
                self.log.flush()
        finally:
            self.snapshots.close()
            self.log.close()
            self._lock.release()

    def __enter__(self) -> DatabaseDurability:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def destroy(directory: str) -> None:
        """Delete a database's data for good (`spacetime delete`); close it first."""
        if os.path.isdir(directory):
            with DirectoryLock(os.path.join(directory, "LOCK")):
                pass  # refuses while another process has it open
            durable_files.remove_tree(directory)
