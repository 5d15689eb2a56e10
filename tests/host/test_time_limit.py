"""The reducer time limit's watchdog never leaves an exception behind in the host's own code:
calls ending right around the limit either commit or fail as timed out, and the engine agrees."""

from __future__ import annotations

import time
from typing import Annotated, Any

from spacetimedb.host import ModuleHost
from spacetimedb.module import ModuleDef, primary_key, reducer, table
from spacetimedb.module.declarations import collecting
from spacetimedb.sats.special import Identity
from spacetimedb.sats.widths import u32

ME = Identity(7)


def test_calls_ending_around_the_limit_commit_or_fail_cleanly() -> None:
    with collecting() as found:

        @table
        class Done:
            id: Annotated[u32, primary_key]

        @reducer
        def work(ctx: Any, id: u32, micros: u32) -> None:
            ctx.db.done.insert(Done(id=id))
            end = time.perf_counter() + micros / 1e6
            while time.perf_counter() < end:
                pass

    h = ModuleHost(ModuleDef.build(found), time_limit=0.02)
    committed = timed_out = 0
    for i in range(120):  # bounded: at most 120 x ~90 ms
        result = h.call_reducer("work", (i, 10_000 + (i * 7919) % 30_000), caller=ME, args_format="python")
        if result.committed:
            committed += 1
        else:
            assert "reducer time limit of 0.02 s" in (result.error or ""), result.error
            timed_out += 1
    tid = h.module.table("done").schema.table_id
    assert h.db.count(tid) == committed and not h.db.in_transaction
    assert committed and timed_out  # both sides of the limit were exercised
    h.db.check_invariants()
