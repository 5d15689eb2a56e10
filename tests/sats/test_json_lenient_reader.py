"""What the SATS-JSON reader accepts beyond upstream's forms, for hand-typed CLI and HTTP arguments."""

from __future__ import annotations

import enum

import pytest

from spacetimedb import ConversionError, Identity, TimeDuration, Timestamp
from spacetimedb.sats.json import from_json


class Color(enum.Enum):
    RED = 0
    BLUE = 1


def test_special_types_read_from_their_bare_integer() -> None:
    assert from_json(1_000_000, Timestamp) == Timestamp(1_000_000)
    assert from_json(5, TimeDuration) == TimeDuration(5)
    assert from_json(7, Identity) == Identity(7)


def test_a_bool_is_not_taken_for_an_integer() -> None:
    with pytest.raises(ConversionError):
        from_json(True, Timestamp)


def test_unit_variants_read_from_their_name_and_an_unknown_name_is_named() -> None:
    assert from_json("BLUE", Color) is Color.BLUE
    with pytest.raises(ConversionError, match=r"no unit variant 'GREEN'; expected one of \['RED', 'BLUE'\]"):
        from_json("GREEN", Color)
