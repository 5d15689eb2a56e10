"""The commit log writer: append records, group-commit them on a writer thread, report durability.

`append(offset, payload)` only queues (the caller never waits for the disk). The writer thread
takes everything queued while the previous write+fsync ran and writes it with one write and one
fsync per segment touched. `durable_offset` is the highest tx offset known to be on disk; waiters
(asyncio futures, threads, callbacks) are woken when it passes their offset.

Segment space is preallocated ahead of the writes (up to `preallocate_bytes` ahead, zeros written
`PREALLOCATE_STEP` at a time and synced, on the writer thread after it has reported a batch durable),
so a group commit overwrites written zeros inside the file instead of growing it: its data sync then
need not journal a new file size or extent changes (about a third less per 300-byte sync on ext4,
half per 4 KB one). Readers take a zeroed tail as the segment's clean end
(`segment_reader`); a segment is cut back to its records when the log rolls over or closes, so a
cleanly closed log has the same files as before preallocation.

A failed write or fsync is never reported as durable: the log enters a failed state, the
unconfirmed bytes are cut off the segment (best effort), every pending and later commit gets
`LogFailedError`, and the failure listeners are told so the host stops accepting writes.
"""

from __future__ import annotations

import asyncio
import errno
import heapq
import itertools
import logging
import os
import struct
import threading
import time
from collections.abc import Callable
from typing import Protocol

from crc32c import crc32c

from spacetimedb.durability.errors import LogClosedError, LogFailedError
from spacetimedb.durability.files import REAL_FILE_OPS, FileOps
from spacetimedb.durability.log_tail import LogTail
from spacetimedb.durability.policy import FsyncPolicy
from spacetimedb.durability.segment_format import (
    MAX_PAYLOAD,
    RECORD_HEADER,
    RECORD_HEADER_SIZE,
    SEGMENT_HEADER_SIZE,
    record_header,
    segment_file_name,
    segment_header,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_SEGMENT_BYTES = 64 * 1024 * 1024
#: Preallocate segment space this far ahead of the last write (0: never).
DEFAULT_PREALLOCATE_BYTES = 4 * 1024 * 1024
#: Zeros written per preallocation (the writer does it between group commits, then syncs them).
PREALLOCATE_STEP = 512 * 1024
_OFFSET_LEN = struct.Struct("<QI")
#: Told on its loop that an offset is durable (None) or never will be (the error).
DurableCallback = Callable[[BaseException | None], None]


class CallWhenDurable(Protocol):
    """`CommitLog.call_when_durable`'s shape: `loop` is the running loop, when the caller knows it."""

    def __call__(
        self, tx_offset: int, callback: DurableCallback, loop: asyncio.AbstractEventLoop | None = None, /
    ) -> None: ...


#: (tx offset, sequence, future or callback, its loop)
_AsyncWaiter = tuple[int, int, "asyncio.Future[None] | DurableCallback", asyncio.AbstractEventLoop]


class CommitLog:
    def __init__(
        self,
        directory: str,
        tail: LogTail | None = None,
        *,
        policy: FsyncPolicy | None = None,
        max_segment_bytes: int = DEFAULT_MAX_SEGMENT_BYTES,
        file_ops: FileOps = REAL_FILE_OPS,
        preallocate_bytes: int = DEFAULT_PREALLOCATE_BYTES,
    ) -> None:
        """Continue the log in `directory` from `tail` (as returned by recovery; empty if None)."""
        tail = tail or LogTail.empty()
        self.directory = directory
        self.policy = policy or FsyncPolicy.every_batch()
        self.max_segment_bytes = max_segment_bytes
        self.preallocate_bytes = preallocate_bytes
        self._ops = file_ops
        self._lock = threading.Lock()  # taken directly where nobody waits or is notified (a C call)
        #: Durability waiters (`wait_durable_blocking`) wait on this; it shares `_lock`.
        self._cond = threading.Condition(self._lock)
        # The writer sleeps on `_wake` while it has nothing to do: held means no news, released
        # means look again. Waking it is one C call (`Lock.release`), where a Condition's notify
        # and wait run a few dozen lines of Python on both threads per group commit.
        self._wake = threading.Lock()
        self._wake.acquire()
        self._blocking_waiters = 0  # threads in `wait_durable_blocking`: notified only when any
        # Appends go to one list without taking the lock (list.append is atomic); the writer takes
        # what is there with one slice and one `del` (also atomic each), and is notified only when
        # it is idle, so a busy writer costs the committing thread nothing. Offsets are not queued:
        # the next appended offset usually follows the last one, and the writer counts them on from
        # `_next_write`; an append that skips offsets queues an (offset, payload) tuple instead.
        # Bytes are not tracked by the cyclic GC, so thousands of queued commits add no GC work.
        self._pending: list[bytes | tuple[int, bytes]] = []
        self._next_write = tail.last_offset + 1  # writer thread: the offset of the next plain payload
        self._accepting = True  # False once the log failed or began closing: append's slow path raises
        self._last_appended = tail.last_offset
        self._durable = tail.last_offset
        self._failure: LogFailedError | None = None
        self._closing = False
        self._closed = False
        self._force_sync = False
        self._writer_idle = False
        self._async_waiters: list[_AsyncWaiter] = []
        self._seq = itertools.count()
        self._durable_listeners: list[Callable[[int], None]] = []
        self._failure_listeners: list[Callable[[LogFailedError], None]] = []
        # Writer-thread state: the open segment and how much of it is known to be on disk.
        self._fd: int | None = None
        self._seg_path = ""
        self._seg_size = 0
        self._synced_size = 0
        self._allocated = 0  # the segment file's size: records up to _seg_size, zeros after
        self._preallocate_off = preallocate_bytes <= 0  # also set when the filesystem refuses
        self._unsynced_written = -1  # highest offset written but not yet fsynced (-1: none)
        self._last_sync = time.monotonic()
        self.segments_created = 0
        self.fsync_count = 0
        self._ops.make_dirs(directory)  # a new log directory must survive a power cut
        if tail.segment_first_offset is not None:
            self._seg_path = os.path.join(directory, segment_file_name(tail.segment_first_offset))
            # At the end of the verified records, not of the file: a preallocated tail follows them.
            self._fd = self._ops.open_append(self._seg_path, tail.segment_size)
            self._seg_size = self._synced_size = tail.segment_size
            self._allocated = max(self._ops.size(self._fd), tail.segment_size)
        self._thread = threading.Thread(target=self._run, name=f"commitlog:{os.path.basename(directory)}", daemon=True)
        self._thread.start()

    # ---- the caller's side -------------------------------------------------------------------

    @property
    def durable_offset(self) -> int:
        """The highest tx offset on disk (-1 if none). Never includes a commit whose write failed."""
        return self._durable

    @property
    def last_appended(self) -> int:
        return self._last_appended

    @property
    def failure(self) -> LogFailedError | None:
        """The error that put the log in its failed state, or None while it is healthy."""
        return self._failure

    def append(self, tx_offset: int, payload: bytes) -> None:
        """Queue one committed transaction; returns at once. Raises if the log failed or closed.

        Call from one thread at a time (the database's commit path is serial).
        `DatabaseDurability.on_reducer_result` inlines the first branch: keep the two in step.
        """
        if tx_offset == self._last_appended + 1 and self._accepting:  # the usual case, checked first
            self._last_appended = tx_offset
            self._pending.append(payload)
            if self._writer_idle:
                self._wake_writer()
            return
        if self._failure is not None:
            raise self._failure
        if self._closing:
            raise LogClosedError("the commit log is closed; reopen the database to write again")
        if tx_offset <= self._last_appended:
            raise ValueError(f"tx offset {tx_offset} must be greater than the last appended {self._last_appended}")
        self._last_appended = tx_offset
        self._pending.append((tx_offset, payload))  # offsets skipped: say where this one goes
        if self._writer_idle:
            self._wake_writer()

    def _wake_writer(self) -> None:
        # Only the first append after the writer went idle wakes it: later ones until it runs
        # see it busy and do nothing (it looks at the queue again before it sleeps).
        self._writer_idle = False
        self._kick()

    def _kick(self) -> None:
        """Have the writer look at the queue and the flags again (now if it sleeps, else next time)."""
        try:
            self._wake.release()
        except RuntimeError:
            pass  # released already, not yet taken: the writer will look once more anyway

    def add_durable_listener(self, callback: Callable[[int], None]) -> None:
        """Call `callback(durable_offset)` on the writer thread each time durability advances."""
        self._durable_listeners.append(callback)

    def add_failure_listener(self, callback: Callable[[LogFailedError], None]) -> None:
        """Call `callback(error)` once, on the writer thread, when the log fails."""
        self._failure_listeners.append(callback)

    def durable_future(self, tx_offset: int) -> asyncio.Future[None]:
        """A future on the running loop that completes when `tx_offset` is durable (or fails)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._failure is not None and tx_offset > self._durable:
                fut.set_exception(self._failure)
            elif tx_offset <= self._durable:
                fut.set_result(None)
            else:
                heapq.heappush(self._async_waiters, (tx_offset, next(self._seq), fut, loop))
        return fut

    def call_when_durable(
        self, tx_offset: int, callback: DurableCallback, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        """Call `callback(None)` on the running loop once `tx_offset` is durable, or `callback(error)`
        if it never will be (the log failed or closed). The writer thread schedules the call itself:
        one hop back to the loop, where a future's done-callback would take one more loop iteration.
        `loop`: the running loop, if the caller knows it (`asyncio.get_running_loop` is a `getpid`
        system call on Python 3.11; confirmed reads call this once per turn)."""
        if loop is None:
            loop = asyncio.get_running_loop()
        with self._lock:
            if self._failure is not None and tx_offset > self._durable:
                error: BaseException | None = self._failure
            elif tx_offset <= self._durable:
                error = None
            elif self._closed:
                error = LogClosedError("the commit log closed before this tx offset became durable")
            else:
                heapq.heappush(self._async_waiters, (tx_offset, next(self._seq), callback, loop))
                return
        loop.call_soon(callback, error)

    async def wait_durable(self, tx_offset: int) -> None:
        """Return once `tx_offset` is durable; raises LogFailedError if it never will be."""
        if tx_offset <= self._durable:
            return
        await self.durable_future(tx_offset)

    def wait_durable_blocking(self, tx_offset: int, timeout: float | None = None) -> bool:
        """From a thread: block until `tx_offset` is durable. False on timeout; raises on failure."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._blocking_waiters += 1
            try:
                while self._durable < tx_offset:
                    if self._failure is not None:
                        raise self._failure
                    if self._closed:
                        raise LogClosedError(f"the commit log closed before tx offset {tx_offset} was durable")
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._cond.wait(remaining)
            finally:
                self._blocking_waiters -= 1
        return True

    def flush(self, timeout: float | None = None) -> None:
        """Write and fsync everything appended so far (whatever the policy) and wait for it."""
        with self._lock:
            target = self._last_appended
            self._force_sync = True
        self._kick()
        self.wait_durable_blocking(target, timeout)

    def close(self) -> None:
        """Write out what is queued (fsynced unless the policy is off), stop the writer, close files."""
        with self._lock:
            if self._closed:
                return
            self._closing = True
            self._accepting = False
        self._kick()
        self._thread.join()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            waiters, self._async_waiters = self._async_waiters, []
        if waiters:  # offsets that were never appended (or not written before a failure)
            closed = LogClosedError("the commit log closed before this tx offset became durable")
            for _, _, fut, loop in waiters:
                _call_on_loop(loop, _resolve, [fut], self._failure or closed)
        if self._fd is not None:
            if self._failure is None:
                try:  # leave the files as an unpreallocated log would (older readers, sizes)
                    if self._trim() and self.policy.mode != "off":
                        self._ops.fsync(self._fd, self._seg_path)
                except OSError as e:  # a zeroed tail is still a valid log
                    log.warning("could not cut the preallocated tail off %s: %s", self._seg_path, e)
            self._ops.close(self._fd)
            self._fd = None

    def __enter__(self) -> CommitLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the writer thread -------------------------------------------------------------------

    def _sync_wanted(self, now: float, force: bool) -> bool:
        if self._unsynced_written < 0:
            return False
        if force:
            return True
        if self._closing:
            return self.policy.mode != "off"
        if self.policy.mode == "interval":
            return (now - self._last_sync) * 1000.0 >= self.policy.interval_ms
        return False

    def _run(self) -> None:
        interval = self.policy.interval_ms / 1000.0 if self.policy.mode == "interval" else None
        try:
            self._preallocate_ahead()
        except OSError as e:
            self._fail(e)
            return
        pending = self._pending
        wake = self._wake.acquire
        while True:
            while True:
                self._writer_idle = True  # before looking at the queue: see append()
                if pending or self._closing or self._force_sync:
                    break
                timeout = -1.0  # no limit
                if interval is not None and self._unsynced_written >= 0:
                    timeout = max(0.0, self._last_sync + interval - time.monotonic())
                    if timeout == 0.0:
                        break
                wake(True, timeout)
            self._writer_idle = False
            with self._lock:
                batch = pending[:]
                del pending[: len(batch)]  # appends made since the slice stay queued
                closing = self._closing
                force, self._force_sync = self._force_sync, False
            try:
                if batch:
                    self._write_batch(batch)
                if self.policy.mode == "every_batch" and batch:
                    self._sync()
                elif self._sync_wanted(time.monotonic(), force):
                    self._sync()
                elif self.policy.mode == "off" and self._unsynced_written >= 0:
                    self._advance(self._unsynced_written)
                    self._unsynced_written = -1
                    self._synced_size = self._seg_size
                if batch:  # after the batch was reported durable: off the waiting callers' path
                    self._preallocate_ahead()
            except OSError as e:
                self._fail(e)
                return
            if closing:
                with self._lock:
                    if not self._pending:
                        return

    def _write_batch(self, batch: list[bytes | tuple[int, bytes]]) -> None:
        """Frame and write the records: in one pass and one write when they fit the open segment."""
        parts: list[bytes] = []
        append = parts.append
        pack_head = _OFFSET_LEN.pack
        pack_record_head = RECORD_HEADER.pack
        offset = first = self._next_write
        for payload in batch:
            if payload.__class__ is tuple:  # an append that skipped offsets
                offset, payload = payload
            n = len(payload)
            if n > MAX_PAYLOAD:  # the encoder refuses these first; the log fails rather than the thread
                raise OSError(errno.EFBIG, f"a {n}-byte transaction payload exceeds the {MAX_PAYLOAD}-byte record limit")
            # The CRC covers offset+length, then the payload (chained: no head + payload copy).
            append(pack_record_head(offset, n, crc32c(payload, crc32c(pack_head(offset, n)))))  # type: ignore[arg-type]
            append(payload)  # type: ignore[arg-type]
            offset += 1
        data = b"".join(parts)
        seg_size = self._seg_size
        if self._fd is None or (seg_size + len(data) > self.max_segment_bytes and seg_size > SEGMENT_HEADER_SIZE):
            # rolls to a new segment on the way
            return self._write_batch_by_segment(self._numbered(batch, first))
        if self.policy.mode == "every_batch":
            # The batch is synced right after anyway: write and sync in one call (see `_sync`).
            try:
                self._ops.write_dsync(self._fd, data, self._seg_path)
            except OSError:
                self._seg_size = seg_size + len(data)  # some of it may be in the file: `_fail` cuts it off
                raise
            self._seg_size = self._synced_size = seg_size + len(data)
            if self._seg_size > self._allocated:
                self._allocated = self._seg_size
            self.fsync_count += 1
        else:
            self._write(data)
        self._next_write = offset
        self._unsynced_written = offset - 1

    @staticmethod
    def _numbered(batch: list[bytes | tuple[int, bytes]], offset: int) -> list[tuple[int, bytes]]:
        """The batch as (tx offset, payload) pairs, the first plain payload at `offset`."""
        out = []
        for payload in batch:
            if isinstance(payload, tuple):
                offset, payload = payload
            out.append((offset, payload))
            offset += 1
        return out

    def _write_batch_by_segment(self, batch: list[tuple[int, bytes]]) -> None:
        chunk: list[bytes] = []
        chunk_size = 0
        limit = self.max_segment_bytes
        for offset, payload in batch:
            head = record_header(offset, payload)
            size = RECORD_HEADER_SIZE + len(payload)
            if self._fd is None or (
                self._seg_size + chunk_size + size > limit and self._seg_size + chunk_size > SEGMENT_HEADER_SIZE
            ):
                if chunk:
                    self._write(b"".join(chunk))
                    chunk, chunk_size = [], 0
                self._roll_segment(offset)
            chunk.append(head)
            chunk.append(payload)
            chunk_size += size
        if chunk:
            self._write(b"".join(chunk))
        self._next_write = batch[-1][0] + 1
        self._unsynced_written = batch[-1][0]

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        self._ops.write(self._fd, data, self._seg_path)
        self._seg_size += len(data)
        self._allocated = max(self._allocated, self._seg_size)

    def _preallocate_ahead(self) -> None:
        """Extend the open segment's zeroed space when less than half a chunk is left."""
        if self._fd is not None and not self._preallocate_off:
            if self._allocated - self._seg_size < self.preallocate_bytes // 2:
                self._preallocate(sync=self.policy.mode != "off")

    def _preallocate(self, *, sync: bool) -> None:
        """Reserve space up to `preallocate_bytes` past the last record (at most up to the segment's
        size limit) and, if `sync`, make it durable now, so the next group commits' syncs find it
        there. A filesystem that refuses costs only the speed-up (a warning, then plain appends);
        a failed sync fails the log, as every failed sync does."""
        if self._fd is None or self._preallocate_off:
            return
        # At most a step at a time: the zeros are written and synced on the writer thread, so a
        # group commit queued meanwhile waits for them (about 1 ms per 512 KiB here).
        end = min(self._seg_size + self.preallocate_bytes, self.max_segment_bytes, self._allocated + PREALLOCATE_STEP)
        if end <= self._allocated:
            return
        try:
            self._ops.preallocate(self._fd, self._allocated, end - self._allocated, self._seg_path)
        except OSError as e:
            self._preallocate_off = True  # until the next segment
            log.warning("commit log: cannot preallocate space in %s (%s); appending without", self._seg_path, e)
            try:
                self._allocated = max(self._ops.size(self._fd), self._seg_size)
            except OSError:
                pass
            return
        self._allocated = end
        if sync:
            self._ops.fdatasync(self._fd, self._seg_path)

    def _trim(self) -> bool:
        """Cut the open segment's preallocated tail off; True if there was one."""
        if self._fd is None or self._allocated <= self._seg_size:
            return False
        self._ops.truncate(self._fd, self._seg_size, self._seg_path)
        self._allocated = self._seg_size
        return True

    def _roll_segment(self, first_offset: int) -> None:
        """Finish the current segment (fsynced unless the policy is off) and start a new one."""
        if self._fd is not None:
            # Cut the zeroed tail off (a finished segment ends at its last record) before the sync.
            trimmed = self._trim()
            if self.policy.mode != "off" and (trimmed or self._seg_size != self._synced_size):
                self._ops.fsync(self._fd, self._seg_path)
                self._synced_size = self._seg_size
            self._ops.close(self._fd)
            self._fd = None
        path = os.path.join(self.directory, segment_file_name(first_offset))
        self._fd = self._ops.open_new(path)
        self._seg_path = path
        self._seg_size = self._synced_size = self._allocated = 0
        self._write(segment_header())
        self.segments_created += 1
        self._preallocate_off = self.preallocate_bytes <= 0
        self._preallocate(sync=False)  # synced with the header below
        if self.policy.mode != "off":
            # The new file's directory entry must be durable before its records can count.
            self._ops.fsync(self._fd, path)
            self._synced_size = self._seg_size
            self._ops.fsync_dir(self.directory)

    def _sync(self) -> None:
        if self._fd is not None and self._unsynced_written >= 0:
            # The records and the segment's new size; the segment's name was made durable when it
            # was created (`_roll_segment`), so a data sync is enough per group commit. Nothing to
            # do when the batch was written with `write_dsync` (it is on disk already).
            if self._synced_size != self._seg_size:
                self._ops.fdatasync(self._fd, self._seg_path)
                self.fsync_count += 1
                self._synced_size = self._seg_size
            self._last_sync = time.monotonic()
            self._advance(self._unsynced_written)
            self._unsynced_written = -1

    def _advance(self, offset: int) -> None:
        ready: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None] | DurableCallback]] = {}
        with self._lock:
            self._durable = offset
            waiters = self._async_waiters
            while waiters and waiters[0][0] <= offset:
                _, _, fut, loop = heapq.heappop(waiters)
                ready.setdefault(loop, []).append(fut)
            if self._blocking_waiters:
                self._cond.notify_all()
        for loop, futs in ready.items():
            if len(futs) == 1 and not isinstance(futs[0], asyncio.Future):
                # One callback (confirmed reads' one waiter per turn): called as it is, not through
                # `_resolve` (a callback that raises is logged by the loop's exception handler).
                _call_on_loop(loop, futs[0], None)
            else:
                _call_on_loop(loop, _resolve, futs, None)
        for cb in self._durable_listeners:
            try:
                cb(offset)
            except Exception:
                log.exception("durable listener failed")

    def _fail(self, error: OSError) -> None:
        first = self._durable + 1
        failure = LogFailedError(
            f"commit log write to {self._seg_path or self.directory} failed ({error}); transactions from tx "
            f"offset {self._durable + 1} on are not durable and the database must stop accepting writes. "
            f"Fix the disk (space, permissions, hardware) and restart the database: everything confirmed "
            f"up to tx offset {self._durable} is on disk.",
            error,
        )
        log.error("commit log failed at tx offset %d: %s", first, error)
        self._cut_unconfirmed()
        with self._cond:
            self._failure = failure
            self._accepting = False
            self._pending.clear()
            waiters, self._async_waiters = self._async_waiters, []
            self._cond.notify_all()
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None] | DurableCallback]] = {}
        for _, _, fut, loop in waiters:
            by_loop.setdefault(loop, []).append(fut)
        for loop, futs in by_loop.items():
            _call_on_loop(loop, _resolve, futs, failure)
        for cb in self._failure_listeners:
            try:
                cb(failure)
            except Exception:
                log.exception("failure listener failed")

    def _cut_unconfirmed(self) -> None:
        """Best effort: drop bytes written after the last fsync, so a restart sees only confirmed commits."""
        if self._fd is None:
            return
        try:
            if self._seg_size != self._synced_size:
                self._ops.truncate(self._fd, self._synced_size, self._seg_path)
                self._ops.fsync(self._fd, self._seg_path)
                self._seg_size = self._allocated = self._synced_size
        except OSError as e:
            log.error("could not cut unconfirmed records off %s: %s", self._seg_path, e)


def _call_on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: object) -> None:
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        pass  # the loop is closed: nobody is waiting any more


def _resolve(waiters: list[asyncio.Future[None] | DurableCallback], error: BaseException | None) -> None:
    for waiter in waiters:
        if not isinstance(waiter, asyncio.Future):
            try:
                waiter(error)
            except Exception:
                log.exception("durable callback failed")
            continue
        if waiter.done():
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
