"""The client-only distribution (packaging/client): its wheel builds, installs into a clean virtualenv
outside the source tree with only the client's dependencies (from PyPI), and a client run from there
chats with our server."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.live_server import live_server

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "examples" / "quickstart_chat.py"
CLIENTS = ROOT / "examples" / "py_client"
#: Server-only dependencies the client install must not pull in.
SERVER_ONLY = {"sqlglot", "pyjwt", "cryptography", "blake3", "crc32c", "sortedcontainers", "watchfiles", "click"}

def _run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv in a temp dir with only the spacetimedb-client wheel (and its PyPI dependencies)."""
    tmp = tmp_path_factory.mktemp("client-wheel")
    spec = importlib.util.spec_from_file_location("client_build", ROOT / "packaging" / "client" / "build.py")
    assert spec is not None and spec.loader is not None
    client_build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client_build)
    wheel = client_build.build(tmp / "dist")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)])
    return venv


@pytest.mark.slow
def test_the_client_wheel_installs_only_client_dependencies(client_venv: Path) -> None:
    listed = _run([str(client_venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"]).stdout
    installed = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert "spacetimedb-client" in installed and "aiohttp" in installed
    assert not installed & SERVER_ONLY, installed & SERVER_ONLY
    # The server is not there; the client, the codec and the authoring names are.
    code = (
        "import importlib.util, spacetimedb, spacetimedb.client, spacetimedb.protocol; from spacetimedb import Identity, bsatn; "
        "print(importlib.util.find_spec('spacetimedb.server') is None, spacetimedb.__file__)"
    )
    out = _run([str(client_venv / "bin" / "python"), "-c", code], cwd=client_venv).stdout.split()
    assert out[0] == "True" and out[1].startswith(str(client_venv)), out


@pytest.mark.slow
def test_the_chat_example_runs_from_the_clean_venv(client_venv: Path, tmp_path: Path) -> None:
    """examples/py_client/chat_client.py with its committed bindings, copied out of the source tree
    and run by the venv's Python (no rich there: it prints plain text)."""
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(CLIENTS / "chat_client.py", app / "chat_client.py")
    shutil.copytree(CLIENTS / "chat_bindings", app / "chat_bindings", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    with live_server(tmp_path / "data", {"quickstart-chat": CHAT}) as url:
        argv = [str(client_venv / "bin" / "python"), "chat_client.py", "--uri", url.replace("http", "ws", 1),
                "--token-file", str(tmp_path / "token")]  # fmt: skip
        first = _run([*argv, "--exit-after", "0.2"], cwd=app, env=env, input="/name Wheel\nhi from the wheel\n")
        second = _run(argv, cwd=app, env=env, input="")
    assert "Wheel: hi from the wheel" in first.stdout.splitlines(), first.stdout
    assert "Wheel: hi from the wheel" in second.stdout.splitlines() and "Connected as Wheel" in second.stdout
