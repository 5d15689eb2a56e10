"""index_find, index_filter and index_range: exact, prefix and range scans, key forms."""

from __future__ import annotations

import pytest

from spacetimedb.engine import IndexScanUnsupported, MutTx

from .schemas import (
    EVENTS,
    EVENTS_KIND,
    EVENTS_TS,
    GRID,
    GRID_XY,
    OPTS,
    OPTS_MAYBE,
    OPTS_PK,
    USERS,
    USERS_AGE,
    USERS_PK,
    new_db,
)


def grid_tx() -> MutTx:
    tx = new_db().begin()
    for x in range(4):
        for y in range(4):
            tx.insert(GRID, (x, y, f"{x},{y}"))
    return tx


def ys(rows: object) -> list[tuple[int, int]]:
    return [(r[0], r[1]) for r in rows]  # type: ignore[attr-defined]


def test_multi_column_exact_and_prefix() -> None:
    tx = grid_tx()
    assert ys(tx.index_filter(GRID_XY, (2, 3))) == [(2, 3)]
    assert ys(tx.index_filter(GRID_XY, (2,))) == [(2, 0), (2, 1), (2, 2), (2, 3)]
    assert len(list(tx.index_filter(GRID_XY, ()))) == 16


def test_multi_column_range_bounds() -> None:
    tx = grid_tx()
    assert ys(tx.index_range(GRID_XY, (1,), (1, True), (2, True))) == [(1, 1), (1, 2)]
    assert ys(tx.index_range(GRID_XY, (1,), (1, False), (3, False))) == [(1, 2)]
    assert ys(tx.index_range(GRID_XY, (1,), None, (0, True))) == [(1, 0)]
    assert ys(tx.index_range(GRID_XY, (1,), (3, False), None)) == []
    assert ys(tx.index_range(GRID_XY, (), (2, False), None)) == [(3, y) for y in range(4)]
    assert ys(tx.index_range(GRID_XY, (), None, (0, True))) == [(0, y) for y in range(4)]


def test_range_sees_writes_after_ordering_was_built() -> None:
    tx = grid_tx()
    assert len(list(tx.index_range(GRID_XY, (), None, None))) == 16
    tx.insert(GRID, (1, 9, "new"))
    tx.delete(GRID, (1, 0, "1,0"))
    assert ys(tx.index_filter(GRID_XY, (1,))) == [(1, 1), (1, 2), (1, 3), (1, 9)]


def test_single_column_range_and_filter() -> None:
    tx = new_db().begin()
    for i in range(1, 11):
        tx.insert(USERS, (i, f"u{i}", i * 10))
    ages = lambda rows: [r[2] for r in rows]  # noqa: E731
    assert ages(tx.index_range(USERS_AGE, (), (30, True), (50, True))) == [30, 40, 50]
    assert ages(tx.index_range(USERS_AGE, (), (30, False), (50, False))) == [40]
    assert ages(tx.index_range(USERS_AGE, (), None, (20, True))) == [10, 20]
    assert ages(tx.index_range(USERS_AGE, (), (95, True), None)) == [100]
    assert ages(tx.index_filter(USERS_AGE, (70,))) == [70]
    assert [r[0] for r in tx.index_range(USERS_PK, (), (8, True), None)] == [8, 9, 10]


def test_non_unique_bucket_holds_many_rows() -> None:
    tx = new_db().begin()
    for i in range(1, 6):
        tx.insert(USERS, (i, f"u{i}", 7))
    assert sorted(r[0] for r in tx.index_filter(USERS_AGE, (7,))) == [1, 2, 3, 4, 5]
    tx.delete(USERS, (3, "u3", 7))
    tx.update(USERS_PK, (4, "u4", 8))
    assert sorted(r[0] for r in tx.index_filter(USERS_AGE, (7,))) == [1, 2, 5]


def test_hash_index_answers_exact_match_only() -> None:
    tx = new_db().begin()
    tx.insert(EVENTS, (1, "a", []))
    tx.insert(EVENTS, (2, "a", []))
    assert len(list(tx.index_filter(EVENTS_KIND, ("a",)))) == 2
    with pytest.raises(IndexScanUnsupported, match="hash index"):
        tx.index_range(EVENTS_KIND, (), None, None)


def test_range_prefix_too_long_and_find_on_non_unique_raise() -> None:
    tx = grid_tx()
    with pytest.raises(IndexScanUnsupported):
        tx.index_range(GRID_XY, (1, 2), None, None)
    with pytest.raises(IndexScanUnsupported):
        tx.index_find(GRID_XY, (1, 2))
    with pytest.raises(IndexScanUnsupported):
        tx.index_filter(GRID_XY, (1, 2, 3))


def test_option_column_orders_none_last_and_mixes_with_values() -> None:
    tx = new_db().begin()
    tx.insert(OPTS, (1, 5, [1]))
    tx.insert(OPTS, (2, None, [2]))
    tx.insert(OPTS, (3, 1, [3]))
    assert [r[0] for r in tx.index_range(OPTS_MAYBE, (), None, None)] == [3, 1, 2]
    assert [r[0] for r in tx.index_filter(OPTS_MAYBE, (None,))] == [2]
    assert [r[0] for r in tx.index_range(OPTS_MAYBE, (), (1, True), (5, False))] == [3]
    assert tx.index_find(OPTS_PK, 2) == (2, None, [2])


def test_list_valued_rows_are_stored_and_indexed() -> None:
    tx = new_db().begin()
    tx.insert(EVENTS, (5, "x", ["p", "q"]))
    tx.insert(EVENTS, (5, "x", ["p"]))
    assert sorted(len(r[2]) for r in tx.index_filter(EVENTS_TS, (5,))) == [1, 2]
    assert tx.delete(EVENTS, (5, "x", ["p", "q"])) is True
    assert [r[2] for r in tx.scan(EVENTS)] == [["p"]]


def test_key_forms_order_sums_options_and_special_types() -> None:
    from spacetimedb.engine.keys import key_form, make_key_fn
    from spacetimedb.sats.special import Identity
    from spacetimedb.sats.values import SumValue

    values = [SumValue(1, 5), SumValue(0, "z"), None, SumValue(1, 2)]
    assert sorted(values, key=key_form) == [SumValue(0, "z"), SumValue(1, 2), SumValue(1, 5), None]
    assert key_form([1, [2]]) == key_form((1, (2,)))
    # Identity is an ordered hashable class: used unchanged as a key.
    assert make_key_fn((0,), (True,))((Identity(3),)) == Identity(3)


def test_unhashable_foreign_value_is_reported() -> None:
    from spacetimedb.engine import UnindexableValue
    from spacetimedb.engine.keys import key_form

    class Opaque:
        __hash__ = None  # type: ignore[assignment]

    with pytest.raises(UnindexableValue, match="Opaque"):
        key_form(Opaque())
