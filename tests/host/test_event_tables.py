"""Event tables: inserted rows reach the commit's delta (and so subscribers) but are not kept."""

from __future__ import annotations

from typing import Any

from spacetimedb.host import ModuleHost
from spacetimedb.module import ModuleDef, reducer, table
from spacetimedb.module.declarations import collecting
from spacetimedb.sats.special import Identity

ME = Identity(1)


def test_event_table_rows_reach_the_delta_but_are_not_kept() -> None:
    with collecting() as found:

        @table(event=True, public=True)
        class Boom:
            where: str

        @reducer
        def explode(ctx: Any, where: str) -> None:
            ctx.db.boom.insert(Boom(where=where))

    h = ModuleHost(ModuleDef.build(found))
    tid = h.module.table("boom").schema.table_id
    r = h.call_reducer("explode", ("here",), caller=ME, args_format="python")
    assert r.ok and r.delta is not None and r.delta.tables[tid].inserts == [("here",)]
    assert h.db.count(tid) == 0
