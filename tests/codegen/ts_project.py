"""Compile generated TypeScript bindings (plus a client script) with the pinned tsc and run them on Node.

The project lives in a temporary folder under tests/node, so `import "spacetimedb"` resolves to the
pinned SDK. Output is CommonJS with classic (node10) resolution: the generated extensionless relative
imports then resolve in Node, and `require("spacetimedb")` takes the package's CommonJS build.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
TSC = NODE_DIR / "node_modules" / "typescript" / "bin" / "tsc"

TSCONFIG = {
    "compilerOptions": {
        "target": "es2022",
        "module": "commonjs",
        "moduleResolution": "node10",
        "strict": True,
        "skipLibCheck": True,
        "outDir": "out",
        "rootDir": "src",
    },
    "include": ["src"],
}


@contextmanager
def ts_project(files: dict[str, str]) -> Iterator[Path]:
    """A temp project with `files` under src/; yields its root and removes it afterwards."""
    root = NODE_DIR / f".gen-{uuid.uuid4().hex[:10]}"
    try:
        for rel, text in files.items():
            path = root / "src" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
        (root / "tsconfig.json").write_text(json.dumps(TSCONFIG), "utf-8")
        (root / "package.json").write_text('{"type": "commonjs"}', "utf-8")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def compile_project(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(TSC), "-p", str(root / "tsconfig.json")], capture_output=True, text=True, timeout=180
    )


def run_node(script: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(script), *args], capture_output=True, text=True, timeout=timeout, cwd=script.parent
    )
