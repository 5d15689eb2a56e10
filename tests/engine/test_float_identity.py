"""Row identity is byte-for-byte, as upstream (`crates/table/src/eq.rs`): -0.0 and 0.0 are two rows,
two NaNs with the same bits one row, NaNs with different payloads two. This holds for set
semantics on insert, delete by row, delta netting, non-unique index buckets and update, for float
columns at the top level and nested (Option, arrays)."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb.engine import Database, TableDelta, UniqueConstraintViolation
from spacetimedb.module.schema import ColumnSchema, IndexSchema, TableSchema
from spacetimedb.sats.algebraic_type import F32, F64, U32, array, option

FLAT = 1  # (k u32 btree, x f64) no unique index
NESTED = 2  # (k u32 btree, xs Option<[f64]>) no unique index
KEYED = 3  # (id u32 pk, x f32)
FLAT_K, NESTED_K, KEYED_PK = 10, 20, 30


def _nan(bits: int) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", bits))[0])


NAN = _nan(0x7FF8000000000000)
NAN_OTHER_OBJECT = _nan(0x7FF8000000000000)  # same bits, a distinct float object
NAN_PAYLOAD = _nan(0x7FF8000000000001)  # different bits


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def new_db() -> Database:
    def t(
        tid: int, name: str, cols: list[tuple[str, Any]], ixs: tuple[IndexSchema, ...], pk: int | None = None
    ):  # type: ignore[no-untyped-def]
        return TableSchema(
            tid, name, tuple(ColumnSchema(n, ty) for n, ty in cols), primary_key=pk, indexes=ixs
        )

    return Database(
        [
            t(FLAT, "flat", [("k", U32), ("x", F64)], (IndexSchema(FLAT_K, "flat_k", "k", (0,), False),)),
            t(NESTED, "nested", [("k", U32), ("xs", option(array(F64)))], (IndexSchema(NESTED_K, "nested_k", "k", (0,), False),)),
            t(KEYED, "keyed", [("id", U32), ("x", F32)], (IndexSchema(KEYED_PK, "keyed_id", "id", (0,), True),), pk=0),
        ]
    )  # fmt: skip


ROWS = {
    FLAT: lambda x: (1, x),
    NESTED: lambda x: (1, [0.5, x]),
}


def bits_of(rows: list[Any]) -> list[bytes]:
    def flat(v: Any) -> list[float]:
        return (
            [v]
            if isinstance(v, float)
            else [f for e in v for f in flat(e)]
            if isinstance(v, (list, tuple))
            else []
        )

    return sorted(b"".join(_bits(f) for f in flat(r)) for r in rows)


@pytest.mark.parametrize("table", [FLAT, NESTED])
def test_zero_signs_are_two_rows_and_one_nan_is_one_row(table: int) -> None:
    db = new_db()
    row = ROWS[table]
    tx = db.begin()
    for x in (-0.0, 0.0, NAN, NAN_OTHER_OBJECT, NAN_PAYLOAD, -0.0, 0.0):
        tx.insert(table, row(x))
    delta = tx.commit()
    assert db.count(table) == 4
    assert bits_of(delta.tables[table].inserts) == bits_of([row(x) for x in (-0.0, 0.0, NAN, NAN_PAYLOAD)])
    assert (
        len(list(db.index_filter({FLAT: FLAT_K, NESTED: NESTED_K}[table], (1,)))) == 4
    )  # one bucket, four rows
    db.check_invariants()


@pytest.mark.parametrize("table", [FLAT, NESTED])
def test_delete_by_row_matches_bytes(table: int) -> None:
    db = new_db()
    row = ROWS[table]
    tx = db.begin()
    tx.insert(table, row(-0.0))
    tx.insert(table, row(NAN))
    tx.commit()
    tx = db.begin()
    assert tx.delete(table, row(0.0)) is False  # +0.0 is not the stored -0.0
    assert tx.delete(table, row(NAN_PAYLOAD)) is False
    assert tx.delete(table, row(NAN_OTHER_OBJECT)) is True  # same bits, another object
    tx.commit()
    [left] = db.scan(table)
    assert bits_of([left]) == bits_of([row(-0.0)])
    db.check_invariants()


@pytest.mark.parametrize("table", [FLAT, NESTED])
def test_delta_netting_compares_bytes(table: int) -> None:
    db = new_db()
    row = ROWS[table]
    tx = db.begin()
    tx.insert(table, row(-0.0))
    tx.insert(table, row(NAN))
    tx.commit()
    tx = db.begin()
    tx.delete(table, row(-0.0))
    tx.insert(table, row(0.0))  # a different row: no cancelling
    tx.delete(table, row(NAN))
    tx.insert(table, row(NAN_OTHER_OBJECT))  # the same row back: cancels
    delta = tx.commit()
    change = delta.tables[table]
    assert bits_of(change.inserts) == bits_of([row(0.0)]) and bits_of(change.deletes) == bits_of([row(-0.0)])
    db.check_invariants()


def test_update_to_the_other_zero_is_a_change_and_to_the_same_nan_is_not() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(KEYED, (1, 0.0))
    tx.insert(KEYED, (2, NAN))
    tx.commit()
    tx = db.begin()
    tx.update(KEYED_PK, (1, -0.0))
    tx.update(KEYED_PK, (2, NAN_OTHER_OBJECT))
    assert tx.insert(KEYED, (1, -0.0)) == (1, -0.0)  # set semantics: the stored row, no violation
    delta = tx.commit()
    assert delta.tables == {KEYED: TableDelta([(1, -0.0)], [(1, 0.0)])}
    assert math.copysign(1.0, db.index_find(KEYED_PK, 1)[1]) == -1.0
    with pytest.raises(UniqueConstraintViolation):
        db.begin().insert(KEYED, (1, 0.0))  # same key, different bytes: a clash, not a duplicate
    db.check_invariants()


def test_rollback_restores_byte_distinct_rows() -> None:
    db = new_db()
    tx = db.begin()
    tx.insert(FLAT, (1, -0.0))
    tx.commit()
    tx = db.begin()
    tx.insert(FLAT, (1, 0.0))
    tx.delete(FLAT, (1, -0.0))
    tx.rollback()
    assert bits_of(list(db.scan(FLAT))) == bits_of([(1, -0.0)])
    db.check_invariants()


floats = st.sampled_from([0.0, -0.0, NAN, NAN_OTHER_OBJECT, NAN_PAYLOAD, 1.5, math.inf])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), floats), max_size=12))
def test_the_table_is_the_set_of_distinct_byte_rows(ops: list[tuple[bool, float]]) -> None:
    db = new_db()
    model: dict[bytes, float] = {}
    tx = db.begin()
    for insert, x in ops:
        if insert:
            tx.insert(FLAT, (1, x))
            model.setdefault(_bits(x), x)
        else:
            assert tx.delete(FLAT, (1, x)) == (model.pop(_bits(x), None) is not None)
    tx.commit()
    assert sorted(_bits(r[1]) for r in db.scan(FLAT)) == sorted(model)
    db.check_invariants()


UNIQUE = 4  # (x f64 unique btree, tag u32 btree) no primary key
UNIQUE_X, UNIQUE_TAG = 40, 41
SCORES = 5  # (id u32 pk, score f32 btree, weight Option<f64> btree)
SCORES_PK, SCORES_SCORE, SCORES_WEIGHT = 50, 51, 52


def keyed_db() -> Database:
    return Database(
        [
            TableSchema(
                UNIQUE, "uniq", (ColumnSchema("x", F64), ColumnSchema("tag", U32)),
                indexes=(IndexSchema(UNIQUE_X, "uniq_x", "x", (0,), True), IndexSchema(UNIQUE_TAG, "uniq_tag", "tag", (1,), False)),
            ),
            TableSchema(
                SCORES, "scores", (ColumnSchema("id", U32), ColumnSchema("score", F32), ColumnSchema("weight", option(F64))),
                primary_key=0,
                indexes=(
                    IndexSchema(SCORES_PK, "scores_id", "id", (0,), True),
                    IndexSchema(SCORES_SCORE, "scores_score", "score", (1,), False),
                    IndexSchema(SCORES_WEIGHT, "scores_weight", "weight", (2,), False),
                ),
            ),
        ]
    )  # fmt: skip


def test_unique_float_keys_compare_by_value_with_every_nan_one_key() -> None:
    """As upstream's decorum::Total keys: -0.0 clashes with 0.0, any NaN with any NaN."""
    db = keyed_db()
    tx = db.begin()
    tx.insert(UNIQUE, (0.0, 1))
    tx.insert(UNIQUE, (NAN, 2))
    with pytest.raises(UniqueConstraintViolation):
        tx.insert(UNIQUE, (-0.0, 3))
    with pytest.raises(UniqueConstraintViolation):
        tx.insert(UNIQUE, (NAN_PAYLOAD, 4))
    tx.insert(UNIQUE, (NAN_OTHER_OBJECT, 2))  # the same row: a no-op
    tx.commit()
    assert db.count(UNIQUE) == 2
    assert db.index_find(UNIQUE_X, -0.0) == (0.0, 1)
    assert db.index_find(UNIQUE_X, NAN_PAYLOAD)[1] == 2  # type: ignore[index]
    db.check_invariants()


def test_nan_keys_order_after_infinity_in_btree_scans() -> None:
    db = keyed_db()
    tx = db.begin()
    values = [NAN, math.inf, 2.5, -0.0, -1.0, -math.inf]
    for i, x in enumerate(values):
        tx.insert(SCORES, (i, x, None if i % 2 else x))
    tx.commit()
    order = [r[1] for r in db.index_filter(SCORES_SCORE, ())]
    assert [_bits(x) for x in order] == [_bits(x) for x in (-math.inf, -1.0, -0.0, 2.5, math.inf, NAN)]
    above = [r[1] for r in db.index_range(SCORES_SCORE, (), (1.0, True), None)]
    assert [_bits(x) for x in above] == [_bits(x) for x in (2.5, math.inf, NAN)]
    assert [r[0] for r in db.index_filter(SCORES_SCORE, (NAN_PAYLOAD,))] == [0]
    # Inside an Option too: some(NaN) is one key, after some(inf), before none.
    weights = [r[0] for r in db.index_filter(SCORES_WEIGHT, ())]
    assert weights == [4, 2, 0, 1, 3, 5]  # some(-0.0), some(2.5), some(NaN), then the nones
    assert [r[0] for r in db.index_filter(SCORES_WEIGHT, (NAN_OTHER_OBJECT,))] == [0]
    db.check_invariants()
