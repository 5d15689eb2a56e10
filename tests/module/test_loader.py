"""load_module: single files, packages with relative imports, fresh imports, and load errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from spacetimedb.module import ModuleLoadError, load_module
from spacetimedb.sats.errors import SchemaError

TABLES = """
from typing import Annotated
from spacetimedb import table, primary_key, u32

@table(public=True)
class Thing:
    id: Annotated[u32, primary_key]
    label: str = "{label}"
"""

REDUCERS = """
from spacetimedb import reducer, ReducerContext
from .tables import Thing

@reducer
def make(ctx: ReducerContext, id: int) -> None:
    ctx.db.thing.insert(Thing(id=id))
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_single_file(tmp_path: Path) -> None:
    f = write(tmp_path / "one.py", TABLES.format(label="a"))
    m = load_module(f)
    assert m.name == "one" and [t.name for t in m.tables] == ["thing"]
    assert m.python_name is not None and "one" in m.python_name


def test_package_directory_with_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "game"
    pkg.mkdir()
    write(pkg / "tables.py", TABLES.format(label="a"))
    write(pkg / "reducers.py", REDUCERS)
    write(pkg / "__init__.py", "from . import reducers\n")
    m = load_module(pkg)
    assert m.name == "game"
    assert [t.name for t in m.tables] == ["thing"] and list(m.reducers) == ["make"]


def test_reloading_imports_afresh(tmp_path: Path) -> None:
    f = write(tmp_path / "mod.py", TABLES.format(label="first"))
    a = load_module(f)
    write(f, TABLES.format(label="second"))
    b = load_module(f)
    assert a.tables[0].row_class is not b.tables[0].row_class
    assert b.tables[0].row_class(id=1).label == "second"


def test_missing_path_and_wrong_kinds(tmp_path: Path) -> None:
    with pytest.raises(ModuleLoadError, match="no module at"):
        load_module(tmp_path / "absent.py")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ModuleLoadError, match=r"without __init__\.py"):
        load_module(tmp_path / "empty_dir")
    with pytest.raises(ModuleLoadError, match=r"not a \.py file"):
        load_module(write(tmp_path / "notes.txt", "hi"))
    with pytest.raises(ModuleLoadError, match="declares no @table or @reducer"):
        load_module(write(tmp_path / "nothing.py", "x = 1\n"))


def test_errors_in_module_code_propagate(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.py", "from spacetimedb import table\n@table\nclass T:\n    x: set[int]\n")
    with pytest.raises(SchemaError, match=r"T\.x"):
        load_module(bad)
    with pytest.raises(ZeroDivisionError):
        load_module(write(tmp_path / "boom.py", "1 / 0\n"))
