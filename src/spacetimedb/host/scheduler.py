"""Which schedule-table rows fire when.

The host feeds every committed delta in (`observe`); the scheduler keeps a heap of due times
keyed by (table id, scheduled_id). `ScheduleAt.Time` rows fire once at their time;
`ScheduleAt.Interval` rows first fire one interval after the transaction that inserted them,
then on the next tick of their grid (intended time + k * interval) after the time they actually
ran: delays do not accumulate, and ticks missed while the server was busy or down are skipped
rather than replayed in a burst (as upstream's `next_interval_tick_after`).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from spacetimedb.engine.delta import TxDelta
from spacetimedb.module.datastore import Row
from spacetimedb.module.schema import TableSchema
from spacetimedb.sats.special import ScheduleAt, TimeDuration, Timestamp


@dataclass(slots=True)
class Job:
    table_id: int
    scheduled_id: int
    due_micros: int
    #: The interval in microseconds, or None for a one-time job.
    interval_micros: int | None
    row: Row


class Scheduler:
    def __init__(self, schedule_tables: list[TableSchema]) -> None:
        self._tables = {t.table_id: t for t in schedule_tables}
        self._jobs: dict[tuple[int, int], Job] = {}
        self._heap: list[tuple[int, int, tuple[int, int]]] = []
        self._seq = itertools.count()

    @property
    def table_ids(self) -> set[int]:
        return set(self._tables)

    def __len__(self) -> int:
        return len(self._jobs)

    def add_row(self, table_id: int, row: Row, inserted_at: Timestamp) -> None:
        schema = self._tables[table_id]
        assert schema.primary_key is not None and schema.schedule_at_column is not None
        sid = row[schema.primary_key]
        at: ScheduleAt = row[schema.schedule_at_column]
        if isinstance(at.value, TimeDuration):
            every = abs(at.value.micros)
            job = Job(
                table_id=table_id, scheduled_id=sid, due_micros=inserted_at.micros + every, interval_micros=every, row=row
            )
        else:
            job = Job(table_id=table_id, scheduled_id=sid, due_micros=at.value.micros, interval_micros=None, row=row)
        self._put(job)

    def remove_row(self, table_id: int, row: Row) -> None:
        schema = self._tables[table_id]
        assert schema.primary_key is not None
        self._jobs.pop((table_id, row[schema.primary_key]), None)

    def observe(self, delta: TxDelta, committed_at: Timestamp) -> None:
        """Track the schedule rows a commit removed and added."""
        for tid, td in delta.tables.items():
            if tid not in self._tables:
                continue
            for row in td.deletes:
                self.remove_row(tid, row)
            for row in td.inserts:
                self.add_row(tid, row, committed_at)

    def next_due(self) -> Timestamp | None:
        due = self.next_due_us()
        return None if due is None else Timestamp(due)

    def next_due_us(self) -> int | None:
        """`next_due` in microseconds since the epoch (no Timestamp: the server's worker reads it
        after every turn)."""
        heap = self._heap
        while heap:
            due, _, key = heap[0]
            job = self._jobs.get(key)
            if job is None or job.due_micros != due:
                heapq.heappop(heap)  # stale entry: cancelled or rescheduled
                continue
            return due
        return None

    def pop_due(self, now: Timestamp) -> Job | None:
        """The earliest job due at or before `now` (removed from the queue), or None."""
        nxt = self.next_due()
        if nxt is None or nxt.micros > now.micros:
            return None
        _, _, key = heapq.heappop(self._heap)
        return self._jobs[key]

    def forget(self, job: Job) -> None:
        if self._jobs.get((job.table_id, job.scheduled_id)) is job:
            del self._jobs[(job.table_id, job.scheduled_id)]

    def reschedule(self, job: Job, now: Timestamp) -> None:
        """Put an interval job back at the first tick of its grid after `now`."""
        assert job.interval_micros is not None
        if self._jobs.get((job.table_id, job.scheduled_id)) is not job:
            return  # the reducer deleted (cancelled) or replaced its own row
        every = max(job.interval_micros, 1)
        late = now.micros - job.due_micros
        ticks = 1 if late < 0 else late // every + 1
        job.due_micros += every * ticks
        self._put(job)

    def _put(self, job: Job) -> None:
        key = (job.table_id, job.scheduled_id)
        self._jobs[key] = job
        heapq.heappush(self._heap, (job.due_micros, next(self._seq), key))
