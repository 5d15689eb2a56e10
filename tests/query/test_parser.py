from __future__ import annotations

import pytest

from spacetimedb.query import ast
from spacetimedb.query.errors import SqlSyntaxError, SqlUnsupportedError
from spacetimedb.query.parser import parse_sql


def sub(sql: str) -> ast.SelectStmt:
    stmt = parse_sql(sql, "subscription")
    assert isinstance(stmt, ast.SelectStmt)
    return stmt


def test_select_star() -> None:
    stmt = sub("SELECT * FROM person")
    assert stmt.projection == ast.Star(None, stmt.projection.pos)  # type: ignore[union-attr]
    assert stmt.from_table.name == "person" and stmt.from_table.alias == "person"


def test_ts_query_builder_quoted_forms() -> None:
    stmt = sub("""SELECT * FROM "person" WHERE "person"."name" = 'O''Brien'""")
    assert stmt.where == ast.Compare(
        "=",
        ast.ColumnRef("person", "name", stmt.where.left.pos),  # type: ignore[union-attr]
        ast.Lit("str", "O'Brien", stmt.where.right.pos),  # type: ignore[union-attr]
        stmt.where.pos,  # type: ignore[union-attr]
    )
    join = sub('SELECT "pet".* FROM "person" JOIN "pet" ON "person"."id" = "pet"."person_id"')
    assert isinstance(join.projection, ast.Star) and join.projection.table == "pet"
    assert join.joins[0].on is not None
    assert [c.column for c in join.joins[0].on] == ["id", "person_id"]


def test_trailing_semicolon_aliases_and_case_preserved() -> None:
    stmt = sub("SELECT P.* FROM Person AS P JOIN pet q ON P.id = q.person_id;")
    assert stmt.from_table == ast.TableRef("Person", "P", stmt.from_table.pos)
    assert stmt.joins[0].table.alias == "q"


def test_literals() -> None:
    stmt = sub("SELECT * FROM t WHERE a = -5 AND b = 1e3 AND c = .1 AND d = 0xAB AND e = X'CD' AND f = TRUE")
    assert isinstance(stmt.where, ast.Logic) and len(stmt.where.terms) == 6  # the AND chain is flat
    lits = [t.right for t in stmt.where.terms]  # type: ignore[union-attr]
    kinds = [(lit.kind, lit.text) for lit in lits]
    assert kinds[0] == ("num", "-5")
    assert kinds[1] == ("num", "1e3")
    assert kinds[2][0] == "num" and float(kinds[2][1]) == 0.1
    assert kinds[3:] == [("hex", "AB"), ("hex", "CD"), ("bool", "true")]


def test_sender_and_parentheses() -> None:
    stmt = sub("SELECT * FROM t WHERE (a = :sender OR b = 1) AND c != 2")
    assert isinstance(stmt.where, ast.Logic) and stmt.where.op == "and"
    assert ast.uses_sender(stmt.where)
    assert not ast.uses_sender(sub("SELECT * FROM t WHERE a <> 1").where)


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SELECT * FROM t WHERE NOT a = 1", "NOT"),
        ("SELECT * FROM t WHERE a IS NULL", "IS [NOT] NULL"),
        ("SELECT * FROM t WHERE a LIKE 'x%'", "LIKE"),
        ("SELECT * FROM t WHERE a IN (1, 2)", "IN"),
        ("SELECT * FROM t WHERE a + 1 = 2", "arithmetic"),
        ("SELECT * FROM t WHERE lower(a) = 'x'", "function calls"),
        ("SELECT a FROM t", "column projections"),
        ("SELECT COUNT(*) AS n FROM t", "column projections"),
        ("SELECT * FROM t LIMIT 5", "LIMIT"),
        ("SELECT * FROM t ORDER BY a", "ORDER BY"),
        ("SELECT DISTINCT * FROM t", "DISTINCT"),
        ("SELECT * FROM t GROUP BY a", "GROUP BY"),
        ("SELECT * FROM t, s", "implicit (comma) joins"),
        ("SELECT t.* FROM t LEFT JOIN s ON t.a = s.b", "non-inner joins"),
        ("SELECT t.* FROM t JOIN s ON t.a = s.b AND t.c = s.d", "join condition"),
        ("DELETE FROM t", "DELETE statements"),
        ("INSERT INTO t (a) VALUES (1)", "INSERT statements"),
        ("SELECT * FROM t UNION SELECT * FROM s", "set operations"),
        ("SELECT * FROM (SELECT * FROM t)", "FROM expression"),
        ("SELECT * FROM t WHERE a = $1", "parameter"),
    ],
)
def test_subscription_rejects(sql: str, fragment: str) -> None:
    with pytest.raises(SqlUnsupportedError) as info:
        parse_sql(sql, "subscription")
    assert fragment in str(info.value)
    assert "Unsupported in subscriptions" in str(info.value)


def test_error_positions_point_at_the_construct() -> None:
    with pytest.raises(SqlUnsupportedError) as info:
        parse_sql("SELECT * FROM t\nWHERE a = 1 AND b LIKE 'x'", "subscription")
    pos = info.value.position
    assert pos is not None and (pos.line, pos.col) == (2, 17)
    assert "line 2, column 17" in str(info.value)


def test_syntax_errors_name_line_and_column() -> None:
    with pytest.raises(SqlSyntaxError) as info:
        parse_sql("SELECT * FROM t WHERE a = = 1")
    assert info.value.position is not None and info.value.position.line == 1
    with pytest.raises(SqlSyntaxError, match="closing quote"):
        parse_sql("SELECT * FROM t WHERE a = 'abc")
    with pytest.raises(SqlSyntaxError, match="Empty SQL query"):
        parse_sql("  ;")
    with pytest.raises(SqlUnsupportedError, match="Multiple SQL statements"):
        parse_sql("SELECT * FROM t; SELECT * FROM s")


def test_sql_mode_accepts_projection_count_order_limit() -> None:
    stmt = parse_sql("SELECT a AS x, t.b FROM t WHERE a > 1 ORDER BY a DESC, b LIMIT 10")
    assert isinstance(stmt, ast.SelectStmt)
    assert isinstance(stmt.projection, tuple) and [p.alias for p in stmt.projection] == ["x", "b"]
    assert [(o.column.column, o.descending) for o in stmt.order_by] == [("a", True), ("b", False)]
    assert stmt.limit == 10
    count = parse_sql("SELECT COUNT(*) AS n FROM t")
    assert isinstance(count, ast.SelectStmt) and count.projection == ast.ProjCount("n")
    with pytest.raises(SqlUnsupportedError, match="column aliases"):
        parse_sql("SELECT COUNT(*) FROM t")
    with pytest.raises(SqlUnsupportedError, match="mixed wildcard"):
        parse_sql("SELECT *, a FROM t")


def test_sql_mode_dml() -> None:
    ins = parse_sql("INSERT INTO t (a, b) VALUES (1, 'x'), (-2, 'y')")
    assert isinstance(ins, ast.InsertStmt)
    assert ins.columns is not None and [c.column for c in ins.columns] == ["a", "b"]
    assert [[v.text for v in row] for row in ins.rows] == [["1", "x"], ["-2", "y"]]
    upd = parse_sql("UPDATE t SET a = 5, b = 'z' WHERE c = 1")
    assert isinstance(upd, ast.UpdateStmt) and [a[0].column for a in upd.assignments] == ["a", "b"]
    dele = parse_sql("DELETE FROM t WHERE a = 1")
    assert isinstance(dele, ast.DeleteStmt) and dele.where is not None
    with pytest.raises(SqlUnsupportedError, match="INSERT value"):
        parse_sql("INSERT INTO t (a) VALUES (b)")
