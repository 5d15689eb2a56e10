"""@scheduled: at=, delay=, interval=timedelta; rows made at init; cancelling by deleting the row."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from spacetimedb.host import ModuleHost
from spacetimedb.module import ModuleDef, reducer, scheduled
from spacetimedb.module.declarations import collecting
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.special import Timestamp

T0 = Timestamp(1_000_000_000_000_000)
fired: list[tuple[str, int]] = []

with collecting() as _found:

    @scheduled(at=Timestamp(T0.micros + 10_000_000))
    def at_ten(ctx: Any) -> None:
        fired.append(("at_ten", ctx.timestamp.micros - T0.micros))

    @scheduled(delay=timedelta(seconds=3))
    def after_three(ctx: Any) -> None:
        fired.append(("after_three", ctx.timestamp.micros - T0.micros))

    @scheduled(interval=timedelta(seconds=4))
    def every_four(ctx: Any) -> None:
        fired.append(("every_four", ctx.timestamp.micros - T0.micros))

    @reducer
    def stop_every_four(ctx: Any) -> None:
        ctx.db.every_four_schedule.clear()


@pytest.fixture
def host() -> ModuleHost:
    fired.clear()
    h = ModuleHost(ModuleDef.build(_found), clock=lambda: T0)
    assert h.init().ok
    return h


def test_rows_exist_after_init(host: ModuleHost) -> None:
    for name in ("at_ten_schedule", "after_three_schedule", "every_four_schedule"):
        t = host.module.table(name)
        assert host.db.count(t.schema.table_id) == 1


def test_firing_order_and_times(host: ModuleHost) -> None:
    while (due := host.next_due()) is not None and due.micros <= T0.micros + 11_000_000:
        host.run_due(due)
    assert fired == [
        ("after_three", 3_000_000),
        ("every_four", 4_000_000),
        ("every_four", 8_000_000),
        ("at_ten", 10_000_000),
    ]
    assert host.next_due() == Timestamp(T0.micros + 12_000_000)


def test_cancel_by_deleting_the_row(host: ModuleHost) -> None:
    host.call_reducer("stop_every_four", (), caller=host.identity, args_format="python", timestamp=T0)
    host.run_due(Timestamp(T0.micros + 60_000_000))
    assert [n for n, _ in fired] == ["after_three", "at_ten"]
    assert host.next_due() is None


def test_scheduled_needs_exactly_one_timing() -> None:
    with pytest.raises(SchemaError, match="exactly one"):
        scheduled(interval_ms=5, delay_ms=5)
    with pytest.raises(SchemaError, match="exactly one"):
        scheduled()
    with pytest.raises(SchemaError, match="positive"):
        scheduled(interval_ms=0)
