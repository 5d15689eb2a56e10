"""Procedures for the server tests: a return value, an error, HTTP to a URL the test passes, a
write in `with_tx`, and a reducer to show reducers keep running while a procedure waits."""

from __future__ import annotations

from typing import Annotated

from spacetimedb import (
    ProcedureContext,
    ReducerContext,
    ScheduleAt,
    SenderError,
    auto_inc,
    primary_key,
    procedure,
    reducer,
    table,
    u32,
    u64,
)


@table(public=True)
class Fetched:
    id: Annotated[u32, primary_key]
    body: str


@table(public=True)
class Tick:
    id: Annotated[u32, primary_key]


@procedure
def add(ctx: ProcedureContext, a: u32, b: u32) -> u32:
    return a + b


@procedure
def fail(ctx: ProcedureContext, why: str) -> str:
    raise SenderError(why)


@procedure
def fetch(ctx: ProcedureContext, id: u32, url: str) -> str:
    """GET `url` outside any transaction, store the body in `fetched`, return it."""
    body = ctx.http.get(url, timeout=20.0).text()
    ctx.with_tx(lambda tx: tx.db.fetched.insert(Fetched(id=id, body=body)))
    return body


@reducer
def tick(ctx: ReducerContext, id: u32) -> None:
    ctx.db.tick.insert(Tick(id=id))


@table(name="fetch_later", public=True, scheduled="fetch_later_run")
class FetchLater:
    scheduled_id: Annotated[u64, primary_key, auto_inc]
    scheduled_at: ScheduleAt
    id: u32
    url: str


@procedure(name="fetch_later_run")
def fetch_later_run(ctx: ProcedureContext, job: FetchLater) -> None:
    body = ctx.http.get(job.url, timeout=20.0).text()
    ctx.with_tx(lambda tx: tx.db.fetched.insert(Fetched(id=job.id, body=body)))


@reducer
def schedule_fetch(ctx: ReducerContext, id: u32, url: str) -> None:
    ctx.db.fetch_later.insert(FetchLater(scheduled_id=0, scheduled_at=ScheduleAt(ctx.timestamp), id=id, url=url))
