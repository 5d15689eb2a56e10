"""Build the `spacetimedb-client` wheel: the client SDK without the server.

    python packaging/client/build.py --out-dir dist/

Stages `pyproject.toml` and `README.md` from this directory and the client's packages from
`src/spacetimedb` into a temporary project, then runs `pip wheel` on it (setuptools builds only
from inside a project directory, so the packages cannot be referenced in place). Prints the wheel's path.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src" / "spacetimedb"
#: The subpackages of `spacetimedb` the client needs. `module` is there because the top-level
#: `spacetimedb/__init__.py` exports the module-authoring names; it is pure Python and imports
#: nothing outside this list (tests/packaging checks that in a clean virtualenv).
CLIENT_PACKAGES = ("sats", "bsatn", "protocol", "client", "module")
TOP_LEVEL_FILES = ("__init__.py", "py.typed")


def stage(dest: Path) -> None:
    """Lay out the client project under `dest` (pyproject.toml, README.md, src/spacetimedb/...)."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(HERE / name, dest / name)
    pkg = dest / "src" / "spacetimedb"
    pkg.mkdir(parents=True)
    for name in TOP_LEVEL_FILES:
        shutil.copy(SRC / name, pkg / name)
    for sub in CLIENT_PACKAGES:
        shutil.copytree(SRC / sub, pkg / sub, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def build(out_dir: Path) -> Path:
    """Build the wheel into `out_dir`; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spacetimedb-client-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        stage(project)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out_dir), str(project)],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"pip wheel failed:\n{done.stdout}\n{done.stderr}")
    wheels = sorted(out_dir.glob("spacetimedb_client-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise RuntimeError(f"pip wheel wrote no spacetimedb_client wheel into {out_dir}")
    return wheels[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=Path("dist"), help="where to write the wheel (default dist/)")
    args = parser.parse_args(argv)
    print(build(args.out_dir.resolve()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
