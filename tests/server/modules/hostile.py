"""A module whose reducers misbehave, for the hardening tests: unencodable strings, runaway loops,
SystemExit and friends. `add_pub` is the well-behaved baseline."""

import threading
import time
from typing import Annotated

from spacetimedb import ReducerContext, ScheduleAt, Timestamp, primary_key, reducer, table, u32, u64
from spacetimedb.module import auto_inc


@table(public=True)
class Pub:
    id: Annotated[u32, primary_key]
    text: str


@reducer
def add_pub(ctx: ReducerContext, id: u32, text: str) -> None:
    ctx.db.pub.insert(Pub(id=id, text=text))


@reducer
def where(ctx: ReducerContext, id: u32) -> None:
    """Records the name of the thread the call ran on (the event loop's or the database's)."""
    ctx.db.pub.insert(Pub(id=id, text=threading.current_thread().name))


@reducer
def add_surrogate(ctx: ReducerContext, id: u32) -> None:
    """Writes a str with a lone surrogate (no UTF-8 form) built inside the reducer."""
    ctx.db.pub.insert(Pub(id=id, text="bad " + chr(0xD800)))


@reducer
def update_surrogate(ctx: ReducerContext, id: u32) -> None:
    ctx.db.pub.id.update(Pub(id=id, text=chr(0xDFFF)))


@reducer
def spin(ctx: ReducerContext, id: u32, seconds: u32) -> None:
    """Inserts a row, then busy-loops in Python for `seconds`."""
    ctx.db.pub.insert(Pub(id=id, text="spin"))
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1


@reducer
def exit_(ctx: ReducerContext, id: u32, code: u32) -> None:
    ctx.db.pub.insert(Pub(id=id, text="exit"))
    raise SystemExit(code)


@reducer
def interrupt(ctx: ReducerContext, id: u32) -> None:
    ctx.db.pub.insert(Pub(id=id, text="interrupt"))
    raise KeyboardInterrupt


class _Odd(BaseException):
    pass


@reducer
def odd(ctx: ReducerContext, id: u32) -> None:
    ctx.db.pub.insert(Pub(id=id, text="odd"))
    raise _Odd("a BaseException that is none of the usual ones")


@reducer
def spin_later(ctx: ReducerContext, seconds: u32) -> None:
    """Schedules `tick_spin` to busy-loop `seconds` soon."""
    ctx.db.spin_job.insert(SpinJob(scheduled_id=0, scheduled_at=ScheduleAt(Timestamp(ctx.timestamp.micros + 1_000)), seconds=seconds))


@reducer
def tick_spin(ctx: ReducerContext, job: "SpinJob") -> None:
    ctx.db.pub.insert(Pub(id=1_000_000 + job.scheduled_id, text="scheduled spin"))
    end = time.monotonic() + job.seconds
    while time.monotonic() < end:
        pass


@table(scheduled=tick_spin)
class SpinJob:
    scheduled_id: Annotated[u64, primary_key, auto_inc]
    scheduled_at: ScheduleAt
    seconds: u32 = 0
