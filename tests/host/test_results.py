"""`ReducerCallResult`'s field order: the host's per-call path builds it positionally."""

from __future__ import annotations

import dataclasses

from spacetimedb.host.results import ReducerCallResult


def test_field_order_is_what_the_per_call_path_passes() -> None:
    # ModuleHost._run passes these positionally; reordering the fields must change that call too.
    assert [f.name for f in dataclasses.fields(ReducerCallResult)] == [
        "reducer",
        "status",
        "error",
        "delta",
        "timestamp",
        "tx_offset",
        "caller",
        "connection_id",
        "args",
        "duration_micros",
        "internal",
    ]
