from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb.module.datastore import Row
from spacetimedb.query.catalog import Catalog
from spacetimedb.query.query_registry import QueryRegistry
from spacetimedb.sats.special import Identity

from .fakes import FakeState
from .schemas import ALL, PERSON, PET, SECRET, catalog
from .test_subscription import PROP_TABLES, QUERIES, row_st, table_st


def test_identical_queries_share_one_plan() -> None:
    reg = QueryRegistry(catalog())
    a_id, a = reg.add("SELECT * FROM person WHERE age > 3")
    b_id, b = reg.add('select * from "person" where 3 < "person"."age";')
    assert a_id == b_id and a is b and reg.refs(a_id) == 2 and len(reg) == 1
    c_id, _ = reg.add("SELECT * FROM person WHERE age > 4")
    assert c_id != a_id and len(reg) == 2
    assert reg.remove(a_id) is False
    assert reg.remove(a_id) is True and len(reg) == 1
    with pytest.raises(KeyError):
        reg.remove(a_id)


def test_sender_queries_are_per_identity() -> None:
    reg = QueryRegistry(catalog())
    sql = "SELECT * FROM secret WHERE owner = :sender"
    one, _ = reg.add(sql, sender=Identity(1), is_owner=True)
    two, _ = reg.add(sql, sender=Identity(2), is_owner=True)
    again, _ = reg.add(sql, sender=Identity(1), is_owner=True)
    assert one != two and one == again
    state = FakeState(ALL)
    delta = state.commit({SECRET.table_id: [(5, Identity(2))]})
    assert reg.evaluate(delta, state) == {two: ([(5, Identity(2))], [])}


def test_evaluate_only_touched_and_changed_plans() -> None:
    reg = QueryRegistry(catalog())
    state = FakeState(ALL)
    person_plan, _ = reg.add("SELECT * FROM person")
    routed, _ = reg.add("SELECT * FROM person WHERE id = 2")
    routed_miss, _ = reg.add("SELECT * FROM person WHERE id = 3 AND age > 100")
    pet_plan, _ = reg.add("SELECT * FROM pet")
    joined, _ = reg.add("SELECT person.* FROM person JOIN pet ON person.id = pet.person_id")
    delta = state.commit({PERSON.table_id: [(2, "Bob", 40), (3, "Cy", 50)]})
    out = reg.evaluate(delta, state)
    assert set(out) == {person_plan, routed}
    assert out[routed] == ([(2, "Bob", 40)], [])
    assert routed_miss not in out and pet_plan not in out and joined not in out
    delta = state.commit({PET.table_id: [(9, 2, "cat")]})
    out = reg.evaluate(delta, state)
    assert out == {pet_plan: ([(9, 2, "cat")], []), joined: ([(2, "Bob", 40)], [])}


@settings(max_examples=60, deadline=None)
@given(
    queries=st.lists(
        st.sampled_from(
            [
                *QUERIES,
                "SELECT * FROM a WHERE k = 1",
                "SELECT * FROM a WHERE k = 2 AND v > 0",
                "SELECT * FROM b WHERE id = 3",
            ]
        ),
        min_size=1,
        max_size=8,
    ),
    initial=st.lists(st.tuples(table_st, row_st), max_size=10),
    tx=st.lists(st.tuples(st.booleans(), table_st, row_st), max_size=8),
)
def test_registry_agrees_with_each_plan(
    queries: list[str], initial: list[tuple[int, Row]], tx: list[tuple[bool, int, Row]]
) -> None:
    reg = QueryRegistry(Catalog(PROP_TABLES))
    state = FakeState(PROP_TABLES)
    seed: dict[int, list[Row]] = {}
    for tid, row in initial:
        seed.setdefault(tid, []).append(row)
    state.commit(seed)
    ids = {reg.add(q)[0] for q in queries}
    assert len(reg) == len(set(queries)) == len(ids)
    inserts: dict[int, list[Row]] = {}
    deletes: dict[int, list[Row]] = {}
    for is_insert, tid, row in tx:
        (inserts if is_insert else deletes).setdefault(tid, []).append(row)
    delta = state.commit(inserts, deletes)
    out = reg.evaluate(delta, state)
    for pid in ids:
        ins, dels = reg.get(pid).eval_delta(state, delta)
        expected = (sorted(ins), sorted(dels))
        got = out.get(pid, ([], []))
        assert (sorted(got[0]), sorted(got[1])) == expected
