"""Random operation sequences against a plain model: contents, deltas, rollbacks, index invariants."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacetimedb.engine import MutTx, RowNotFound, UniqueConstraintViolation

from .schemas import (
    ACCOUNTS,
    ACCOUNTS_PK,
    EVENTS,
    EVENTS_TS,
    GRID,
    GRID_LABEL,
    GRID_XY,
    USERS,
    USERS_AGE,
    USERS_NAME,
    USERS_PK,
    new_db,
)

Row = tuple[Any, ...]
#: table -> its unique column sets (the model's constraints)
UNIQUE = {USERS: [(0,), (1,)], EVENTS: [], GRID: [(2,)], ACCOUNTS: [(0,)]}
UNIQUE_INDEX = {
    USERS_PK: (USERS, (0,)),
    USERS_NAME: (USERS, (1,)),
    GRID_LABEL: (GRID, (2,)),
    ACCOUNTS_PK: (ACCOUNTS, (0,)),
}
TABLES = (USERS, EVENTS, GRID, ACCOUNTS)
SCAN_INDEX = {
    USERS_AGE: (USERS, (2,)),
    EVENTS_TS: (EVENTS, (0,)),
    GRID_XY: (GRID, (0, 1)),
    ACCOUNTS_PK: (ACCOUNTS, (0,)),
}

small = st.integers(0, 3)
user_row = st.tuples(st.integers(1, 5), st.sampled_from(["a", "b", "c", "d"]), small)
event_row = st.tuples(small, st.sampled_from(["x", "y"]), st.lists(st.sampled_from(["p", "q"]), max_size=2))
grid_row = st.tuples(small, small, st.sampled_from(["l1", "l2", "l3", "l4", "l5"]))
account_row = st.tuples(st.integers(0, 4), small)  # only a primary key: the replay fast path
any_row = st.one_of(
    st.tuples(st.just(USERS), user_row),
    st.tuples(st.just(EVENTS), event_row),
    st.tuples(st.just(GRID), grid_row),
    st.tuples(st.just(ACCOUNTS), account_row),
)
bound = st.one_of(st.none(), st.tuples(small, st.booleans()))
op = st.one_of(
    st.tuples(st.just("insert"), any_row),
    st.tuples(st.just("delete"), any_row),
    st.tuples(st.just("update"), st.sampled_from([USERS_PK, USERS_NAME]), user_row),
    st.tuples(st.just("update"), st.just(GRID_LABEL), grid_row),
    st.tuples(st.just("update"), st.just(ACCOUNTS_PK), account_row),
    st.tuples(st.just("index_delete"), st.sampled_from(sorted(SCAN_INDEX)), small),
    st.tuples(st.just("range"), st.sampled_from(sorted(SCAN_INDEX)), bound, bound),
    st.tuples(st.just("grid_prefix_range"), small, bound, bound),
    st.just(("commit",)),
    st.just(("rollback",)),
)


def freeze(row: Row) -> Row:
    return tuple(tuple(v) if isinstance(v, list) else v for v in row)


def key(row: Row, cols: tuple[int, ...]) -> Row:
    return tuple(row[c] for c in cols)


def in_bounds(v: Any, lo: Any, hi: Any) -> bool:
    if lo is not None and (v < lo[0] or (v == lo[0] and not lo[1])):
        return False
    return not (hi is not None and (v > hi[0] or (v == hi[0] and not hi[1])))


class Model:
    def __init__(self) -> None:
        self.tables: dict[int, set[Row]] = {t: set() for t in TABLES}

    def copy(self) -> dict[int, set[Row]]:
        return {t: set(rows) for t, rows in self.tables.items()}

    def collides(self, table: int, row: Row, ignore: Row | None, skip: tuple[int, ...] | None = None) -> bool:
        for cols in UNIQUE[table]:
            if cols == skip:
                continue
            if any(key(r, cols) == key(row, cols) and r != ignore for r in self.tables[table]):
                return True
        return False


def run_op(tx: MutTx, model: Model, step: tuple[Any, ...]) -> None:
    name = step[0]
    if name == "insert":
        table, row = step[1]
        rows = model.tables[table]
        if freeze(row) in rows:
            assert freeze(tx.insert(table, row)) == freeze(row)
        elif model.collides(table, freeze(row), None):
            try:
                tx.insert(table, row)
                raise AssertionError("expected a unique violation")
            except UniqueConstraintViolation:
                pass
        else:
            tx.insert(table, row)
            rows.add(freeze(row))
    elif name == "delete":
        table, row = step[1]
        expected = freeze(row) in model.tables[table]
        assert tx.delete(table, row) is expected
        model.tables[table].discard(freeze(row))
    elif name == "update":
        index_id, row = step[1], step[2]
        table, cols = UNIQUE_INDEX[index_id]
        rows = model.tables[table]
        old = next((r for r in rows if key(r, cols) == key(row, cols)), None)
        if old is None:
            try:
                tx.update(index_id, row)
                raise AssertionError("expected RowNotFound")
            except RowNotFound:
                pass
        elif old == row:
            assert tx.update(index_id, row) == row
        elif model.collides(table, row, old, skip=cols):
            try:
                tx.update(index_id, row)
                raise AssertionError("expected a unique violation")
            except UniqueConstraintViolation:
                pass
        else:
            assert tx.update(index_id, row) == row
            rows.discard(old)
            rows.add(row)
    elif name == "index_delete":
        index_id, value = step[1], step[2]
        table, cols = SCAN_INDEX[index_id]
        doomed = {r for r in model.tables[table] if r[cols[0]] == value}
        assert tx.index_delete(index_id, (value,)) == len(doomed)
        model.tables[table] -= doomed
    elif name == "range":
        index_id, lo, hi = step[1], step[2], step[3]
        table, cols = SCAN_INDEX[index_id]
        got = [freeze(r) for r in tx.index_range(index_id, (), lo, hi)]
        want = [r for r in model.tables[table] if in_bounds(r[cols[0]], lo, hi)]
        assert sorted(got) == sorted(want)
        firsts = [r[cols[0]] for r in got]
        assert firsts == sorted(firsts)
    elif name == "grid_prefix_range":
        x, lo, hi = step[1], step[2], step[3]
        got = list(tx.index_range(GRID_XY, (x,), lo, hi))
        want = [r for r in model.tables[GRID] if r[0] == x and in_bounds(r[1], lo, hi)]
        assert sorted(got) == sorted(want)
        assert [r[1] for r in got] == sorted(r[1] for r in got)


def contents(tx_or_db: Any) -> dict[int, set[Row]]:
    return {t: {freeze(r) for r in tx_or_db.scan(t)} for t in TABLES}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, max_size=40))
def test_random_operations_match_the_model(steps: list[tuple[Any, ...]]) -> None:
    db = new_db()
    replica = new_db()  # follows db by replaying each commit's delta, as crash recovery would
    model = Model()
    tx = db.begin()
    start = model.copy()
    for step in steps:
        if step[0] in ("commit", "rollback"):
            if step[0] == "commit":
                delta = tx.commit()
                for t in TABLES:
                    change = delta.tables.get(t)
                    inserted = {freeze(r) for r in change.inserts} if change else set()
                    deleted = {freeze(r) for r in change.deletes} if change else set()
                    assert inserted == model.tables[t] - start[t]
                    assert deleted == start[t] - model.tables[t]
                    if change:
                        assert len(change.inserts) == len(inserted) and len(change.deletes) == len(deleted)
                replica.apply_delta(delta)
            else:
                tx.rollback()
                model.tables = start
            db.check_invariants()
            assert contents(db) == model.tables
            tx = db.begin()
            start = model.copy()
            continue
        run_op(tx, model, step)
        assert contents(tx) == model.tables
        db.check_invariants()  # indexes are live structures: they must hold mid-transaction too
    tx.rollback()
    db.check_invariants()
    assert contents(db) == start
    replica.check_invariants()
    assert contents(replica) == start
    restored = new_db()
    restored.load_image(db.snapshot_image())
    restored.check_invariants()
    assert contents(restored) == start


account_op = st.one_of(
    st.tuples(st.just("insert"), st.tuples(st.just(ACCOUNTS), account_row)),
    st.tuples(st.just("delete"), st.tuples(st.just(ACCOUNTS), account_row)),
    st.tuples(st.just("update"), st.just(ACCOUNTS_PK), account_row),
    st.tuples(st.just("index_delete"), st.just(ACCOUNTS_PK), small),
    st.just(("commit",)),
    st.just(("rollback",)),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(account_op, max_size=30))
def test_replica_replaying_deltas_follows_a_primary_key_table(steps: list[tuple[Any, ...]]) -> None:
    """Tables with only a primary key replay by swapping rows in place: check that path densely."""
    db = new_db()
    replica = new_db()
    model = Model()
    tx = db.begin()
    start = model.copy()
    for step in steps:
        if step[0] == "commit":
            replica.apply_delta(tx.commit())
            start = model.copy()
            assert contents(replica) == model.tables
            tx = db.begin()
        elif step[0] == "rollback":
            tx.rollback()
            model.tables = start
            start = model.copy()
            tx = db.begin()
        else:
            run_op(tx, model, step)
    tx.rollback()
    replica.check_invariants()
