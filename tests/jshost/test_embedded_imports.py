"""What the bundle embeds imports nothing it does not have: no C extension or PyPI package, no stdlib
module `spacetimedb build` leaves out (STDLIB_EXCLUDED), when the package, the adapter and every
example module are imported. Checked natively in a subprocess with such imports blocked, so a
regression shows here rather than as a bundle that fails to start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from spacetimedb.cli.js_bundle import EMBEDDED_LAYERS, STDLIB_EXCLUDED

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import sys
blocked_stdlib = set(sys.argv[1].split(","))
allowed = (set(sys.stdlib_module_names) - blocked_stdlib) | {"spacetimedb", "__main__"}

class Block:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top.startswith("_spacetimedb_module_") or top in allowed:
            return None
        raise ImportError(f"the bundle has no module {name!r}")

sys.meta_path.insert(0, Block())
import spacetimedb
for layer in sys.argv[2].split(","):
    __import__(f"spacetimedb.{layer}")
import spacetimedb.jshost.boot
from spacetimedb.module.loader import load_module
for path in sys.argv[3:]:
    load_module(path)
print("ok")
"""


def test_the_embedded_layers_and_the_examples_import_without_anything_left_out() -> None:
    excluded = sorted(n.removesuffix(".py") for n in STDLIB_EXCLUDED)
    examples = [str(p) for p in sorted((ROOT / "examples").glob("*.py"))]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(excluded), ",".join(EMBEDDED_LAYERS), *examples],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
