"""Build the browser chat: generate TypeScript bindings for the chat module with our codegen, then bundle
the page with esbuild (pinned in tests/node) into a folder you can serve statically.

    .venv/bin/python examples/browser_chat/build.py [--out DIR] [--module PATH] [--typecheck]

The output folder (default examples/browser_chat/dist, gitignored) holds index.html, app.js, app.js.map,
and .src/ (the app's sources with the generated module_bindings/ next to them, as esbuild saw them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_MODULE = REPO / "examples" / "quickstart_chat.py"
DEFAULT_NODE_MODULES = REPO / "tests" / "node" / "node_modules"
BUILD_TIMEOUT_S = 180


class BuildError(RuntimeError):
    """The page could not be built; the message says which step failed and how to fix it."""


def generate_bindings(module_path: Path) -> dict[str, str]:
    """The TypeScript bindings `spacetimedb generate --lang typescript` writes, as {relative path: text}."""
    from spacetimedb.codegen.module_view import load_module_view
    from spacetimedb.codegen.typescript import generate_typescript
    from spacetimedb.module.loader import load_module

    raw = load_module(module_path).raw_module_def_json()
    return generate_typescript(load_module_view(raw))


def stage_sources(src_dir: Path, module_path: Path) -> None:
    """Copy the app's .ts files into src_dir and write the generated bindings to src_dir/module_bindings."""
    shutil.rmtree(src_dir, ignore_errors=True)
    src_dir.mkdir(parents=True)
    for ts in (HERE / "src").glob("*.ts"):
        shutil.copy2(ts, src_dir / ts.name)
    for rel, text in generate_bindings(module_path).items():
        path = src_dir / "module_bindings" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired as e:
        raise BuildError(f"{what} did not finish within {BUILD_TIMEOUT_S} s") from e
    if done.returncode != 0:
        raise BuildError(f"{what} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")


def typecheck(src_dir: Path, node_modules: Path) -> None:
    """tsc --noEmit over the app and its bindings, with `spacetimedb` resolved in node_modules."""
    tsconfig = {
        "compilerOptions": {
            "target": "es2022",
            "module": "esnext",
            "moduleResolution": "bundler",
            "lib": ["es2022", "dom"],
            "strict": True,
            "noEmit": True,
            "skipLibCheck": True,
            "baseUrl": ".",
            "paths": {"spacetimedb": [str(node_modules / "spacetimedb")]},
        },
        "include": ["*.ts", "module_bindings/**/*.ts"],
    }
    config = src_dir / "tsconfig.json"
    config.write_text(json.dumps(tsconfig, indent=2), "utf-8")
    _run(["node", str(node_modules / "typescript" / "bin" / "tsc"), "-p", str(config)], "tsc (type check)")


def bundle(src_dir: Path, out_dir: Path, node_modules: Path) -> None:
    """esbuild: one ES module for the browser; the SDK's `browser` export and its CommonJS deps are inlined."""
    esbuild = node_modules / ".bin" / "esbuild"
    cmd = [
        str(esbuild),
        str(src_dir / "main.ts"),
        "--bundle",
        "--format=esm",
        "--platform=browser",
        "--target=es2022",
        "--sourcemap",
        "--log-level=warning",
        f"--outfile={out_dir / 'app.js'}",
    ]
    # The app lives outside any node_modules tree: NODE_PATH tells esbuild where the SDK is.
    _run(cmd, "esbuild (bundle)", env={**os.environ, "NODE_PATH": str(node_modules)})


def build(out_dir: Path, module_path: Path = DEFAULT_MODULE, node_modules: Path = DEFAULT_NODE_MODULES,
          *, check_types: bool = False) -> Path:
    """Build the page into out_dir and return the path of its index.html."""
    for need in ("spacetimedb", "esbuild"):
        if not (node_modules / need).is_dir():
            raise BuildError(
                f"{node_modules / need} is missing: run `npm ci` in tests/node (or pass --node-modules DIR)"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    src_dir = out_dir / ".src"
    stage_sources(src_dir, module_path)
    if check_types:
        typecheck(src_dir, node_modules)
    bundle(src_dir, out_dir, node_modules)
    shutil.copy2(HERE / "index.html", out_dir / "index.html")
    return out_dir / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "dist", help="output folder (default: %(default)s)")
    parser.add_argument("--module", type=Path, default=DEFAULT_MODULE, help="chat module (default: %(default)s)")
    parser.add_argument("--node-modules", type=Path, default=DEFAULT_NODE_MODULES,
                        help="where spacetimedb, esbuild and typescript are installed (default: %(default)s)")
    parser.add_argument("--typecheck", action="store_true", help="also type-check the app with tsc")
    args = parser.parse_args(argv)
    try:
        index = build(args.out.resolve(), args.module.resolve(), args.node_modules.resolve(), check_types=args.typecheck)
    except BuildError as e:
        print(f"build failed: {e}", file=sys.stderr)
        return 1
    print(f"built {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
