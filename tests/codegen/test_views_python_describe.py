"""Views in `spacetimedb describe` and in `generate --lang python` (read-only tables to clients)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from spacetimedb.codegen.module_view import load_module_view
from spacetimedb.codegen.python import generate_python
from spacetimedb.module.loader import load_module

EXCHANGE = Path(__file__).resolve().parents[2] / "examples" / "money_exchange.py"


def test_module_view_reads_the_views_section() -> None:
    m = load_module_view(load_module(EXCHANGE).raw_module_def_json())
    assert [(v.name, v.anonymous, v.returns_list) for v in m.views] == [
        ("my_account", False, False),
        ("my_account_changes", False, True),
    ]
    mine = m.views[0]
    assert [c.name for c in mine.columns] == ["identity", "balance_cents"] and mine.primary_key == [0]
    assert m.type_names[mine.row_ref] == "Account"


def test_python_bindings_list_views_as_tables(tmp_path: Path) -> None:
    files = generate_python(load_module_view(load_module(EXCHANGE).raw_module_def_json()))
    (tmp_path / "module_bindings").mkdir()
    (tmp_path / "module_bindings" / "__init__.py").write_text(files["__init__.py"], "utf-8")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import module_bindings as m; "
        "print(sorted(m.TABLES), m.TABLES['my_account'].row_type.__name__, m.TABLES['my_account_changes'].primary_key)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['directory', 'my_account', 'my_account_changes'] Account id"


def test_describe_lists_views() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "spacetimedb.cli.main", "describe", "-p", str(EXCHANGE)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "view my_account -> Account | None (per caller, primary key identity)" in out.stdout
    assert "view my_account_changes -> list[AccountChange] (per caller, primary key id)" in out.stdout
