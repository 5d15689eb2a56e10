"""Generated Python bindings type-check with mypy --strict, as do the user files written against them
(tests/codegen/python_users), and a wrong argument type in user code is a mypy error.

Bindings are generated for every module in examples/ and for the sdk-test port (every column type),
each into its own package `<module>_bindings`; one mypy run checks them all.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spacetimedb.codegen.module_view import load_module_view
from spacetimedb.codegen.python import generate_python
from spacetimedb.module.loader import load_module

ROOT = Path(__file__).resolve().parents[2]
USERS = Path(__file__).resolve().parent / "python_users"
MODULES = [
    *sorted((ROOT / "examples").glob("*.py")),
    ROOT / "tests" / "sdk_conformance" / "sdk_test_module.py",
    ROOT / "tests" / "client" / "modules" / "collide.py",  # unique columns named like handle methods
    ROOT / "tests" / "client" / "modules" / "events.py",  # an event table
]


def write_bindings(module: Path, out_dir: Path, *, include_private: bool = False) -> str:
    """Generate `<module stem>_bindings` under out_dir; returns the package name."""
    name = f"{module.stem}_bindings"
    view = load_module_view(load_module(module).raw_module_def_json())
    for rel, text in generate_python(view, include_private=include_private).items():
        path = out_dir / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return name


def run_mypy(cwd: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir", str(cwd / ".mypy_cache"),
         "--show-error-codes", *targets],
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.slow
def test_bindings_and_user_code_type_check_and_misuse_is_caught(tmp_path: Path) -> None:
    packages = [write_bindings(m, tmp_path) for m in MODULES]
    users = []
    for f in USERS.glob("*.py"):
        if f.name != "__init__.py":
            shutil.copy(f, tmp_path / f.name)
            users.append(f.name)
    targets = packages + sorted(users)  # package directories and files, checked as files
    done = run_mypy(tmp_path, *targets)
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 2: mypy itself failed
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    # Only misuse.py may have errors, exactly one on each line marked `# error`.
    marked = {
        i for i, line in enumerate((tmp_path / "misuse.py").read_text().splitlines(), start=1) if "  # error:" in line
    }
    elsewhere = [e for e in errors if not e.startswith("misuse.py:")]
    assert not elsewhere, "\n".join(elsewhere) + done.stderr
    lines = {int(m.group(1)) for e in errors if (m := re.match(r"misuse\.py:(\d+):", e))}
    assert lines == marked, done.stdout + done.stderr


@pytest.mark.slow
def test_bindings_are_ruff_clean(tmp_path: Path) -> None:
    """With this repository's ruff settings (imports sorted as isort does, no unused imports)."""
    for m in MODULES:
        write_bindings(m, tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
