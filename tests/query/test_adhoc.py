from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb.engine import Database
from spacetimedb.module.datastore import Row
from spacetimedb.query.adhoc import execute_sql
from spacetimedb.query.catalog import Catalog
from spacetimedb.query.errors import (
    SqlExecutionError,
    SqlPermissionError,
    SqlTypeError,
    SqlUnresolvedError,
    SqlUnsupportedError,
)
from spacetimedb.query.subscription import compile_subscription
from spacetimedb.sats.algebraic_type import STRING, U8, U32, U64, ProductType, ProductTypeElement

from .fakes import FakeState
from .schemas import ALL, PERSON, PET, catalog
from .test_subscription import PROP_TABLES, random_query, row_st, table_st


@pytest.fixture
def db() -> Database:
    db = Database(ALL)
    tx = db.begin()
    for row in [(1, "Ann", 30), (2, "Bob", 40), (3, "Cy", 50)]:
        tx.insert(PERSON.table_id, row)
    for row in [(10, 1, "cat"), (11, 1, "dog"), (12, 2, "cat")]:
        tx.insert(PET.table_id, row)
    tx.commit()
    return db


def one(sql: str, db: Database, **kw: object):  # type: ignore[no-untyped-def]
    [result] = execute_sql(sql, catalog(), db, **kw)  # type: ignore[arg-type]
    return result


def test_select_star_and_schema(db: Database) -> None:
    r = one("SELECT * FROM person WHERE age > 35", db)
    assert r.schema == PERSON.row_type
    assert sorted(r.rows) == [(2, "Bob", 40), (3, "Cy", 50)]
    assert r.total_duration_micros >= 0 and r.stats.rows_inserted == 0


def test_projection_aliases_order_limit(db: Database) -> None:
    r = one("SELECT name AS who, age FROM person ORDER BY age DESC LIMIT 2", db)
    assert r.schema == ProductType((ProductTypeElement("who", STRING), ProductTypeElement("age", U8)))
    assert r.rows == [("Cy", 50), ("Bob", 40)]


def test_count(db: Database) -> None:
    r = one("SELECT COUNT(*) AS n FROM pet WHERE species = 'cat'", db)
    assert r.schema == ProductType((ProductTypeElement("n", U64),))
    assert r.rows == [(2,)]


def test_joins_multi_table(db: Database) -> None:
    r = one(
        "SELECT p.name, q.species AS kind FROM person p JOIN pet q ON p.id = q.person_id "
        "WHERE q.species = 'cat' ORDER BY p.name",
        db,
    )
    assert r.rows == [("Ann", "cat"), ("Bob", "cat")]
    three = one(
        "SELECT c.id FROM person a JOIN pet b ON a.id = b.person_id JOIN pet c ON b.person_id = c.person_id "
        "WHERE a.name = 'Ann' ORDER BY c.id",
        db,
    )
    assert three.schema.elements[0].algebraic_type == U32
    assert three.rows == [(10,), (10,), (11,), (11,)]
    with pytest.raises(SqlUnsupportedError, match="SELECT \\* is not supported for joins"):
        one("SELECT * FROM person JOIN pet ON person.id = pet.person_id", db)


def test_dml_is_for_the_owner(db: Database) -> None:
    tx = db.begin()
    with pytest.raises(SqlPermissionError):
        execute_sql("DELETE FROM person", catalog(), tx)
    tx.rollback()


def test_insert_update_delete_through_a_transaction(db: Database) -> None:
    tx = db.begin()
    [ins] = execute_sql(
        "INSERT INTO person (name, id, age) VALUES ('Di', 4, 20), ('Ed', 5, 21)", catalog(), tx, is_owner=True
    )
    assert ins.stats.rows_inserted == 2 and ins.rows == [] and ins.schema == ProductType(())
    [upd] = execute_sql(
        "UPDATE person SET age = 99 WHERE name = 'Ann' OR id = 5", catalog(), tx, is_owner=True
    )
    assert upd.stats.rows_updated == 2
    [dele] = execute_sql("DELETE FROM pet WHERE person_id = 1", catalog(), tx, is_owner=True)
    assert dele.stats.rows_deleted == 2
    delta = tx.commit()
    person = delta.tables[PERSON.table_id]
    assert sorted(person.inserts) == [(1, "Ann", 99), (4, "Di", 20), (5, "Ed", 99)]
    assert sorted(person.deletes) == [(1, "Ann", 30)]
    assert sorted(delta.tables[PET.table_id].deletes) == [(10, 1, "cat"), (11, 1, "dog")]


def test_dml_errors(db: Database) -> None:
    tx = db.begin()
    with pytest.raises(SqlExecutionError, match="unique"):
        execute_sql("INSERT INTO person VALUES (1, 'Dup', 1)", catalog(), tx, is_owner=True)
    with pytest.raises(SqlUnresolvedError, match="number of fields"):
        execute_sql("INSERT INTO person (id, name) VALUES (9, 'x')", catalog(), tx, is_owner=True)
    with pytest.raises(SqlUnresolvedError, match="with 2 values"):
        execute_sql("INSERT INTO person VALUES (9, 'x')", catalog(), tx, is_owner=True)
    with pytest.raises(SqlTypeError, match="out of bounds"):
        execute_sql("UPDATE person SET age = 300", catalog(), tx, is_owner=True)
    tx.rollback()


@settings(max_examples=100, deadline=None)
@given(query=random_query(), initial=st.lists(st.tuples(table_st, row_st), max_size=14))
def test_adhoc_select_agrees_with_subscription_initial_rows(
    query: str, initial: list[tuple[int, Row]]
) -> None:
    """Two separate evaluation paths (ad-hoc joins and subscription plans) give the same bag."""
    cat = Catalog(PROP_TABLES)
    state = FakeState(PROP_TABLES)
    seed: dict[int, list[Row]] = {}
    for tid, row in initial:
        seed.setdefault(tid, []).append(row)
    state.commit(seed)
    [result] = execute_sql(query, cat, state)
    assert Counter(result.rows) == Counter(compile_subscription(query, cat).initial_rows(state))
    [count] = execute_sql(query.replace(query.split(" FROM ")[0], "SELECT COUNT(*) AS n", 1), cat, state)
    assert count.rows == [(len(result.rows),)]
