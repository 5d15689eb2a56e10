"""Full consistency check of a database's tables and indexes (for tests and debugging; O(rows))."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from spacetimedb.engine.index import Index, MultiIndex
from spacetimedb.engine.table import Table
from spacetimedb.module.datastore import Row

if TYPE_CHECKING:
    from spacetimedb.engine.database import Database


def check_invariants(db: Database) -> None:
    problems: list[str] = []
    for table in db._tables.values():
        problems.extend(_check_table(table))
    for index_id, (ix, table) in db._indexes.items():
        if ix.index_id != index_id or ix not in table.indexes:
            problems.append(f"index id {index_id} maps to the wrong index or table")
    if problems:
        raise AssertionError("engine invariants violated:\n  " + "\n  ".join(problems))


def _check_table(table: Table) -> list[str]:
    problems: list[str] = []
    rows = list(table.store.values())
    name = table.name
    for key, row in table.store.items():
        if type(row) is not tuple or len(row) != table.ncols:
            problems.append(f"{name}: stored row {row!r} is not a tuple of {table.ncols} values")
        if key != table.identity(row):
            problems.append(f"{name}: store key {key!r} is not the identity of its row {row!r}")
    if table.primary is not None and table.store is not table.primary.map:
        problems.append(f"{name}: the store is not the primary index's map")
    distinct = {table.row_key(r) for r in rows}  # byte-exact row identity
    if len(distinct) != len(rows):
        problems.append(f"{name}: {len(rows) - len(distinct)} duplicate row(s)")
    for ix in table.indexes:
        problems.extend(_check_index(table, ix, rows))
    return problems


def _check_index(table: Table, ix: Index, rows: list[Row]) -> list[str]:
    where = f"{table.name}.{ix.name}"
    problems: list[str] = []
    expected: dict[Hashable, list[Row]] = {}
    for row in rows:
        expected.setdefault(ix.key_of(row), []).append(row)
    if set(expected) != set(ix.map):
        missing = set(expected) - set(ix.map)
        extra = set(ix.map) - set(expected)
        problems.append(
            f"{where}: keys missing {sorted(map(repr, missing))[:5]}, extra {sorted(map(repr, extra))[:5]}"
        )
    for key, want in expected.items():
        if ix.unique and len(want) > 1:
            problems.append(f"{where}: unique key {key!r} held by {len(want)} rows")
        if key not in ix.map:
            continue
        got = ix.rows_at(key)
        if sorted(map(repr, got)) != sorted(map(repr, want)) or any(
            not any(g is w for g in got) for w in want
        ):
            problems.append(f"{where}: key {key!r} maps to {got!r}, expected {want!r}")
        if isinstance(ix, MultiIndex):
            bucket = ix.map[key]
            if type(bucket) is dict:
                if len(bucket) < 2:
                    problems.append(f"{where}: bucket for {key!r} is a dict of {len(bucket)} row(s)")
                for ident, row in bucket.items():
                    if ident != table.identity(row):
                        problems.append(f"{where}: bucket entry {ident!r} is not the identity of {row!r}")
    if ix.sorted_keys is not None and list(ix.sorted_keys) != sorted(ix.map):  # type: ignore[type-var]
        problems.append(f"{where}: sorted keys disagree with the index's keys")
    return problems
