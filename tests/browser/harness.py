"""Paths and helpers shared by the browser tests and their fixtures."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
CHAT_MODULE = REPO / "examples" / "quickstart_chat.py"
BUILD_SCRIPT = REPO / "examples" / "browser_chat" / "build.py"
NODE_MODULES = REPO / "tests" / "node" / "node_modules"
CHROMIUM = Path("/usr/bin/chromium")
DATABASE = "browser-chat"  # not the page's default, so the test also covers the ?db= parameter


def load_build_script() -> ModuleType:
    """examples/browser_chat/build.py as a module (it is a script, not part of a package)."""
    spec = importlib.util.spec_from_file_location("browser_chat_build", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def require_node_tools() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    for package in ("spacetimedb", "esbuild", "typescript", "playwright-core"):
        if not (NODE_MODULES / package).is_dir():
            pytest.skip(f"tests/node/node_modules/{package} is missing (run scripts/test to install)")
