"""Bundles for tests/jshost, built once per session (a build takes seconds; a cold start seconds)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from spacetimedb.cli.js_bundle import build_bundle

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "tests" / "node" / "node_modules"


def toolchain_available() -> str | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are needed to build bundles"
    if not NODE_MODULES.is_dir():
        return "tests/node/node_modules is missing (run scripts/test): the sealed host needs it"
    return None


@pytest.fixture(scope="session")
def bundle_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    """`bundle_of(module_path)`: the module's `spacetimedb build` bundle (with snapshot), built once."""
    reason = toolchain_available()
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("jsbundles")
    built: dict[Path, Path] = {}

    def build(path: Path) -> Path:
        if path not in built:
            target = out / f"{path.stem}.js"
            build_bundle(path, target)
            built[path] = target
        return built[path]

    return build
