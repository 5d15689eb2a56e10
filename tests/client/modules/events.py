"""A module with an event table (rows are delivered to subscribers, never stored) and a plain one."""

from spacetimedb import ReducerContext, reducer, table, u32


@table(public=True, event=True)
class Ping:
    n: u32


@table(public=True, primary_key="id")
class Counter:
    id: u32
    value: u32


@reducer
def ping(ctx: ReducerContext, n: u32) -> None:
    ctx.db.ping.insert(Ping(n))
    row = ctx.db.counter.id.find(0)
    if row is None:
        ctx.db.counter.insert(Counter(0, 1))
    else:
        ctx.db.counter.id.update(Counter(0, row.value + 1))
