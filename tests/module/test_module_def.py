"""ModuleDef assembly: ids, generated index names, typespace refs, schedules, lifecycle checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pytest

from spacetimedb.module import (
    ModuleDef,
    auto_inc,
    index,
    init,
    primary_key,
    reducer,
    scheduled,
    table,
    unique,
)
from spacetimedb.module.declarations import collecting
from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.special import ScheduleAt
from spacetimedb.sats.widths import u32, u64


@dataclass
class Position:
    x: float
    y: float


def build_game() -> ModuleDef:
    with collecting() as found:

        @table(public=True, indexes=[index("by_team_score", ["team", "score"])])
        class Player:
            id: Annotated[u64, primary_key, auto_inc]
            name: Annotated[str, unique]
            team: str
            score: Annotated[int, index]
            pos: Position

        @table
        class Note:
            text: str

        @reducer
        def join(ctx: object, name: str, pos: Position) -> None: ...

    return ModuleDef.build(found, name="game")


def test_tables_ids_and_indexes() -> None:
    m = build_game()
    player, note = m.tables
    assert (player.schema.table_id, note.schema.table_id) == (0, 1)
    s = player.schema
    assert s.primary_key == 0 and s.public
    assert [(i.index_id, i.name, i.accessor, i.columns, i.unique) for i in s.indexes] == [
        (0, "player_id_idx_btree", "id", (0,), True),
        (1, "player_name_idx_btree", "name", (1,), True),
        (2, "player_score_idx_btree", "score", (3,), False),
        (3, "player_team_score_idx_btree", "by_team_score", (2, 3), False),
    ]
    assert [q.column for q in s.sequences] == [0]
    assert note.schema.indexes == () and note.schema.primary_key is None


def test_typespace_holds_rows_and_named_types_as_refs() -> None:
    m = build_game()
    s = m.tables[0].schema
    assert s.product_type_ref == 0
    assert ("Player", 0) in m.named_types and ("Position", 1) in m.named_types
    assert s.columns[4].algebraic_type == at.RefType(1)
    assert m.typespace.types[1] == at.product(("x", at.F64), ("y", at.F64))
    assert m.reducers["join"].params == at.product(("name", at.STRING), ("pos", at.RefType(1)))


def test_schedule_table_links_reducer_and_checks_shape() -> None:
    with collecting() as found:

        @reducer
        def fire(ctx: object, job: Job) -> None: ...

        @table(scheduled=fire)
        class Job:
            scheduled_id: Annotated[u64, primary_key, auto_inc]
            scheduled_at: ScheduleAt
            note: str

    m = ModuleDef.build(found)
    s = m.table("job").schema
    assert (s.schedule_reducer, s.schedule_at_column) == ("fire", 1)
    assert m.reducers["fire"].schedule_table == "job"


def test_schedule_table_without_u64_auto_inc_pk_rejected() -> None:
    with collecting() as found:

        @reducer
        def fire(ctx: object, job: Job2) -> None: ...

        @table(scheduled=fire)
        class Job2:
            scheduled_id: Annotated[u32, primary_key]
            scheduled_at: ScheduleAt

    with pytest.raises(SchemaError, match="u64 auto-increment primary key"):
        ModuleDef.build(found)


def test_scheduled_reducer_must_take_the_row() -> None:
    with collecting() as found:

        @reducer
        def fire(ctx: object, n: int) -> None: ...

        @table(scheduled="fire")
        class Job3:
            scheduled_id: Annotated[u64, primary_key, auto_inc]
            scheduled_at: ScheduleAt

    with pytest.raises(SchemaError, match="must take exactly one argument"):
        ModuleDef.build(found)


def test_scheduled_sugar_creates_a_schedule_table() -> None:
    with collecting() as found:

        @scheduled(interval_ms=30_000)
        def game_tick(ctx: object) -> None: ...

    m = ModuleDef.build(found)
    t = m.table("game_tick_schedule")
    assert t.schema.schedule_reducer == "game_tick"
    rd = m.reducers["game_tick"]
    assert rd.takes_args is False
    assert rd.params.elements[0].algebraic_type == at.RefType(t.schema.product_type_ref or 0)
    assert m.init_schedules[0].sugar.interval_micros == 30_000_000


def test_scheduled_sugar_rejects_parameters() -> None:
    with pytest.raises(SchemaError, match="must take only ctx"):

        @scheduled(interval_ms=10)
        def tick(ctx: object, n: int) -> None: ...


def test_two_init_reducers_rejected() -> None:
    with collecting() as found:

        @init
        def a(ctx: object) -> None: ...

        @reducer(lifecycle="init")
        def b(ctx: object) -> None: ...

    with pytest.raises(SchemaError, match="2 init reducers"):
        ModuleDef.build(found)


def test_lifecycle_reducer_takes_only_ctx() -> None:
    with pytest.raises(SchemaError, match="must take only ctx"):

        @init
        def setup(ctx: object, n: int) -> None: ...


def test_reducer_param_needs_annotation_and_supported_type() -> None:
    with pytest.raises(SchemaError, match="needs a type annotation"):

        @reducer
        def f(ctx: object, n) -> None: ...  # type: ignore[no-untyped-def]

    with pytest.raises(SchemaError, match=r"g\(n\)"):

        @reducer
        def g(ctx: object, n: set[int]) -> None: ...


def test_duplicate_table_names_rejected() -> None:
    with collecting() as found:

        @table(name="t")
        class A:
            x: u32

        @table(name="t")
        class B:
            x: u32

    with pytest.raises(SchemaError, match="two tables are named 't'"):
        ModuleDef.build(found)


def test_from_namespace_finds_decorated_objects() -> None:
    @table
    class Thing:
        x: u32

    @reducer
    def poke(ctx: object) -> None: ...

    m = ModuleDef.from_namespace({"Thing": Thing, "poke": poke, "other": 3})
    assert [t.name for t in m.tables] == ["thing"] and list(m.reducers) == ["poke"]


def test_nested_collectors_are_kept_apart() -> None:
    with collecting() as outer:
        with collecting() as inner:
            pass
        assert inner == [] and outer == []

        @table
        class Late:
            x: u32

    assert [getattr(d, "name", None) for d in outer] == ["late"]
