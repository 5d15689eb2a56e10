"""@table: names, constraints both ways, defaults, generated methods, and declaration errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pytest

from spacetimedb.module import auto_inc, index, primary_key, table, unique
from spacetimedb.module.table import table_decl
from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.widths import u32, u64


def test_name_defaults_to_snake_case_and_private() -> None:
    @table
    class LeaderboardEntry:
        id: u32

    d = table_decl(LeaderboardEntry)
    assert d.name == "leaderboard_entry"
    assert d.public is False


def test_name_and_public_keywords() -> None:
    @table(name="accounts", public=True)
    class Account:
        id: u32

    d = table_decl(Account)
    assert (d.name, d.public) == ("accounts", True)


def test_annotated_markers() -> None:
    @table
    class Player:
        id: Annotated[u64, primary_key, auto_inc]
        email: Annotated[str, unique]
        score: Annotated[int, index]

    d = table_decl(Player)
    assert d.primary_key == "id"
    assert d.auto_inc == ["id"]
    assert d.unique == [("email",)]
    assert [(i.accessor, i.columns) for i in d.indexes] == [("score", ("score",))]
    assert [c.algebraic_type for c in d.columns] == [at.U64, at.STRING, at.I64]


def test_keyword_constraints_and_multi_column_index() -> None:
    @table(
        primary_key="id",
        auto_inc=["id"],
        unique=["name"],
        indexes=["score", index("by_team_score", ["team", "score"])],
    )
    class Player:
        id: u64
        name: str
        team: str
        score: int

    d = table_decl(Player)
    assert d.primary_key == "id" and d.auto_inc == ["id"] and d.unique == [("name",)]
    assert [(i.accessor, i.columns) for i in d.indexes] == [
        ("score", ("score",)),
        ("by_team_score", ("team", "score")),
    ]


def test_generated_init_eq_repr_and_mutable_defaults_are_copied() -> None:
    @table
    class Player:
        id: Annotated[u64, primary_key, auto_inc]
        name: str
        score: int = 0
        inventory: list[str] = []

    a = Player(name="a")
    b = Player(name="b")
    a.inventory.append("sword")
    assert b.inventory == []
    assert a.id == 0 and a.score == 0
    assert Player(name="a") == Player(name="a")
    assert Player(name="a") != Player(name="b")
    assert repr(Player(id=1, name="x")) == "Player(id=1, name='x', score=0, inventory=[])"


def test_positional_init_in_field_order() -> None:
    @table
    class Point:
        x: int
        y: int = 0

    assert Point(1, 2).y == 2
    assert Point(1).y == 0


def test_dataclass_methods_are_kept() -> None:
    @table
    @dataclass
    class Item:
        id: Annotated[u32, primary_key]
        label: str = "thing"

    assert Item(1) == Item(1, "thing")
    assert table_decl(Item).columns[1].default == "thing"


def test_unsupported_annotation_names_the_field() -> None:
    with pytest.raises(SchemaError, match=r"Bad\.scores"):

        @table
        class Bad:
            id: u32
            scores: dict[str, int]


def test_two_primary_keys_rejected() -> None:
    with pytest.raises(SchemaError, match="two primary keys"):

        @table(primary_key="b")
        class T:
            a: Annotated[u32, primary_key]
            b: u32


def test_unknown_constraint_column_rejected() -> None:
    with pytest.raises(SchemaError, match="no column 'nope'"):

        @table(unique=["nope"])
        class T:
            a: u32


def test_auto_inc_needs_an_integer_column() -> None:
    with pytest.raises(SchemaError, match="auto_inc column 'name' must be an integer"):

        @table
        class T:
            name: Annotated[str, auto_inc]


def test_table_without_columns_rejected() -> None:
    with pytest.raises(SchemaError, match="declares no columns"):

        @table
        class Empty:
            pass


def test_duplicate_index_accessor_rejected() -> None:
    with pytest.raises(SchemaError, match="index accessor 'x' twice"):

        @table(indexes=[index("x", ["a"]), index("x", ["b"])])
        class T:
            a: u32
            b: u32


@pytest.mark.parametrize("bad", ["", "9lives", "has space", "dash-ed"])
def test_names_must_be_identifiers(bad: str) -> None:
    with pytest.raises(SchemaError, match="table name"):

        @table(name=bad)
        class T:
            a: u32


def test_snake_case_names() -> None:
    from spacetimedb.module.naming import pascal_case, snake_case

    assert snake_case("LeaderboardEntry") == "leaderboard_entry"
    assert snake_case("HTTPRequest") == "http_request"
    assert snake_case("already_snake") == "already_snake"
    assert pascal_case("leaderboard_entry") == "LeaderboardEntry"


def test_a_field_named_self() -> None:
    @table
    class Odd:
        self: int
        other: str = "x"

    assert Odd(self=3).self == 3 and Odd(4, "y").other == "y"
