"""Differential test: the documented SQL subset (docs/sql.md) against SQLite on the same data.

Random rows with boundary values, random WHERE trees (AND/OR, parentheses, every comparison
operator, column-column and column-literal comparisons, bool columns, TRUE/FALSE), projections,
COUNT(*), inner and cross joins, self-joins, ORDER BY ... LIMIT; each query's result must equal
SQLite's as a multiset. Subscription plans (`initial_rows`) are checked the same way. Seeded, so a
failure names its query and repeats; bounded to a few seconds.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from typing import Any

import pytest

from spacetimedb.engine import Database
from spacetimedb.query.adhoc import execute_sql
from spacetimedb.query.catalog import Catalog
from spacetimedb.query.subscription import compile_subscription
from spacetimedb.sats.algebraic_type import BOOL, F64, I32, I64, STRING, U32

from .fakes import make_table

A = make_table(1, "a", [("id", U32), ("k", I32), ("s", STRING), ("f", F64), ("b", BOOL)], primary_key="id", indexed=("id",))
B = make_table(2, "b", [("id", U32), ("k", I32), ("v", I64)], primary_key="id", indexed=("id", "k"))
TABLES = {"a": A, "b": B}
TYPES = {"id": "u32", "k": "i32", "s": "str", "f": "f64", "b": "bool", "v": "i64"}

I32_EDGES = [-(2**31), -(2**31) + 1, -1, 0, 1, 2, 7, 2**31 - 2, 2**31 - 1]
I64_EDGES = [-(2**63), -1, 0, 1, 2**31, 2**63 - 1]
U32_EDGES = [0, 1, 2**31, 2**32 - 1]
STRS = ["", "a", "A", "ab", "b", "O'Brien", "é", "z" * 20, " a", "0", "10", "9"]
FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 1.5, -2.25, 1e-300, -1e300, 1e300, 3.0, 1e3]


def _value(rng: random.Random, ty: str) -> Any:
    if ty == "i32":
        return rng.choice(I32_EDGES) if rng.random() < 0.5 else rng.randint(-3, 3)
    if ty == "i64":
        return rng.choice(I64_EDGES) if rng.random() < 0.5 else rng.randint(-3, 3)
    if ty == "u32":
        return rng.choice(U32_EDGES) if rng.random() < 0.5 else rng.randint(0, 5)
    if ty == "str":
        return rng.choice(STRS)
    if ty == "f64":
        return rng.choice(FLOATS)
    return rng.random() < 0.5


def _literal(value: Any, ty: str) -> str:
    if ty == "bool":
        return "TRUE" if value else "FALSE"
    if ty == "str":
        return "'" + value.replace("'", "''") + "'"
    if ty == "f64":
        return repr(float(value))  # `-0.0`, `1e-300`, `1e+300` are SQL numbers too
    return str(value)


def _rows(rng: random.Random) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    a_ids = [*rng.sample(range(0, 200), 30), 2**32 - 1]
    a = [(i, _value(rng, "i32"), _value(rng, "str"), _value(rng, "f64"), _value(rng, "bool")) for i in a_ids]
    b_ids = rng.sample(range(0, 200), 30)
    # Join keys drawn from a's, so joins match often.
    b = [(i, rng.choice(a)[1] if rng.random() < 0.7 else _value(rng, "i32"), _value(rng, "i64")) for i in b_ids]
    return a, b


class Gen:
    def __init__(self, rng: random.Random, aliases: dict[str, str], rows: dict[str, list[tuple[Any, ...]]]) -> None:
        self.rng = rng
        self.aliases = aliases  # alias -> table name
        self.rows = rows

    def column(self, ty: str | None = None) -> tuple[str, str, str]:
        """(qualified name, type, alias) of a random column (of type `ty`)."""
        options = [
            (alias, col.name, TYPES[col.name])
            for alias, table in self.aliases.items()
            for col in TABLES[table].columns
            if ty is None or TYPES[col.name] == ty
        ]
        alias, name, cty = self.rng.choice(options)
        return f"{alias}.{name}", cty, alias

    def literal_for(self, alias: str, col: str, ty: str) -> str:
        table = TABLES[self.aliases[alias]]
        pos = [c.name for c in table.columns].index(col)
        if self.rng.random() < 0.6 and self.rows[self.aliases[alias]]:
            value = self.rng.choice(self.rows[self.aliases[alias]])[pos]  # a value that occurs
        else:
            value = _value(self.rng, ty)
        return _literal(value, ty)

    def compare(self) -> str:
        rng = self.rng
        name, ty, alias = self.column()
        if ty == "bool" and rng.random() < 0.3:
            return name
        op = rng.choice(["=", "!=", "<>", "<", "<=", ">", ">="])
        if rng.random() < 0.25:
            other, _, _ = self.column(ty)
            return f"{name} {op} {other}"
        lit = self.literal_for(alias, name.split(".")[1], ty)
        if rng.random() < 0.2:  # literal on the left
            flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
            return f"{lit} {flipped} {name}"
        return f"{name} {op} {lit}"

    def predicate(self, depth: int = 0) -> str:
        rng = self.rng
        r = rng.random()
        if depth >= 3 or r < 0.4:
            if rng.random() < 0.05:
                return rng.choice(["TRUE", "FALSE"])
            return self.compare()
        op = rng.choice(["AND", "OR"])
        terms = [self.predicate(depth + 1) for _ in range(rng.randint(2, 4))]
        text = f" {op} ".join(terms)
        return f"({text})" if rng.random() < 0.7 else text


def _sqlite(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> sqlite3.Connection:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE a (id INTEGER, k INTEGER, s TEXT, f REAL, b BOOLEAN)")
    con.execute("CREATE TABLE b (id INTEGER, k INTEGER, v INTEGER)")
    con.executemany("INSERT INTO a VALUES (?, ?, ?, ?, ?)", a)
    con.executemany("INSERT INTO b VALUES (?, ?, ?)", b)
    return con


def _norm(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # SQLite gives bools back as 0/1 and -0.0 as 0.0 (equal either way).
    return tuple(int(v) if isinstance(v, bool) else v for v in row)


def _queries(rng: random.Random, rows: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    """Random queries of the /sql grammar over tables a and b."""
    out: list[str] = []
    for _ in range(120):
        shape = rng.choice(["single", "single", "inner", "self", "cross", "three"])
        if shape == "single":
            aliases = {"t": rng.choice(["a", "b"])}
            frm = f"{aliases['t']} t"
        elif shape == "inner":
            aliases, frm = {"x": "a", "y": "b"}, "a x JOIN b y ON x.k = y.k"
        elif shape == "self":
            aliases, frm = {"x": "b", "y": "b"}, "b x JOIN b y ON x.k = y.k"
        elif shape == "cross":
            aliases, frm = {"x": "a", "y": "b"}, "a x JOIN b y"
        else:
            aliases, frm = {"x": "a", "y": "b", "z": "b"}, "a x JOIN b y ON x.k = y.k JOIN b z ON z.k = y.k"
        gen = Gen(rng, aliases, rows)
        where = f" WHERE {gen.predicate()}" if rng.random() < 0.85 else ""
        proj_kind = rng.random()
        if proj_kind < 0.2:
            out.append(f"SELECT COUNT(*) AS n FROM {frm}{where}")
            continue
        first = next(iter(aliases))
        if proj_kind < 0.5:
            if len(aliases) == 1:
                out.append(f"SELECT * FROM {frm}{where}")
                continue
            cols = ", ".join(f"{first}.{c.name}" for c in TABLES[aliases[first]].columns)
            out.append(f"SELECT {first}.* FROM {frm}{where} /*{cols}*/")
            continue
        cols = [gen.column()[0] for _ in range(rng.randint(1, 3))]
        proj = ", ".join(f"{c} AS c{i}" for i, c in enumerate(cols))
        if rng.random() < 0.3:
            keys = ", ".join(f"{alias}.id" for alias in aliases)  # a total order: LIMIT is deterministic
            out.append(f"SELECT {proj} FROM {frm}{where} ORDER BY {keys} LIMIT {rng.randint(0, 5)}")
        else:
            out.append(f"SELECT {proj} FROM {frm}{where}")
    return out


def _sqlite_text(query: str) -> str:
    """Our SQL to SQLite's: `t.*` of a join becomes its column list (kept in a trailing comment)."""
    if "/*" in query:
        head, cols = query.split("/*")
        star = head.split("SELECT ")[1].split(" FROM")[0]
        return head.replace(f"SELECT {star}", f"SELECT {cols.rstrip('*/')}", 1)
    return query


@pytest.mark.parametrize("seed", range(4))
def test_adhoc_sql_agrees_with_sqlite(seed: int) -> None:
    rng = random.Random(seed)
    a, b = _rows(rng)
    db = Database([A, B])
    tx = db.begin()
    for row in a:
        tx.insert(A.table_id, row)
    for row in b:
        tx.insert(B.table_id, row)
    tx.commit()
    catalog = Catalog([A, B])
    con = _sqlite(a, b)
    for query in _queries(rng, {"a": a, "b": b}):
        ours_text = query.split("/*")[0].rstrip()
        [ours] = execute_sql(ours_text, catalog, db, row_budget=10**7)
        theirs = con.execute(_sqlite_text(query)).fetchall()
        assert Counter(map(_norm, ours.rows)) == Counter(map(_norm, theirs)), query
        if "ORDER BY" in query:
            assert [_norm(r) for r in ours.rows] == [_norm(r) for r in theirs], query


@pytest.mark.parametrize("seed", range(3))
def test_subscription_initial_rows_agree_with_sqlite(seed: int) -> None:
    rng = random.Random(1000 + seed)
    a, b = _rows(rng)
    db = Database([A, B])
    tx = db.begin()
    for row in a:
        tx.insert(A.table_id, row)
    for row in b:
        tx.insert(B.table_id, row)
    tx.commit()
    catalog = Catalog([A, B])
    con = _sqlite(a, b)
    rows = {"a": a, "b": b}
    for _ in range(60):
        if rng.random() < 0.5:
            table = rng.choice(["a", "b"])
            where = Gen(rng, {table: table}, rows).predicate()
            query = f"SELECT * FROM {table} WHERE {where}"
            theirs_text = query
        else:
            where = Gen(rng, {"x": "a", "y": "b"}, rows).predicate()
            ret = rng.choice(["x", "y"])
            query = f"SELECT {ret}.* FROM a x JOIN b y ON x.k = y.k WHERE {where}"
            cols = ", ".join(f"{ret}.{c.name}" for c in TABLES["a" if ret == "x" else "b"].columns)
            theirs_text = f"SELECT {cols} FROM a x JOIN b y ON x.k = y.k WHERE {where}"
        plan = compile_subscription(query, catalog)
        ours = plan.initial_rows(db)
        theirs = con.execute(theirs_text).fetchall()
        assert Counter(map(_norm, ours)) == Counter(map(_norm, theirs)), query


@pytest.mark.parametrize("seed", range(2))
def test_dml_agrees_with_sqlite(seed: int) -> None:
    """UPDATE and DELETE with random filters (the owner's DML) leave the same tables as SQLite."""
    rng = random.Random(2000 + seed)
    a, b = _rows(rng)
    db = Database([A, B])
    tx = db.begin()
    for row in a:
        tx.insert(A.table_id, row)
    for row in b:
        tx.insert(B.table_id, row)
    tx.commit()
    catalog = Catalog([A, B])
    con = _sqlite(a, b)
    for _ in range(40):
        table = rng.choice(["a", "b"])
        rows = {"a": [tuple(r) for r in db.scan(A.table_id)], "b": [tuple(r) for r in db.scan(B.table_id)]}
        where = Gen(rng, {table: table}, rows).predicate().replace(f"{table}.", "")
        if rng.random() < 0.3:
            query = f"DELETE FROM {table} WHERE {where}"
        else:
            col = rng.choice([c for c in TABLES[table].columns if c.name != "id"])
            value = _literal(_value(rng, TYPES[col.name]), TYPES[col.name])
            query = f"UPDATE {table} SET {col.name} = {value} WHERE {where}"
        tx = db.begin()
        execute_sql(query, catalog, tx, is_owner=True)
        tx.commit()
        con.execute(query)
        for name, schema in TABLES.items():
            ours = Counter(map(_norm, db.scan(schema.table_id)))
            theirs = Counter(map(_norm, con.execute(f"SELECT * FROM {name}").fetchall()))
            assert ours == theirs, query
