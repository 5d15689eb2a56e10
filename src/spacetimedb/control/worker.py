"""The worker of one hosted database: one queue of jobs, run in arrival order by its own thread.

Everything that touches a database (reducer calls, subscribes, SQL, lifecycle, the scheduler)
is a job on its queue, so reducers run one at a time and a subscription's initial rows are
consistent with the deltas that follow. A reducer that runs long (up to its time limit) therefore
stalls only its own database: the event loop and every other database keep going (the GIL is
handed over every few milliseconds).

The worker drains every waiting job per turn (batching). Whatever a turn produces for the loop
(messages to clients, closes, results of awaited calls) is collected in order and handed over
once per turn with `call_soon_threadsafe`; the loop then enqueues the messages and flushes each
touched client once, so the replies to a v3 frame of pipelined calls leave in one frame. A commit's
update shared by many clients is one entry with its list of clients (`send_shared`), held once
by confirmed reads until its commit is durable. Sockets,
client sessions and confirmed reads are only ever touched on the loop thread.

Calls on the loop while the worker is idle (issue 14): handing a call to the worker and its reply
back costs two thread wake-ups and GIL hand-overs, more than a small reducer itself. So a frame of
reducer calls only (`InlineJob`) that arrives while the worker sleeps runs on the event loop, at
the end of the loop iteration that read it (with every other such frame read in that iteration),
under the backend's call budget: module code past `INLINE_BUDGET_SECONDS` is interrupted and
rolled back (the reducer time limit's watchdog), and the call is queued again for the worker
thread, where it gets its full time limit; that database's calls then stay on its worker for
`INLINE_COOLDOWN_SECONDS` (doubling while it repeats). So a runaway reducer stalls the loop for at most about the budget plus
the watchdog's period. One turn at a time either way: the worker's turns and the loop's run under
one lock, and their output is delivered to clients in turn order.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from time import time_ns
from typing import Any, TypeVar

from spacetimedb.control.backend import CallBudget
from spacetimedb.control.confirmed_reads import ConfirmedReads
from spacetimedb.control.errors import DatabaseStopped, ModuleCodeError
from spacetimedb.control.subscriber import Subscriber

log = logging.getLogger("spacetimedb.server")
T = TypeVar("T")
_INF = float("inf")

#: One client's messages of a turn segment, (message, tx offset) in send order.
Box = list[tuple[bytes, "int | None"]]


class SharedSend(tuple[list[Subscriber], bytes, "int | None"]):
    """One message for many clients (a commit's shared update): one hand-over entry, not one per client."""

    __slots__ = ()


#: A turn's messages in send order: runs of per-client sends (a dict, each client's in order) and
#: shared sends; the loop enqueues them in this order, so each client's messages keep theirs.
Segment = dict[Subscriber, Box] | SharedSend

#: A worker turn ends after this many jobs or this much time, so sockets keep moving.
MAX_JOBS_PER_TURN = 2048
MAX_TURN_SECONDS = 0.02
#: Module code of a call run on the event loop is interrupted past this, then run on the worker.
INLINE_BUDGET_SECONDS = 0.05
#: After such an interruption, that database's calls run on its worker thread for this long, doubled
#: after each further one up to `INLINE_COOLDOWN_MAX_SECONDS` (back to the start after a quiet minute),
#: so a one-off long call (a bulk load) costs a second and a reducer that is always slow soon stays off.
INLINE_COOLDOWN_SECONDS = 1.0
INLINE_COOLDOWN_MAX_SECONDS = 60.0


class InlineJob(functools.partial[None]):
    """A job the event loop may run itself while the worker is idle (reducer calls only: their
    module code is bounded by the call budget, and an interrupted call is rolled back)."""

    __slots__ = ()


class DatabaseWorker:
    """Runs one database's jobs on its thread and hands each turn's output to the event loop.

    `on_turn` runs at the start of every turn (due scheduled reducers), `next_wake` says how long
    an idle worker may sleep (until the next scheduled reducer; None: until work arrives),
    and `after_flush` runs on the loop after each delivery's flushes (confirmed reads). Its owner
    sets `call_budget`, the budget under which `InlineJob`s may run on the loop (None: they run on
    the worker), whenever its backend changes.
    """

    def __init__(
        self,
        name: str,
        *,
        on_turn: Callable[[], None],
        next_wake: Callable[[], float | None],
        after_flush: Callable[[], None],
    ) -> None:
        self.name = name
        #: The budget that lets `InlineJob`s run on the loop, or None (set by the owner; a value,
        #: not a call per turn: it changes only with the backend).
        self.call_budget: CallBudget | None = None
        #: When the next scheduled reducer is due (µs since the epoch, None: nothing scheduled), read
        #: after a turn on the loop (set by the owner with its backend; `next_wake` is built on it).
        self.next_due_us: Callable[[], int | None] = _nothing_due
        #: One turn at a time: the worker thread's, or the loop's while the worker is idle.
        self._turn_lock = threading.Lock()
        #: The budget of the turn the loop is running now (None: no turn runs on the loop).
        self.inline_budget: CallBudget | None = None
        #: Set by `move_to_worker` during a turn on the loop: end that turn.
        self._moved = False
        #: Calls run on the worker only until this time (monotonic) after one overran its budget.
        self._inline_after = 0.0
        self._cooldown = INLINE_COOLDOWN_SECONDS
        #: When the idle worker wakes by itself (monotonic; its next scheduled reducer).
        self._sleep_until = _INF
        self._on_turn = on_turn
        self._next_wake = next_wake
        self._after_flush = after_flush
        self._jobs: deque[Callable[[], None]] = deque()
        self._wake = threading.Event()
        #: True while the worker is about to wait or waiting: only then must `submit` wake it (an
        #: Event.set per submitted frame costs a lock round trip the busy worker does not need).
        self._idle = False
        #: A wake-up of the idle worker is scheduled for the end of this loop iteration, so the frames
        #: read in one iteration wake it once (a wake-up is a futex syscall and a thread switch).
        self._kick_pending = False
        self._loop_thread: int | None = None
        #: This turn's hand-over to the loop, in order: (fn, a, b) called as fn(a, b) on the loop.
        self._ops: list[tuple[Callable[[Any, Any], None], Any, Any]] = []
        #: This turn's messages (`Segment`s in send order); each touched client is flushed once.
        self._out: list[Segment] = []
        #: Turns handed over and not yet delivered; one loop callback is posted for all of them.
        self._turns: deque[tuple[list[Any], list[Segment]]] = deque()
        #: The database's confirmed reads (set by its owner): shared sends are held once per commit.
        self.reads: ConfirmedReads | None = None
        self._delivery_posted = False
        self._thread: threading.Thread | None = None
        self._done: asyncio.Future[None] | None = None
        self.closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> asyncio.AbstractEventLoop:
        """Start the thread (on the loop); returns the loop the worker hands its turns to."""
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._loop = loop
            self._loop_thread = threading.get_ident()
            self._done = loop.create_future()
            self._thread = threading.Thread(target=self._run, name=f"db:{self.name}", daemon=True)
            self._thread.start()
        return loop

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def idle(self) -> bool:
        """The worker thread waits for work (so calls arriving now may run on the loop)."""
        return self._idle

    async def close(self) -> None:
        """Take no more jobs; return once the queued ones ran and the thread ended."""
        self.closed = True
        self._wake.set()
        if self._thread is not None and self._done is not None:
            await self._done  # the worker ends once the queue is drained
            self._thread = None

    def wake(self) -> None:
        """Re-read `next_wake` now (the schedule changed)."""
        self._wake.set()

    def forget(self, sub: Subscriber) -> None:
        """Drop what this turn queued for `sub` (it is gone)."""
        for seg in self._out:
            if isinstance(seg, dict):
                seg.pop(sub, None)
            elif sub in seg[0]:
                seg[0].remove(sub)

    def submit(self, job: Callable[[], None]) -> None:
        """Queue a job for the worker without waiting (the reader side of sockets uses this)."""
        if self.closed:
            raise DatabaseStopped(f"database {self.name!r} has stopped")
        self._jobs.append(job)
        if self._idle and not self._kick_pending:  # read after the append; the worker re-checks the queue
            if self._loop is not None and threading.get_ident() == self._loop_thread:
                self._kick_pending = True
                self._loop.call_soon(self._kick)
            else:
                self._wake.set()

    def _kick(self) -> None:
        """On the loop, at the end of the iteration that queued work for the idle worker: run the
        calls at the head of the queue here if allowed (see the module's docstring), and wake the
        worker for whatever is left."""
        self._kick_pending = False
        jobs = self._jobs
        if not (
            jobs
            and type(jobs[0]) is InlineJob
            and self._idle
            and not self.closed
            and (not self._inline_after or time.monotonic() >= self._inline_after)  # (0: none overran)
            and self.call_budget is not None
            and self._turn_lock.acquire(blocking=False)
        ):
            if jobs:
                self._wake.set()
            return
        budget = self.call_budget  # read again under the lock: a module swap may have set it
        if budget is None:
            self._turn_lock.release()
            self._wake.set()
            return
        # One turn on the loop, holding the turn lock (inline here: this runs per unpipelined
        # call): the `InlineJob`s at the head of the queue, then the turn's output delivered here.
        try:
            self.inline_budget = budget
            full = budget.limit_s
            budget.limit_now = INLINE_BUDGET_SECONDS if INLINE_BUDGET_SECONDS < full else full
            # One frame waiting (an unpipelined call): one job, no clock to read. (Only the loop
            # queues `InlineJob`s, so no other one can arrive while this turn runs.)
            deadline = _INF if len(jobs) == 1 else time.perf_counter() + MAX_TURN_SECONDS
            for _ in range(MAX_JOBS_PER_TURN):
                if not jobs or type(jobs[0]) is not InlineJob:
                    break
                job = jobs.popleft()
                try:
                    job()
                except Exception:
                    log.exception("database %s: job failed", self.name)
                if self._moved:
                    self._moved = False
                    self._note_overrun()
                    break
                if deadline is not _INF and time.perf_counter() > deadline:
                    break
        finally:
            budget.limit_now = budget.limit_s
            self.inline_budget = None
            ops, out = self._ops, self._out
            alone = False
            if ops or out:
                self._ops, self._out = [], []
                if self._turns:  # worker turns not yet delivered go first: this one after them
                    self._turns.append((ops, out))
                else:
                    alone = True
            # A call may have scheduled a reducer sooner than the idle worker's wake-up (read while
            # the turn lock still keeps the worker out of the schedule).
            try:
                due_us = self.next_due_us()
            except Exception:  # never lose the turn's output over it (delivered below)
                log.exception("database %s: reading the next scheduled reducer's time failed", self.name)
                due_us = None
            finally:
                self._turn_lock.release()
        # (As `next_wake` would say, without the database's failure check: a needless wake-up of
        # the worker is harmless, it reads `next_wake` and sleeps again.)
        if due_us is not None and time.monotonic() + max(0.0, (due_us - time_ns() // 1000) / 1e6) < self._sleep_until:
            self._wake.set()
        if alone:  # nothing was waiting ahead of this turn: delivered here, not through the queue
            self._deliver_alone(ops, out)
        if self._turns:  # (and what the worker handed over since, behind it)
            self._deliver_turns(None, None)
        if jobs:  # (what is left: frames of other messages, or a call moved off the loop)
            self._wake.set()

    def _note_overrun(self) -> None:
        now = time.monotonic()
        if now - self._inline_after > INLINE_COOLDOWN_MAX_SECONDS:
            self._cooldown = INLINE_COOLDOWN_SECONDS  # the last one was long ago
        self._inline_after = now + self._cooldown
        log.info(
            "database %s: a call ran past %g s on the event loop; it runs again on the database's "
            "thread, as do its calls for the next %g s", self.name, INLINE_BUDGET_SECONDS, self._cooldown,
        )
        self._cooldown = min(2 * self._cooldown, INLINE_COOLDOWN_MAX_SECONDS)

    def overran(self) -> bool:
        """During a turn on the loop: whether the call that just ran was interrupted by the budget
        (rolled back; the caller discards its result and calls `move_to_worker`)."""
        budget = self.inline_budget
        if budget is None or not budget.overrun:
            return False
        budget.overrun = False
        return True

    def move_to_worker(self, job: Callable[[], None]) -> None:
        """During a turn on the loop: end the turn and run `job` first on the worker thread."""
        self._jobs.appendleft(job)
        self._moved = True

    async def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the worker, in order with everything else, and return its result."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def job() -> None:
            if fut.cancelled():
                return
            try:
                outcome: tuple[bool, Any] = (True, fn())
            except Exception as e:  # handed to the awaiting request
                outcome = (False, e)
            except BaseException as e:  # e.g. SystemExit from module code at import: never the server's
                outcome = (False, ModuleCodeError(f"{type(e).__name__}({', '.join(map(repr, e.args))}) on the database worker"))
            self.to_loop(_settle, fut, outcome)

        self.submit(job)
        return await fut

    def to_loop(self, fn: Callable[[Any, Any], None], a: Any, b: Any) -> None:
        """Run `fn(a, b)` on the loop at the end of this worker turn, in order with its messages."""
        self._ops.append((fn, a, b))

    def _run(self) -> None:
        """The worker thread: turns of jobs until stopped and drained."""
        jobs = self._jobs
        try:
            while not (self.closed and not jobs):
                self._wake.clear()
                if not jobs and not self.closed:
                    self._idle = True
                    if not jobs and not self.closed:
                        timeout = self._next_wake()
                        self._sleep_until = _INF if timeout is None else time.monotonic() + timeout
                        self._wake.wait(timeout)
                    self._idle = False
                with self._turn_lock:
                    try:
                        self._on_turn()
                        deadline = time.perf_counter() + MAX_TURN_SECONDS
                        for _ in range(min(len(jobs), MAX_JOBS_PER_TURN)):
                            job = jobs.popleft()
                            try:
                                job()
                            except Exception:
                                log.exception("database %s: job failed", self.name)
                            if time.perf_counter() > deadline:
                                break
                    except Exception:
                        log.exception("database %s: worker turn failed", self.name)
                    finally:
                        self._hand_over()
        finally:
            self._post(_settle, self._done, (True, None))

    def _end_turn(self) -> bool:
        """Queue this turn's operations and messages for delivery on the loop; False: it had none."""
        if not self._ops and not self._out:
            return False
        ops, self._ops = self._ops, []
        out, self._out = self._out, []
        self._turns.append((ops, out))
        return True

    def _hand_over(self) -> None:
        """End of a worker turn: give the loop this turn's operations and the clients to flush."""
        # Read after the append; the loop clears the flag before it drains (so no turn is missed).
        if self._end_turn() and not self._delivery_posted:
            self._delivery_posted = True
            self._post(self._deliver_turns, None, None)

    def _deliver_turns(self, _a: Any, _b: Any) -> None:
        """On the loop: every turn handed over so far, in order; each touched client flushed once."""
        self._delivery_posted = False
        turns = self._turns
        flush: dict[Subscriber, None] = {}
        lists: list[list[Subscriber]] = []
        # One shared message in the whole hand-over (the usual case): it goes to its clients in
        # one pass; several: each client is flushed once at the end (one frame for all of them).
        shared = 0
        for _, out in turns:
            for seg in out:
                if type(seg) is SharedSend:
                    shared += 1
        while turns:
            ops, out = turns.popleft()
            self._deliver(ops, out, flush, lists, shared > 1)
        self._flush(flush, lists)

    def _post(self, fn: Callable[[Any, Any], None], a: Any, b: Any) -> None:
        if self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(fn, a, b)
        except RuntimeError:
            pass  # the loop is closed: the server is gone already

    def _deliver(
        self,
        ops: list[tuple[Callable[[Any, Any], None], Any, Any]],
        out: list[Segment],
        flush: dict[Subscriber, None],
        lists: list[list[Subscriber]],
        several_shared: bool = True,
    ) -> None:
        """On the loop: one worker turn's messages, then its other operations (closes, results of
        awaited calls; a close drops what is queued either way). The clients to flush are added to
        `flush` and `lists`; a shared message goes to `ConfirmedReads.send_shared`, which holds it
        once for all its clients until its commit is durable, then hands it to them in one pass."""
        reads = self.reads
        for seg in out:
            if isinstance(seg, dict):
                for sub, box in seg.items():
                    if len(box) == 1:  # the common case: one reply
                        sub.enqueue(*box[0])
                    else:
                        enqueue = sub.enqueue
                        for message, offset in box:
                            enqueue(message, offset)
                    flush[sub] = None
                continue
            subs, message, offset = seg
            if not subs:
                continue  # every client of it forgotten
            if reads is not None and getattr(subs[0], "send_shared", None) is not None:
                if not several_shared and flush:
                    # What was queued before it leaves first (a caller's reply: not behind a
                    # thousand writes), as `_flush` would have sent it.
                    for sub in flush:
                        sub.flush()
                    flush.clear()
                reads.send_shared(subs, message, offset, flush if several_shared else None)
            elif offset is None or reads is None or offset <= reads.durable_offset:
                for sub in subs:
                    sub.enqueue(message, offset)
                lists.append(subs)
            else:  # one pass: the clients that need not wait (no confirmed reads) are flushed now
                ready = [sub for sub in subs if not sub.enqueue(message, offset)]
                if ready:
                    lists.append(ready)
                reads.hold_many(subs, offset)
        for fn, a, b in ops:
            try:
                fn(a, b)
            except Exception:
                log.exception("database %s: delivering to a client failed", self.name)

    def _flush(self, touched: Mapping[Subscriber, object], lists: list[list[Subscriber]]) -> None:
        for sub in touched:
            sub.flush()
        for subs in lists:
            for sub in subs:
                sub.flush()
        self._after_flush()

    def deliver_now(self) -> None:
        """Deliver what the worker code produced so far, here and now (for in-process callers that
        run jobs themselves, like the server overhead benchmark; never while the worker runs)."""
        ops, self._ops = self._ops, []
        out, self._out = self._out, []
        self._deliver_alone(ops, out)

    def _deliver_alone(self, ops: list[tuple[Callable[[Any, Any], None], Any, Any]], out: list[Segment]) -> None:
        """On the loop: one turn's output, nothing queued ahead of it; each touched client flushed once."""
        if not ops and len(out) == 1:
            seg = out[0]
            if type(seg) is dict and len(seg) == 1:
                # One client's messages (an unpipelined call's reply): `_deliver` and `_flush`
                # without their calls, dict and lists.
                ((sub, box),) = seg.items()
                if len(box) == 1:
                    sub.deliver(*box[0])  # (a held reply is flushed once, when it is released)
                else:
                    enqueue = sub.enqueue
                    for message, offset in box:
                        enqueue(message, offset)
                    sub.flush()
                self._after_flush()
                return
        flush: dict[Subscriber, None] = {}
        lists: list[list[Subscriber]] = []
        shared = 0
        for seg in out:
            if type(seg) is SharedSend:
                shared += 1
        self._deliver(ops, out, flush, lists, shared > 1)
        self._flush(flush, lists)

    def _box(self, sub: Subscriber) -> Box:
        out = self._out
        seg = out[-1] if out else None
        if type(seg) is not dict:
            seg = {}
            out.append(seg)
        box = seg.get(sub)
        if box is None:
            box = seg[sub] = []
        return box

    def send(self, sub: Subscriber, message: bytes, tx_offset: int | None = None) -> None:
        """Queue `message` for `sub` (worker only); it leaves at the end of this turn, after the
        commit `tx_offset` (if given) is durable."""
        out = self._out
        if out:
            seg = out[-1]
            if type(seg) is dict:
                box = seg.get(sub)
                if box is None:
                    seg[sub] = [(message, tx_offset)]
                else:
                    box.append((message, tx_offset))
                return
        out.append({sub: [(message, tx_offset)]})

    def send_shared(self, subs: list[Subscriber], message: bytes, tx_offset: int | None = None) -> None:
        """Queue one `message` for every client in `subs` (worker only; the list is the worker's
        from now on), in order with what else this turn sends them: one entry, not one per client."""
        if subs:
            self._out.append(SharedSend((subs, message, tx_offset)))

    def touch(self, sub: Subscriber) -> None:
        """Flush `sub` at the end of the current worker turn."""
        self._box(sub)


def _nothing_due() -> int | None:
    return None


def _settle(fut: asyncio.Future[Any] | None, outcome: tuple[bool, Any]) -> None:
    """On the loop: complete an awaited worker call."""
    if fut is None or fut.done():
        return
    ok, value = outcome
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)
