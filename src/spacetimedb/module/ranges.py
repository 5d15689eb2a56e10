"""Range arguments for index filters: `range(a, b)`, `slice(a, b)`, or an explicit `Range`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spacetimedb.module.datastore import Bound
from spacetimedb.sats.errors import SchemaError


@dataclass(frozen=True, slots=True)
class Range:
    """Bounds on an index column; None means unbounded. Defaults: lower inclusive, upper exclusive.

    `Range(10, 20)` is 10 <= x < 20; `Range(10, 20, upper_inclusive=True)` is 10 <= x <= 20;
    `Range(lower=5, lower_inclusive=False)` is x > 5.
    """

    lower: Any = None
    upper: Any = None
    lower_inclusive: bool = True
    upper_inclusive: bool = False


def is_range(value: Any) -> bool:
    return isinstance(value, (range, slice, Range))


def bounds_of(value: range | slice | Range) -> tuple[Bound, Bound]:
    """(lower, upper) Datastore bounds of a range argument."""
    if isinstance(value, Range):
        lo: Bound = None if value.lower is None else (value.lower, value.lower_inclusive)
        hi: Bound = None if value.upper is None else (value.upper, value.upper_inclusive)
        return lo, hi
    if isinstance(value, range):
        if value.step != 1:
            raise SchemaError("index range filters take range(start, stop) with step 1")
        return (value.start, True), (value.stop, False)
    if value.step is not None:
        raise SchemaError("index range filters take slice(start, stop) without a step")
    return (
        None if value.start is None else (value.start, True),
        None if value.stop is None else (value.stop, False),
    )
