"""Row conversion agrees with the BSATN codec: what a handle stores is what durability replays.

For random rows of a table using every kind of column, `to_row` gives exactly the bare tuple the
codec decodes from the row's bytes, and `from_row` rebuilds an equal object.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Any

from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb import bsatn
from spacetimedb.module import ModuleDef, primary_key, table
from spacetimedb.module.declarations import collecting
from spacetimedb.sats.special import Identity, ScheduleAt, TimeDuration, Timestamp
from spacetimedb.sats.sums import Sum
from spacetimedb.sats.widths import f32, i8, i128, u8, u16, u64


@dataclass
class Vec2:
    x: float
    y: float


class Mood(enum.Enum):
    HAPPY = 1
    SAD = 2


class Shape(Sum):
    Circle: float
    Label: str
    Empty: None


with collecting() as _found:

    @table
    class Everything:
        id: Annotated[u64, primary_key]
        small: i8
        wide: i128
        port: u16
        ratio: f32
        exact: float
        name: str
        flag: bool
        blob: bytes
        octets: list[u8]
        octet_rows: list[list[u8]] | None
        names: tuple[str, ...]
        tags: list[str]
        maybe: int | None
        where: Vec2
        path: list[Vec2]
        mood: Mood
        shape: Shape
        who: Identity
        when: Timestamp
        every: ScheduleAt


MODULE = ModuleDef.build(_found)
TABLE = MODULE.table("everything")
CODEC = bsatn.compile(TABLE.schema.row_type, MODULE.typespace)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
f32s = st.floats(allow_nan=False, allow_infinity=False, width=32)
vec2 = st.builds(Vec2, finite, finite)
shape = st.one_of(
    st.builds(Shape.Circle, finite), st.builds(Shape.Label, st.text(max_size=5)), st.just(Shape.Empty())
)
schedule = st.one_of(
    st.builds(lambda n: ScheduleAt(TimeDuration(n)), st.integers(0, 10**12)),
    st.builds(lambda n: ScheduleAt(Timestamp(n)), st.integers(0, 10**15)),
)
rows = st.builds(
    Everything,
    id=st.integers(0, 2**64 - 1),
    small=st.integers(-128, 127),
    wide=st.integers(-(2**127), 2**127 - 1),
    port=st.integers(0, 65535),
    ratio=f32s,
    exact=finite,
    name=st.text(max_size=10),
    flag=st.booleans(),
    blob=st.binary(max_size=8),
    octets=st.lists(st.integers(0, 255), max_size=6),
    octet_rows=st.one_of(st.none(), st.lists(st.lists(st.integers(0, 255), max_size=3), max_size=3)),
    names=st.lists(st.text(max_size=3), max_size=3).map(tuple),
    tags=st.lists(st.text(max_size=4), max_size=3),
    maybe=st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    where=vec2,
    path=st.lists(vec2, max_size=3),
    mood=st.sampled_from(list(Mood)),
    shape=shape,
    who=st.builds(Identity, st.integers(0, 2**256 - 1)),
    when=st.builds(Timestamp, st.integers(-(2**62), 2**62)),
    every=schedule,
)


@settings(max_examples=150, deadline=None)
@given(rows)
def test_stored_tuple_is_what_the_codec_decodes(row: Any) -> None:
    conv = TABLE.converter
    stored = conv.to_row(row)
    assert CODEC.decode(CODEC.encode(stored)) == stored
    back = conv.from_row(stored)
    assert back == row
    assert conv.to_row(back) == stored


@settings(max_examples=50, deadline=None)
@given(rows)
def test_rows_from_storage_do_not_alias_it(row: Any) -> None:
    conv = TABLE.converter
    stored = conv.to_row(row)
    out = conv.from_row(stored)
    out.tags.append("x")
    out.octets.append(7)
    out.path.append(Vec2(0.0, 0.0))
    assert conv.from_row(stored) == row
