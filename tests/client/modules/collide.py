"""Columns named like the client's table-handle methods (`count`, `iter`, `index`, `on_update`, ...):
each unique one must still be reachable as `conn.db.<table>.<column>.find(...)`."""

from typing import Annotated

from spacetimedb import ReducerContext, primary_key, reducer, table, u32, unique


@table(public=True)
class Tally:
    count: Annotated[u32, primary_key]
    iter: Annotated[str, unique]
    index: Annotated[u32, unique]
    on_update: Annotated[u32, unique]
    name: Annotated[str, unique]
    on_insert: u32


@table(public=True)
class Log:
    on_delete: Annotated[u32, unique]
    remove_on_insert: Annotated[u32, unique]
    text: str


@reducer
def add(ctx: ReducerContext, count: u32, name: str) -> None:
    ctx.db.tally.insert(Tally(count, f"it{count}", count * 10, count * 100, name, count))
    ctx.db.log.insert(Log(count, count + 1, name))


@reducer
def rename(ctx: ReducerContext, count: u32, name: str) -> None:
    for row in list(ctx.db.tally.iter()):  # (the module-side handle's `count` is its method)
        if row.count == count:
            ctx.db.tally.delete(row)
            row.name = name
            ctx.db.tally.insert(row)


@reducer(name="_call")
def call_(ctx: ReducerContext, self: u32) -> None:
    """A reducer named like the bindings' internals, with a parameter named `self`."""
    ctx.db.log.insert(Log(self, self + 1, "called"))
