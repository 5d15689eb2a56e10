"""Value wrappers used when a type is given as a bare AlgebraicType (no Python class to build)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SumValue:
    """A value of a plain sum type: the variant's index and its payload (`()` for a unit variant)."""

    tag: int
    value: Any = ()


@dataclass(frozen=True, slots=True)
class Some:
    """An explicit `some(value)` of an Option.

    Only needed where `None` would be ambiguous, i.e. `Option<Option<T>>`: there `None` is the
    outer none, `Some(None)` is some(none), and a plain value `x` is some(some(x)). Decoders
    produce `Some` only in that case; encoders accept it anywhere an Option is expected.
    """

    value: Any
