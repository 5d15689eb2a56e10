"""Packing a module (one .py file or a package directory) for upload by `publish`."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import click

#: Files and folders never uploaded with a package.
SKIP_DIRS = {"__pycache__", ".git", ".venv", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
#: The largest module upload the CLI will build (the server enforces its own limit too).
MAX_ARCHIVE_BYTES = 32 * 1024 * 1024


def build_module_archive(path: Path) -> bytes:
    """A zip of the module: a single file as itself, a package directory with its files.

    The entry is recorded in the archive: a file `X.py` at the root (single-file module) or a
    top-level `__init__.py` (package).
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if path.is_file():
            if path.suffix != ".py":
                raise click.UsageError(f"{path} is not a .py file; pass a module file or a package directory")
            zf.write(path, path.name)
        else:
            if not (path / "__init__.py").exists():
                raise click.UsageError(
                    f"{path} is a directory without __init__.py; pass the module's .py file or make it a package"
                )
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(path)
                if f.is_file() and not SKIP_DIRS.intersection(rel.parts) and f.suffix not in {".pyc", ".pyo"}:
                    zf.write(f, rel.as_posix())
    data = buf.getvalue()
    if len(data) > MAX_ARCHIVE_BYTES:
        raise click.UsageError(
            f"the module archive is {len(data)} bytes, over the {MAX_ARCHIVE_BYTES} byte limit"
        )
    return data
