"""Query cost and shape limits: nesting depth, long OR chains, query length, the row budget, LIMIT
pushed down into evaluation, and ON typed like WHERE (issue 10, findings 4 and 5)."""

from __future__ import annotations

import sys

import pytest

from spacetimedb.engine import Database
from spacetimedb.query.adhoc import execute_sql
from spacetimedb.query.errors import SqlError, SqlLimitError, SqlTypeError
from spacetimedb.query.limits import MAX_JOIN_TABLES, MAX_SQL_DEPTH, MAX_SQL_LENGTH, RowBudget
from spacetimedb.query.parser import parse_sql
from spacetimedb.query.subscription import compile_subscription

from .fakes import FakeState
from .schemas import ALL, PERSON, PET, PLAIN_A, TYPES, catalog


def nested(n: int) -> str:
    return "SELECT * FROM person WHERE " + "(" * n + "age = 1" + ")" * n


@pytest.mark.parametrize("n", [MAX_SQL_DEPTH + 1, 60, 80, 500])
@pytest.mark.parametrize("mode", ["sql", "subscription"])
def test_deep_parentheses_are_a_positioned_limit_error(n: int, mode: str) -> None:
    with pytest.raises(SqlLimitError, match="nested too deeply") as e:
        parse_sql(nested(n), mode)  # type: ignore[arg-type]
    pos = e.value.position
    assert pos is not None and pos.line == 1
    assert pos.offset == len("SELECT * FROM person WHERE ") + MAX_SQL_DEPTH  # the first paren too many


def test_the_deepest_allowed_nesting_parses_even_from_a_deep_stack() -> None:
    # The worker runs queries some frames down; the allowed depth must still fit in the stack.
    def at_depth(k: int) -> object:
        return at_depth(k - 1) if k else compile_subscription(nested(MAX_SQL_DEPTH), catalog())

    assert at_depth(sys.getrecursionlimit() // 4) is not None


@pytest.mark.parametrize(
    "where",
    [
        "NOT " * 2000 + "age = 1",  # nesting without parentheses: sqlglot recurses per NOT
        "- " * 2000 + "1 = age",
        "id IN (" + "SELECT id FROM person WHERE id IN (" * 31 + "SELECT id FROM person" + ")" * 32,
    ],
)
def test_nesting_the_depth_check_does_not_see_is_still_an_sql_error(where: str) -> None:
    for mode in ("sql", "subscription"):
        with pytest.raises(SqlError):  # never RecursionError
            parse_sql("SELECT * FROM person WHERE " + where, mode)  # type: ignore[arg-type]


def _db(rows: int = 3) -> Database:
    db = Database(ALL)
    tx = db.begin()
    for i in range(rows):
        tx.insert(PERSON.table_id, (i, f"p{i}", i % 200))
    tx.commit()
    return db


@pytest.mark.parametrize("n", [200, 1000, 2000])
def test_long_or_chains_evaluate(n: int) -> None:
    db = _db(50)
    where = " OR ".join(f"id = {i}" for i in range(0, n, 2))
    mixed = " OR ".join(f"(id = {i} AND age >= 0)" for i in range(0, n, 2))
    for text in (where, mixed):
        [res] = execute_sql(f"SELECT id FROM person WHERE {text}", catalog(), db)
        assert sorted(r[0] for r in res.rows) == list(range(0, 50, 2))
        plan = compile_subscription(f"SELECT * FROM person WHERE {text}", catalog())
        assert sorted(r[0] for r in plan.initial_rows(db)) == list(range(0, 50, 2))


def test_query_length_is_bounded_except_when_lifted() -> None:
    text = "SELECT * FROM person WHERE " + " OR ".join(f"id = {i}" for i in range(5000))
    assert len(text) > MAX_SQL_LENGTH
    with pytest.raises(SqlLimitError, match="too long"):
        compile_subscription(text, catalog())
    with pytest.raises(SqlLimitError, match="too long"):
        execute_sql(text, catalog(), _db())
    [res] = execute_sql(text, catalog(), _db(), max_length=None)
    assert len(res.rows) == 3


def test_join_on_option_columns_is_refused_like_where() -> None:
    where = "SELECT * FROM types WHERE opt = opt"
    on = "SELECT COUNT(*) AS n FROM types x JOIN types y ON x.opt = y.opt"
    state = FakeState(ALL)
    with pytest.raises(SqlTypeError, match="Invalid binary operator `=` for type `Option<U32>`"):
        execute_sql(where, catalog(), state)
    with pytest.raises(SqlTypeError, match="Invalid binary operator `=` for type `Option<U32>`") as e:
        execute_sql(on, catalog(), state)
    assert e.value.position is not None and e.value.position.col == on.index("x.opt") + 1
    with pytest.raises(SqlTypeError, match="Option<U32>"):
        compile_subscription("SELECT x.* FROM types x JOIN types y ON x.opt = y.opt", catalog())
    assert TYPES.columns[-1].name == "opt"


def _self_join_state(n: int) -> FakeState:
    state = FakeState(ALL)
    for i in range(n):
        state.rows[PLAIN_A.table_id][(i, 7)] = None  # every row has the same join key
        state.rows[PET.table_id][(i, 7, "cat")] = None
    return state


def test_limit_stops_a_join_early() -> None:
    state = _self_join_state(2000)
    budget = RowBudget(10**9)
    from spacetimedb.query.adhoc import run_select
    from spacetimedb.query.binder import Binder
    from spacetimedb.query.parser import parse_sql as parse

    stmt = parse("SELECT a.* FROM plain_a a JOIN plain_a b ON a.k = b.k LIMIT 1")
    select = Binder(catalog(), is_owner=False, sender=None).select(stmt)  # type: ignore[arg-type]
    res = run_select(select, catalog(), state, budget)
    assert len(res.rows) == 1
    assert budget.used <= 2 * 2000 + 10  # one scan of each side, not their 4,000,000-row product


def test_row_budget_stops_a_join_and_is_off_by_default() -> None:
    state = _self_join_state(1000)
    text = "SELECT COUNT(*) AS n FROM plain_a a JOIN plain_a b ON a.k = b.k"
    with pytest.raises(SqlLimitError, match="Query too expensive: it read or produced more than 50000 rows"):
        execute_sql(text, catalog(), state, row_budget=50_000)
    [res] = execute_sql(text, catalog(), state)
    assert res.rows == [(1_000_000,)]


def test_row_budget_bounds_subscription_initial_rows() -> None:
    state = _self_join_state(1000)
    plan = compile_subscription("SELECT a.* FROM pet a JOIN pet b ON a.person_id = b.person_id", catalog())
    with pytest.raises(SqlLimitError):
        plan.initial_rows(state, RowBudget(50_000))
    assert len(plan.initial_rows(state)) == 1_000_000
    single = compile_subscription("SELECT * FROM pet", catalog())
    with pytest.raises(SqlLimitError):
        single.initial_rows(state, RowBudget(999))
    assert len(single.initial_rows(state, RowBudget(1000))) == 1000


def test_long_predicates_weigh_more_in_the_budget() -> None:
    state = _self_join_state(1000)
    cheap = "SELECT * FROM pet WHERE id >= 0"
    costly = "SELECT * FROM pet WHERE " + " OR ".join(f"id > {i}" for i in range(800))
    in_like = "SELECT * FROM pet WHERE " + " OR ".join(f"id = {i}" for i in range(800))
    assert len(compile_subscription(cheap, catalog()).initial_rows(state, RowBudget(5000))) == 1000
    assert len(compile_subscription(in_like, catalog()).initial_rows(state, RowBudget(5000))) == 800
    with pytest.raises(SqlLimitError):
        compile_subscription(costly, catalog()).initial_rows(state, RowBudget(5000))


def test_in_like_or_chains_keep_their_meaning() -> None:
    db = _db(30)
    text = "SELECT id FROM person WHERE id = 1 OR id = 3 OR age = 5 OR id = 7 OR id = 9 OR name = 'p11' OR age = 13"
    [res] = execute_sql(text, catalog(), db)
    assert sorted(r[0] for r in res.rows) == [1, 3, 5, 7, 9, 11, 13]
    assert PERSON.name == "person"


def test_the_number_of_joined_tables_is_bounded() -> None:
    def joins(n: int) -> str:
        return "SELECT a0.* FROM person a0 " + " ".join(f"JOIN person a{i} ON a{i}.id = a{i - 1}.id" for i in range(1, n))

    db = _db(3)
    [res] = execute_sql(joins(MAX_JOIN_TABLES) + " LIMIT 1", catalog(), db)
    assert len(res.rows) == 1
    with pytest.raises(SqlLimitError, match=f"Too many tables in one query: {MAX_JOIN_TABLES + 1}") as e:
        execute_sql(joins(MAX_JOIN_TABLES + 1) + " LIMIT 1", catalog(), db)
    assert e.value.position is not None
    with pytest.raises(SqlLimitError):  # not a RecursionError of nested generators
        execute_sql(joins(1500) + " LIMIT 1", catalog(), db, max_length=None)
