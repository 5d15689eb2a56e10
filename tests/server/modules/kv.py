"""One upsertable key-value table, for the client-cache ordering test (tests/server/test_gzip_order.py)."""

from typing import Annotated

from spacetimedb import ReducerContext, primary_key, reducer, table, u32


@table(public=True)
class Kv:
    id: Annotated[u32, primary_key]
    value: str


@reducer
def put(ctx: ReducerContext, id: u32, value: str) -> None:
    if ctx.db.kv.id.find(id) is None:
        ctx.db.kv.insert(Kv(id=id, value=value))
    else:
        ctx.db.kv.id.update(Kv(id=id, value=value))
