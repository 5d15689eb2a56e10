"""A small module exercising every host feature (used by tests/host)."""

import logging
from typing import Annotated

from spacetimedb import (
    Identity,
    ReducerContext,
    ScheduleAt,
    SenderError,
    client_connected,
    client_disconnected,
    init,
    primary_key,
    reducer,
    scheduled,
    table,
    u32,
    u64,
)
from spacetimedb.module import auto_inc

log = logging.getLogger(__name__)


@table(public=True)
class Counter:
    name: Annotated[str, primary_key]
    value: int = 0


@table
class Seen:
    id: Annotated[u64, primary_key, auto_inc]
    who: Identity
    event: str
    note: str = ""


@reducer
def fire_job(ctx: ReducerContext, job: "Job") -> None:
    ctx.db.seen.insert(Seen(who=ctx.sender, event=f"job:{job.label}", note=str(ctx.timestamp.micros)))
    if job.label == "boom":
        raise RuntimeError("job failed")


@table(scheduled=fire_job)
class Job:
    scheduled_id: Annotated[u64, primary_key, auto_inc]
    scheduled_at: ScheduleAt
    label: str = ""


@init
def setup(ctx: ReducerContext) -> None:
    ctx.db.counter.insert(Counter(name="main"))
    ctx.db.seen.insert(Seen(who=ctx.sender, event="init", note=repr(ctx.connection_id)))


@client_connected
def hello(ctx: ReducerContext) -> None:
    if ctx.db.counter.name.find("banned:" + ctx.sender.to_hex()) is not None:
        raise SenderError("banned")
    ctx.db.seen.insert(Seen(who=ctx.sender, event="connected"))


@client_disconnected
def bye(ctx: ReducerContext) -> None:
    ctx.db.seen.insert(Seen(who=ctx.sender, event="disconnected"))


@reducer
def add(ctx: ReducerContext, name: str, amount: u32) -> None:
    c = ctx.db.counter.name.find(name)
    if c is None:
        c = ctx.db.counter.insert(Counter(name=name))
    c.value += amount
    ctx.db.counter.name.update(c)


@reducer
def add_then_fail(ctx: ReducerContext, name: str) -> None:
    add(ctx, name, 5)  # a nested reducer call: same transaction
    raise SenderError(f"no more {name}")


@reducer
def add_twice(ctx: ReducerContext, name: str) -> None:
    add(ctx, name, 1)
    add(ctx, name, 1)


@reducer
def crash(ctx: ReducerContext) -> None:
    ctx.db.counter.insert(Counter(name="crash"))
    raise ZeroDivisionError("division by zero in crash")


@reducer
def chatty(ctx: ReducerContext, text: str) -> None:
    ctx.log(f"plain {text}")
    ctx.log.warn("warned %s", text)
    log.info("stdlib %s", text)


@reducer
def roll(ctx: ReducerContext) -> None:
    ctx.db.seen.insert(Seen(who=ctx.sender, event="roll", note=str(ctx.rng.random())))


@reducer
def whoami(ctx: ReducerContext) -> None:
    ctx.db.seen.insert(
        Seen(who=ctx.sender, event="whoami", note=f"{ctx.connection_id!r}|{ctx.identity.to_hex()}")
    )


@reducer
def schedule(ctx: ReducerContext, label: str, every_ms: u32, once: bool) -> None:
    at = ScheduleAt.time(ctx.timestamp + _ms(every_ms)) if once else ScheduleAt.interval(every_ms / 1000)
    ctx.db.job.insert(Job(scheduled_at=at, label=label))


@reducer
def cancel(ctx: ReducerContext, label: str) -> None:
    for j in ctx.db.job:
        if j.label == label:
            ctx.db.job.delete(j)


@scheduled(interval_ms=1000)
def heartbeat(ctx: ReducerContext) -> None:
    ctx.db.seen.insert(Seen(who=ctx.sender, event="heartbeat"))


def _ms(n: int):  # type: ignore[no-untyped-def]
    from spacetimedb import TimeDuration

    return TimeDuration(n * 1000)
