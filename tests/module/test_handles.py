"""Table and index handles over the engine's Datastore: every operation, copies, and errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import pytest

from spacetimedb.engine import Database, UniqueConstraintViolation
from spacetimedb.module import ModuleDef, Range, auto_inc, index, primary_key, table, unique
from spacetimedb.module.datastore_errors import RowNotFound
from spacetimedb.module.db_view import DbView
from spacetimedb.module.declarations import collecting
from spacetimedb.module.handles import NoTransactionError, TableHandle, TxSlot
from spacetimedb.sats.errors import ConversionError, SchemaError
from spacetimedb.sats.widths import u32, u64


@dataclass
class Position:
    x: float
    y: float


with collecting() as _found:

    @table(indexes=[index("by_team_score", ["team", "score"])])
    class Player:
        id: Annotated[u64, primary_key, auto_inc]
        name: Annotated[str, unique]
        team: str = "red"
        score: Annotated[int, index] = 0
        pos: Position = Position(0.0, 0.0)
        inventory: list[str] = []

    @table
    class Other:
        count: u32  # a column named like a method


MODULE = ModuleDef.build(_found)


@pytest.fixture
def db() -> Iterator[DbView]:
    database = Database(MODULE.table_schemas)
    slot = TxSlot()
    view = DbView([TableHandle(t.schema, t.converter, slot) for t in MODULE.tables])
    slot.ds = database.begin()
    yield view


def test_insert_fills_auto_inc_and_returns_a_copy(db: Any) -> None:
    p = Player(name="ann", inventory=["sword"])
    stored = db.player.insert(p)
    assert stored.id == 1 and p.id == 0
    assert db.player.insert(Player(name="bob")).id == 2
    stored.inventory.append("shield")
    assert db.player.id.find(1).inventory == ["sword"]


def test_rows_handed_out_are_deep_copies(db: Any) -> None:
    db.player.insert(Player(name="ann", pos=Position(1.0, 2.0)))
    a = db.player.id.find(1)
    a.pos.x = 99.0
    a.inventory.append("x")
    a.score = 50
    again = db.player.id.find(1)
    assert (again.pos.x, again.inventory, again.score) == (1.0, [], 0)
    db.player.id.update(a)
    assert db.player.id.find(1).pos.x == 99.0


def test_iter_scan_count_len_and_both_access_styles(db: Any) -> None:
    for n in ("a", "b", "c"):
        db.player.insert(Player(name=n))
    assert sorted(p.name for p in db.player) == ["a", "b", "c"]
    assert len(list(db.player.iter())) == len(list(db.player.scan())) == 3
    assert db.player.count() == len(db.player) == 3
    assert db.get_table(Player) is db.player is db.get_table("player")


def test_delete_row_and_delete_while_iterating(db: Any) -> None:
    rows = [db.player.insert(Player(name=n)) for n in ("a", "b", "c")]
    assert db.player.delete(rows[0]) is True
    assert db.player.delete(rows[0]) is False
    for p in db.player:
        db.player.delete(p)
    assert db.player.count() == 0


def test_unique_index_find_update_delete(db: Any) -> None:
    db.player.insert(Player(name="ann"))
    assert db.player.name.find("ann").id == 1
    assert db.player.name.find("zed") is None
    assert db.player.find_by_primary_key(1).name == "ann"
    assert db.player.id.delete(1) == 1
    assert db.player.id.delete(1) == 0
    assert db.player.count() == 0


def test_table_level_update_by_primary_key_both_handle_styles(db: Any) -> None:
    ann = db.player.insert(Player(name="ann"))
    ann.score = 7
    stored = db.get_table(Player).update(ann)
    assert stored.score == 7 and db.player.id.find(ann.id).score == 7
    ann.name = "anna"
    db.player.update(ann)
    assert db.player.name.find("anna").id == ann.id and db.player.count() == 1
    # As upstream's primary-key update: no row with that key is an error, not an insert.
    with pytest.raises(RowNotFound, match="insert the row"):
        db.player.update(Player(id=99, name="ghost"))
    bob = db.player.insert(Player(name="bob"))
    bob.name = "anna"  # collides on the other unique column
    with pytest.raises(UniqueConstraintViolation):
        db.player.update(bob)
    assert db.player.id.find(bob.id).name == "bob"


def test_delete_by_primary_key_returns_whether_a_row_was_deleted(db: Any) -> None:
    ann = db.player.insert(Player(name="ann"))
    assert db.get_table(Player).delete_by_primary_key(ann.id) is True
    assert db.player.delete_by_primary_key(ann.id) is False
    assert db.player.count() == 0
    with pytest.raises(SchemaError, match="not a range"):
        db.player.delete_by_primary_key(range(0, 5))


def test_primary_key_operations_on_a_table_without_one_name_the_alternative(db: Any) -> None:
    for op, args in (("update", (Other(count=1),)), ("delete_by_primary_key", (1,)), ("find_by_primary_key", (1,))):
        with pytest.raises(SchemaError, match=f"table 'other' has no primary key, so `{op}`.*use t\\."):
            getattr(db.other, op)(*args)


def test_unique_violation_is_a_clear_error(db: Any) -> None:
    db.player.insert(Player(name="ann"))
    with pytest.raises(UniqueConstraintViolation, match="name"):
        db.player.insert(Player(name="ann"))


def test_btree_filter_ranges(db: Any) -> None:
    for i in range(10):
        db.player.insert(Player(name=f"p{i}", score=i, team="red" if i % 2 else "blue"))
    score = db.player.score
    assert [p.score for p in score.filter(3)] == [3]
    assert [p.score for p in score.filter(range(2, 5))] == [2, 3, 4]
    assert [p.score for p in score.filter(slice(7, None))] == [7, 8, 9]
    assert [p.score for p in score.filter(Range(2, 4, upper_inclusive=True))] == [2, 3, 4]
    assert [p.score for p in score.filter(Range(lower=7, lower_inclusive=False))] == [8, 9]
    assert score.delete(range(0, 3)) == 3
    assert db.player.count() == 7


def test_multi_column_prefix_and_range(db: Any) -> None:
    for i in range(6):
        db.player.insert(Player(name=f"p{i}", score=i, team="red" if i % 2 else "blue"))
    ix = db.player.by_team_score
    assert sorted(p.score for p in ix.filter("red")) == [1, 3, 5]
    assert [p.score for p in ix.filter(("red", 3))] == [3]
    assert [p.score for p in ix.filter(("blue", range(1, 5)))] == [2, 4]
    assert ix.delete("blue") == 3


def test_filter_predicate(db: Any) -> None:
    for i in range(4):
        db.player.insert(Player(name=f"p{i}", score=i))
    assert sorted(p.name for p in db.player.filter(lambda p: p.score >= 2)) == ["p2", "p3"]


def test_wrong_class_and_wrong_field_types_name_the_field(db: Any) -> None:
    with pytest.raises(ConversionError, match="expected a Player row, got Other"):
        db.player.insert(Other(count=1))
    with pytest.raises(ConversionError, match=r"Player\.score"):
        db.player.insert(Player(name="x", score="high"))
    with pytest.raises(ConversionError, match=r"Player\.pos\.x"):
        db.player.insert(Player(name="x", pos=Position("a", 0.0)))  # type: ignore[arg-type]
    with pytest.raises(ConversionError, match=r"Player\.inventory\[1\]"):
        db.player.insert(Player(name="x", inventory=["a", 3]))
    with pytest.raises(ConversionError, match="out of range for u64"):
        db.player.insert(Player(id=-1, name="x"))
    assert db.player.count() == 0


def test_method_named_columns_reach_indexes_through_index(db: Any) -> None:
    assert callable(db.other.count)
    with pytest.raises(SchemaError, match="no index 'nope'"):
        db.player.index("nope")
    assert db.player.index("name") is db.player.name


def test_unknown_table_is_a_clear_error(db: Any) -> None:
    with pytest.raises(AttributeError, match="no table 'ghost'"):
        _ = db.ghost
    with pytest.raises(SchemaError, match="no table 'ghost'"):
        db.get_table("ghost")


def test_handles_outside_a_transaction_raise() -> None:
    slot = TxSlot()
    t = MODULE.tables[0]
    h = TableHandle(t.schema, t.converter, slot)
    with pytest.raises(NoTransactionError):
        h.count()


def test_unique_index_also_filters_ranges_and_product_keys(db: Any) -> None:
    for n in ("a", "b", "c", "d"):
        db.player.insert(Player(name=n))
    assert [p.id for p in db.player.id.filter(range(2, 4))] == [2, 3]
    assert [p.name for p in db.player.name.filter(slice("b", "d"))] == ["b", "c"]
    assert db.player.id.delete(range(1, 3)) == 2
    assert sorted(p.id for p in db.player) == [3, 4]


def test_index_on_a_product_column_takes_objects_as_keys() -> None:
    with collecting() as found:

        @table
        class Spot:
            id: Annotated[u32, primary_key]
            at: Annotated[Position, index]

    m = ModuleDef.build(found)
    database = Database(m.table_schemas)
    slot = TxSlot()
    view: Any = DbView([TableHandle(t.schema, t.converter, slot) for t in m.tables])
    slot.ds = database.begin()
    view.spot.insert(Spot(id=1, at=Position(1.0, 2.0)))
    view.spot.insert(Spot(id=2, at=Position(3.0, 4.0)))
    assert [s.id for s in view.spot.at.filter(Position(3.0, 4.0))] == [2]
    assert view.spot.at.delete(Position(1.0, 2.0)) == 1
    with pytest.raises(ConversionError, match="expected Position"):
        list(view.spot.at.filter("nope"))


def test_frozen_and_slotted_dataclass_rows() -> None:
    import dataclasses

    with collecting() as found:

        @table
        @dataclass(frozen=True)
        class Frozen:
            id: Annotated[u32, primary_key]
            label: str

        @table
        @dataclass(slots=True)
        class Slotted:
            id: Annotated[u32, primary_key]
            tags: list[str]

    m = ModuleDef.build(found)
    database = Database(m.table_schemas)
    slot = TxSlot()
    view: Any = DbView([TableHandle(t.schema, t.converter, slot) for t in m.tables])
    slot.ds = database.begin()
    view.frozen.insert(Frozen(1, "a"))
    got = view.frozen.id.find(1)
    assert got == Frozen(1, "a")
    view.frozen.id.update(dataclasses.replace(got, label="b"))
    assert view.frozen.id.find(1).label == "b"
    view.slotted.insert(Slotted(1, ["x"]))
    s = view.slotted.id.find(1)
    s.tags.append("y")
    assert view.slotted.id.find(1) == Slotted(1, ["x"])
