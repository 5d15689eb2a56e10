"""Automatic migrations on republish: the plan, what it refuses, and carrying the rows over."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from spacetimedb.host.migration import migrate_image, plan_migration
from spacetimedb.module.loader import load_module
from spacetimedb.module.module_def import ModuleDef
from spacetimedb.testing import TestDatabase

BASE = """
from spacetimedb import table, reducer, ReducerContext, u32, auto_inc, primary_key
from typing import Annotated

@table(public={public})
class Player:
    id: Annotated[u32, primary_key, auto_inc]
    name: str
{extra_columns}

{extra_tables}

@reducer
def add(ctx: ReducerContext, name: str) -> None:
    ctx.db.player.insert(Player(id=0, name=name))
"""


def _module(
    tmp_path: Path, name: str, *, public: bool = False, extra_columns: str = "", extra_tables: str = ""
) -> ModuleDef:
    path = tmp_path / f"{name}.py"
    path.write_text(
        BASE.format(
            public=public,
            extra_columns=textwrap.indent(textwrap.dedent(extra_columns), "    "),
            extra_tables=textwrap.dedent(extra_tables),
        )
    )
    return load_module(path)


def test_the_same_module_needs_nothing(tmp_path: Path) -> None:
    plan = plan_migration(_module(tmp_path, "a"), _module(tmp_path, "b"))
    assert plan.ok and plan.steps == []


def test_additive_changes_are_automatic(tmp_path: Path) -> None:
    old = _module(tmp_path, "a")
    new = _module(
        tmp_path,
        "b",
        public=True,
        extra_columns="score: int = 0\ntags: list[str] = []",
        extra_tables="@table\nclass Item:\n    name: str\n",
    )
    plan = plan_migration(old, new, {"player": 3})
    assert plan.ok, plan.describe()
    assert "add table 'item'" in plan.steps
    assert "make table 'player' public" in plan.steps
    assert any(s.startswith("add columns ['score', 'tags']") for s in plan.steps)


@pytest.mark.parametrize(
    ("extra_columns", "message"),
    [
        ("level: int", "adding column 'level' to table 'player' requires a default value"),
    ],
)
def test_a_new_column_without_a_default_is_refused(tmp_path: Path, extra_columns: str, message: str) -> None:
    plan = plan_migration(_module(tmp_path, "a"), _module(tmp_path, "b", extra_columns=extra_columns))
    assert not plan.ok and message in plan.describe()
    assert "--delete-data" in plan.describe()


def test_incompatible_changes_are_each_named(tmp_path: Path) -> None:
    old = _module(
        tmp_path,
        "a",
        extra_columns="score: int = 0\nteam: str = ''",
        extra_tables="@table\nclass Item:\n    name: str\n",
    )
    new_src = (
        (tmp_path / "a.py")
        .read_text()
        .replace("score: int = 0", "score: str = ''")
        .replace("    team: str = ''\n", "")
    )
    new_src = new_src.replace("@table\nclass Item:\n    name: str\n", "")
    (tmp_path / "b.py").write_text(new_src)
    plan = plan_migration(old, load_module(tmp_path / "b.py"), {"player": 2, "item": 5})
    text = plan.describe()
    assert "changing the type of column 'score' in table 'player'" in text
    assert "removing column 'team' from table 'player'" in text
    assert "removing table 'item', which has 5 rows" in text


def test_removing_an_empty_table_is_automatic(tmp_path: Path) -> None:
    old = _module(tmp_path, "a", extra_tables="@table\nclass Item:\n    name: str\n")
    plan = plan_migration(old, _module(tmp_path, "b"), {"item": 0})
    assert plan.ok and "remove table 'item' (empty)" in plan.steps


def test_adding_a_unique_constraint_is_refused(tmp_path: Path) -> None:
    old = _module(tmp_path, "a", extra_columns="email: str = ''")
    new_src = (tmp_path / "a.py").read_text().replace("email: str = ''", "email: Annotated[str, unique] = ''")
    new_src = new_src.replace("auto_inc, primary_key", "auto_inc, primary_key, unique")
    (tmp_path / "b.py").write_text(new_src)
    plan = plan_migration(old, load_module(tmp_path / "b.py"))
    assert "adding a unique constraint on player(email)" in plan.describe()


def test_rows_follow_with_defaults_and_sequences_keep_counting(tmp_path: Path) -> None:
    old_path = tmp_path / "old.py"
    old_path.write_text(BASE.format(public=False, extra_columns="", extra_tables=""))
    db = TestDatabase.load(old_path)
    db.call("add", "ada")
    db.call("add", "bob")
    old_def = db.module
    image = db.host.db.snapshot_image()
    new = _module(
        tmp_path,
        "new",
        extra_tables="@table\nclass Item:\n    name: str\n",
        extra_columns="score: int = 7\ntags: list[str] = ['new']",
    )
    assert plan_migration(old_def, new, {"player": 2}).ok
    migrated = migrate_image(image, old_def, new)
    player = new.table("player").schema
    rows = sorted(migrated.tables[player.table_id])
    assert rows == [(1, "ada", 7, ["new"]), (2, "bob", 7, ["new"])]
    assert migrated.tables[new.table("item").schema.table_id] == []
    assert (
        migrated.sequences[(player.table_id, 0)]
        == image.sequences[(old_def.table("player").schema.table_id, 0)]
    )
