"""Reducer arguments in every format decode to the author's types (classes, sums, options)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Any

import pytest

from spacetimedb import bsatn
from spacetimedb.host import ModuleHost, ReducerArgumentsError
from spacetimedb.module import ModuleDef, primary_key, reducer, table
from spacetimedb.module.declarations import collecting
from spacetimedb.sats.special import Identity, Timestamp
from spacetimedb.sats.sums import Sum
from spacetimedb.sats.widths import f32, u32


@dataclass
class Pos:
    x: f32
    y: f32


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class Cmd(Sum):
    Move: Pos
    Say: str
    Quit: None


seen: list[tuple[Any, ...]] = []

with collecting() as _found:

    @table
    class Log:
        id: Annotated[u32, primary_key]

    @reducer
    def take(ctx: Any, who: Identity, pos: Pos, color: Color, cmd: Cmd, note: str | None, tags: list[str]) -> None:
        seen.append((who, pos, color, cmd, note, tags))


MODULE = ModuleDef.build(_found)
ALICE = Identity(0xABC)
VALUES = (ALICE, Pos(1.5, -2.0), Color.BLUE, Cmd.Move(Pos(3.0, 4.0)), None, ["a", "b"])


@pytest.fixture
def host() -> ModuleHost:
    seen.clear()
    return ModuleHost(MODULE)


def test_python_args_are_validated_and_copied(host: ModuleHost) -> None:
    tags = ["a", "b"]
    r = host.call_reducer("take", (*VALUES[:5], tags), caller=ALICE, args_format="python")
    assert r.ok
    assert seen[0] == VALUES and seen[0][5] is not tags


def test_bsatn_args_decode_into_classes(host: ModuleHost) -> None:
    rd = MODULE.reducers["take"]
    codec = bsatn.compile(rd.params, MODULE.typespace)
    data = codec.encode((ALICE, (1.5, -2.0), _sv(1), _sv(0, (3.0, 4.0)), None, ["a", "b"]))
    assert host.call_reducer("take", data, caller=ALICE).ok
    assert seen[0] == VALUES


def test_json_args_as_array_or_object(host: ModuleHost) -> None:
    as_object = {
        "who": ALICE.to_hex(),
        "pos": {"x": 1.5, "y": -2.0},
        "color": {"BLUE": []},
        "cmd": {"Move": {"x": 3.0, "y": 4.0}},
        "note": {"none": []},
        "tags": ["a", "b"],
    }
    assert host.call_reducer("take", as_object, caller=ALICE, args_format="json").ok
    as_array = [{"__identity__": ALICE.value}, [1.5, -2.0], "BLUE", [0, [3.0, 4.0]], None, ["a", "b"]]
    assert host.call_reducer("take", as_array, caller=ALICE, args_format="json").ok
    assert seen == [VALUES, VALUES]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"who": "00"}, "missing"),
        ([1, 2], "takes 6 argument"),
        ("nope", "array or an object"),
        ([ALICE.to_hex(), {"x": 1.0}, "BLUE", {"Quit": []}, None, []], r"pos"),
        ([ALICE.to_hex(), [1, 2], "GREEN", {"Quit": []}, None, []], "no unit variant 'GREEN'"),
        # Found by fuzzing (tests/fuzz, call_json): a number an f32 cannot hold was accepted and
        # failed only when encoded; an integer too big for a float escaped as OverflowError.
        ([ALICE.to_hex(), [1e39, 2], "BLUE", {"Quit": []}, None, []], r"argument pos: 1e\+39 does not fit in f32 .* at Pos\.x"),
        ([ALICE.to_hex(), [1, 10**400], "BLUE", {"Quit": []}, None, []], r"argument pos: an integer of 401 digits is too large for f32 - at Pos\.y"),
    ],
)
def test_bad_json_args(host: ModuleHost, args: Any, match: str) -> None:
    with pytest.raises(ReducerArgumentsError, match=match):
        host.call_reducer("take", args, caller=ALICE, args_format="json")
    assert seen == []


def test_timestamps_from_json() -> None:
    from spacetimedb.sats.infer import node_of
    from spacetimedb.sats.json import from_json

    node = node_of(Timestamp)
    assert from_json(1_000_000, node) == Timestamp(1_000_000)
    assert from_json("1970-01-01T00:00:01Z", node) == Timestamp(1_000_000)
    assert from_json({"__timestamp_micros_since_unix_epoch__": 5}, node) == Timestamp(5)


def _sv(tag: int, value: Any = ()) -> Any:
    from spacetimedb.sats.values import SumValue

    return SumValue(tag, value)
