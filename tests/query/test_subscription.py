from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb.module.datastore import Row
from spacetimedb.query.catalog import Catalog
from spacetimedb.query.errors import SqlPlanError, SqlUnresolvedError, SqlUnsupportedError
from spacetimedb.query.subscription import (
    SemiJoinPlan,
    SingleTablePlan,
    compile_all_tables,
    compile_subscription,
    is_subscribe_all,
)
from spacetimedb.sats.algebraic_type import U32
from spacetimedb.sats.special import Identity

from .fakes import FakeState, make_table
from .schemas import ALL, PERSON, PET, SECRET, catalog


def people_and_pets() -> FakeState:
    state = FakeState(ALL)
    state.commit(
        {
            PERSON.table_id: [(1, "Ann", 30), (2, "Bob", 40), (3, "Cy", 50)],
            PET.table_id: [(10, 1, "cat"), (11, 1, "dog"), (12, 2, "cat")],
        }
    )
    return state


def test_single_table_initial_and_delta() -> None:
    state = people_and_pets()
    plan = compile_subscription("SELECT * FROM person WHERE age >= 40", catalog())
    assert isinstance(plan, SingleTablePlan)
    assert plan.return_table is PERSON and plan.tables_read == {PERSON.table_id}
    assert sorted(plan.initial_rows(state)) == [(2, "Bob", 40), (3, "Cy", 50)]
    delta = state.commit(
        {PERSON.table_id: [(4, "Di", 60), (5, "Ed", 10)]}, {PERSON.table_id: [(3, "Cy", 50)]}
    )
    assert plan.eval_delta(state, delta) == ([(4, "Di", 60)], [(3, "Cy", 50)])
    assert plan.eval_delta(state, {PET.table_id: ([(13, 1, "eel")], [])}) == ([], [])


def test_single_table_uses_index_for_initial_rows() -> None:
    state = people_and_pets()
    plan = compile_subscription("SELECT * FROM person WHERE id = 2", catalog())
    state.calls.clear()
    assert plan.initial_rows(state) == [(2, "Bob", 40)]
    assert state.calls["scan", PERSON.table_id] == 0


def test_semijoin_initial_rows_are_a_bag() -> None:
    state = people_and_pets()
    plan = compile_subscription(
        'SELECT "person".* FROM "person" JOIN "pet" ON "person"."id" = "pet"."person_id"', catalog()
    )
    assert isinstance(plan, SemiJoinPlan)
    # Ann has two pets: she appears twice (the client reference-counts rows).
    assert Counter(plan.initial_rows(state)) == Counter({(1, "Ann", 30): 2, (2, "Bob", 40): 1})
    pets = compile_subscription(
        "SELECT pet.* FROM person JOIN pet ON person.id = pet.person_id WHERE person.age > 35", catalog()
    )
    assert pets.return_table is PET
    assert pets.initial_rows(state) == [(12, 2, "cat")]


def test_semijoin_delta_update_of_partner_nets_out() -> None:
    state = people_and_pets()
    plan = compile_subscription("SELECT p.* FROM person p JOIN pet q ON p.id = q.person_id", catalog())
    # An update of a pet that keeps its owner: delete + insert of pet rows, no change for the person.
    delta = state.commit({PET.table_id: [(10, 1, "tiger")]}, {PET.table_id: [(10, 1, "cat")]})
    assert plan.eval_delta(state, delta) == ([], [])
    # Moving a pet to Cy: Ann loses one copy, Cy gains one.
    delta = state.commit({PET.table_id: [(11, 3, "dog")]}, {PET.table_id: [(11, 1, "dog")]})
    assert plan.eval_delta(state, delta) == ([(3, "Cy", 50)], [(1, "Ann", 30)])


def test_self_join_needs_aliases() -> None:
    with pytest.raises(SqlUnresolvedError, match="Duplicate name `pet`"):
        compile_subscription("SELECT pet.* FROM pet JOIN pet ON pet.id = pet.person_id", catalog())
    plan = compile_subscription("SELECT a.* FROM pet a JOIN pet b ON a.person_id = b.person_id", catalog())
    state = people_and_pets()
    assert Counter(plan.initial_rows(state)) == Counter(
        {(10, 1, "cat"): 2, (11, 1, "dog"): 2, (12, 2, "cat"): 1}
    )


def test_join_rules() -> None:
    cat = catalog()
    with pytest.raises(SqlUnsupportedError, match="SELECT \\* is not supported for joins"):
        compile_subscription("SELECT * FROM person JOIN pet ON person.id = pet.person_id", cat)
    with pytest.raises(SqlUnsupportedError, match="Names must be qualified"):
        compile_subscription(
            "SELECT person.* FROM person JOIN pet ON person.id = pet.person_id WHERE age = 1", cat
        )
    with pytest.raises(SqlPlanError, match=r"require indexes on join columns.*plain_b\.k"):
        compile_subscription("SELECT plain_a.* FROM plain_a JOIN plain_b ON plain_a.k = plain_b.k", cat)
    with pytest.raises(SqlPlanError, match="Invalid number of tables"):
        compile_subscription("SELECT a.* FROM pet a JOIN pet b ON a.id = b.id JOIN pet c ON b.id = c.id", cat)
    with pytest.raises(SqlPlanError, match="Event tables"):
        compile_subscription("SELECT person.* FROM person JOIN events ON person.id = events.person_id", cat)


def test_private_tables_and_unknown_names() -> None:
    cat = catalog()
    with pytest.raises(SqlUnresolvedError, match="no such table: `secret`"):
        compile_subscription("SELECT * FROM secret", cat)
    assert compile_subscription("SELECT * FROM secret", cat, is_owner=True).return_table is SECRET
    with pytest.raises(SqlUnresolvedError, match="`person` does not have a field `nope`"):
        compile_subscription("SELECT * FROM person WHERE nope = 1", cat)
    with pytest.raises(SqlUnresolvedError, match="`x` is not in scope"):
        compile_subscription("SELECT * FROM person WHERE x.id = 1", cat)


def test_sender_is_the_callers_identity() -> None:
    me, other = Identity(7), Identity(8)
    state = FakeState(ALL)
    state.commit({SECRET.table_id: [(1, me), (2, other)]})
    plan = compile_subscription(
        "SELECT * FROM secret WHERE owner = :sender", catalog(), sender=me, is_owner=True
    )
    assert plan.uses_sender and plan.initial_rows(state) == [(1, me)]
    plan2 = compile_subscription(
        "SELECT * FROM secret WHERE owner = :sender", catalog(), sender=other, is_owner=True
    )
    assert plan.key != plan2.key


def test_keys_ignore_spelling() -> None:
    cat = catalog()
    a = compile_subscription("SELECT * FROM person WHERE age > 3", cat)
    b = compile_subscription('select * from "person" where "person"."age" > 3 ;', cat)
    c = compile_subscription("SELECT * FROM person WHERE 3 < age", cat)
    assert a.key == b.key == c.key
    assert a.key != compile_subscription("SELECT * FROM person WHERE age > 4", cat).key


def test_subscribe_all() -> None:
    assert is_subscribe_all("select * from * ;") and not is_subscribe_all("SELECT * FROM t")
    names = [p.return_table_name for p in compile_all_tables(catalog())]
    assert "secret" not in names and "person" in names
    assert "secret" in [p.return_table_name for p in compile_all_tables(catalog(), is_owner=True)]


# ---- the property: initial(before) + delta == initial(after), with no scans where indexes exist ----

A = make_table(20, "a", [("id", U32), ("k", U32), ("v", U32)], indexed=("k",))
B = make_table(21, "b", [("id", U32), ("k", U32), ("v", U32)], indexed=("k",))
B_NO_INDEX = make_table(22, "c", [("id", U32), ("k", U32), ("v", U32)])
PROP_TABLES = [A, B, B_NO_INDEX]

QUERIES = [
    "SELECT * FROM a",
    "SELECT * FROM a WHERE v < 2",
    "SELECT * FROM a WHERE v = 1 OR (k >= 2 AND id != 3)",
    "SELECT a.* FROM a JOIN b ON a.k = b.k",
    "SELECT b.* FROM a JOIN b ON a.k = b.k",
    "SELECT a.* FROM a JOIN b ON a.k = b.k WHERE b.v > 1",
    "SELECT a.* FROM a JOIN b ON a.k = b.k WHERE a.v = 0 OR b.v = 0",
    "SELECT b.* FROM a JOIN b ON a.k = b.k WHERE a.v < b.v AND b.id <> 2",
    "SELECT x.* FROM a x JOIN a y ON x.k = y.k WHERE y.v = 1",
    "SELECT y.* FROM a x JOIN a y ON x.k = y.k WHERE x.id < y.id",
    "SELECT a.* FROM a JOIN c ON a.k = c.k WHERE c.v >= 1",
    "SELECT c.* FROM c JOIN a ON c.k = a.k",
    # Constants on the join column carry over to the other side (and make the plan routable).
    "SELECT a.* FROM a JOIN b ON a.k = b.k WHERE a.k = 1",
    "SELECT b.* FROM a JOIN b ON a.k = b.k WHERE b.k = 2 AND a.v <> 1",
    "SELECT a.* FROM a JOIN b ON a.k = b.k WHERE a.id = 2 AND b.v = 1",
    "SELECT x.* FROM a x JOIN a y ON x.k = y.k WHERE x.k = 2",
    "SELECT x.* FROM a x JOIN a y ON x.k = y.v WHERE x.k = 1 AND y.id = 3",
]

FROMS = [
    # (FROM clause, projected alias, aliases usable in WHERE; None = unqualified single table)
    ("a", "*", [None]),
    ("b", "*", [None]),
    ("a JOIN b ON a.k = b.k", "a.*", ["a", "b"]),
    ("a JOIN b ON a.k = b.k", "b.*", ["a", "b"]),
    ("b JOIN a ON b.v = a.k", "b.*", ["a", "b"]),
    ("a x JOIN a y ON x.k = y.k", "y.*", ["x", "y"]),
    ("a x JOIN a y ON x.v = y.k", "x.*", ["x", "y"]),
    ("a JOIN c ON a.k = c.k", "c.*", ["a", "c"]),
]


@st.composite
def random_query(draw: st.DrawFn) -> str:
    from_clause, proj, aliases = draw(st.sampled_from(FROMS))

    def col() -> str:
        alias = draw(st.sampled_from(aliases))
        name = draw(st.sampled_from(["id", "k", "v"]))
        return name if alias is None else f"{alias}.{name}"

    def pred(depth: int) -> str:
        if depth == 0 or draw(st.booleans()):
            op = draw(st.sampled_from(["=", "<>", "!=", "<", "<=", ">", ">="]))
            rhs = col() if draw(st.integers(0, 4)) == 0 else str(draw(st.integers(0, 4)))
            return f"{col()} {op} {rhs}"
        return f"({pred(depth - 1)} {draw(st.sampled_from(['AND', 'OR']))} {pred(depth - 1)})"

    where = f" WHERE {pred(2)}" if draw(st.booleans()) else ""
    return f"SELECT {proj} FROM {from_clause}{where}"


small = st.integers(0, 3)
row_st = st.tuples(st.integers(0, 5), small, small)
table_st = st.sampled_from([A.table_id, B.table_id, B_NO_INDEX.table_id])
tx_st = st.lists(st.tuples(st.booleans(), table_st, row_st), max_size=8)


def bag(rows: list[Row]) -> Counter[Row]:
    return Counter(rows)


@settings(max_examples=300, deadline=None)
@given(
    query=st.one_of(st.sampled_from(QUERIES), random_query()),
    initial=st.lists(st.tuples(table_st, row_st), max_size=14),
    txs=st.lists(tx_st, min_size=1, max_size=3),
)
def test_delta_matches_recomputation(query: str, initial: list[tuple[int, Row]], txs: list) -> None:
    cat = Catalog(PROP_TABLES)
    state = FakeState(PROP_TABLES)
    seed: dict[int, list[Row]] = {}
    for tid, row in initial:
        seed.setdefault(tid, []).append(row)
    state.commit(seed)
    plan = compile_subscription(query, cat)
    current = bag(plan.initial_rows(state))
    for tx in txs:
        inserts: dict[int, list[Row]] = {}
        deletes: dict[int, list[Row]] = {}
        existing = {tid: list(rows) for tid, rows in state.rows.items()}
        for is_insert, tid, row in tx:
            if is_insert:
                inserts.setdefault(tid, []).append(row)
            elif existing[tid]:  # delete an existing row, chosen by the random row's id
                deletes.setdefault(tid, []).append(existing[tid][row[0] % len(existing[tid])])
        delta = state.commit(inserts, deletes)
        state.calls.clear()
        ins, dels = plan.eval_delta(state, delta)
        # Delta evaluation never scans a table, except a join side without an index on its join column.
        unindexed: set[int] = set()
        if isinstance(plan, SemiJoinPlan):
            if not plan.lhs_indexed:
                unindexed.add(plan.lhs.table_id)
            if not plan.rhs_indexed:
                unindexed.add(plan.rhs.table_id)
        for tid in plan.tables_read - unindexed:
            assert state.calls["scan", tid] == 0, (query, state.calls)
        after = bag(plan.initial_rows(state))
        removed = bag(dels)
        assert not (removed - (current + bag(ins))), "deleted rows that were not in the result"
        assert current + bag(ins) - removed == after, (query, delta)
        # Netting: nothing is both inserted and deleted.
        assert not (set(ins) & set(dels))
        current = after


def test_plans_read_engine_state_and_tx_deltas() -> None:
    from spacetimedb.engine import Database

    db = Database(ALL)
    plan = compile_subscription(
        "SELECT pet.* FROM person JOIN pet ON person.id = pet.person_id WHERE person.age > 35", catalog()
    )
    tx = db.begin()
    tx.insert(PERSON.table_id, (1, "Ann", 30))
    tx.insert(PERSON.table_id, (2, "Bob", 40))
    tx.insert(PET.table_id, (10, 1, "cat"))
    delta = tx.commit()
    assert plan.eval_delta(db, delta) == ([], [])
    tx = db.begin()
    tx.insert(PET.table_id, (11, 2, "dog"))
    tx.update(PERSON.primary_index.index_id, (1, "Ann", 36))  # type: ignore[union-attr]
    delta = tx.commit()
    ins, dels = plan.eval_delta(db, delta)
    assert sorted(ins) == [(10, 1, "cat"), (11, 2, "dog")] and dels == []
    assert sorted(plan.initial_rows(db)) == sorted(ins)
    # The same delta by table id, as a plain mapping of (inserts, deletes) pairs.
    by_id = {tid: (d.inserts, d.deletes) for tid, d in delta.tables.items()}
    assert sorted(plan.eval_delta(db, by_id)[0]) == sorted(ins)


@pytest.mark.parametrize(
    "sql",
    [
        # Shapes the TypeScript query builder emits (`lib/query.ts`: quoted names, parenthesised
        # clauses, `<>`, `0x` hex for Identity/Uuid, ISO timestamps with milliseconds).
        'SELECT "pet".* FROM "person" JOIN "pet" ON "person"."id" = "pet"."person_id" '
        'WHERE (("person"."age" > 18) AND ("person"."name" <> \'x\')) AND ("pet"."species" = \'cat\')',
        'SELECT * FROM "types" WHERE ("types"."ts" >= \'2025-02-10T15:45:30.000Z\') '
        'OR ("types"."uid" = 0x0123456789abcdef0123456789abcdef)',
        'SELECT * FROM "types" WHERE ("types"."f64" = 1e+21) OR ("types"."i64" = -5) OR ("types"."b" = FALSE)',
        'SELECT * FROM "types" WHERE "types"."ident" = 0x' + "ab" * 32,
    ],
)
def test_query_builder_shapes_compile(sql: str) -> None:
    assert compile_subscription(sql, catalog()).return_table.name in ("pet", "types")
