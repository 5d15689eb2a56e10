"""The client-only distribution (packaging/client): its wheel builds, installs into a clean virtualenv
outside the source tree with only the client's dependencies (from PyPI), and a client run from there
chats with our server."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.live_server import live_server

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "examples" / "quickstart_chat.py"
#: Server-only dependencies the client install must not pull in.
SERVER_ONLY = {"sqlglot", "pyjwt", "cryptography", "blake3", "crc32c", "sortedcontainers", "watchfiles", "click"}

CLIENT_SCRIPT = """
import asyncio, sys
from spacetimedb import bsatn
from spacetimedb.client.connection import Connection
from spacetimedb.protocol import TransactionUpdate, ReducerResult
from chat_bindings import Message, SendMessageArgs

async def main(url):
    conn = await Connection.connect(url, "quickstart-chat")
    await conn.call_reducer("send_message", bsatn.encode(SendMessageArgs("hi from the wheel"), SendMessageArgs))
    while not isinstance(msg := await conn.recv(timeout=10), ReducerResult):
        pass
    print("reducer result", type(msg.result).__name__)
    await conn.close()

asyncio.run(main(sys.argv[1]))
"""


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
def test_a_client_in_the_clean_venv_talks_to_the_server(client_venv: Path, tmp_path: Path) -> None:
    # Bindings come from the full install's generator (the developer's machine), the client runs in the venv.
    _run([sys.executable, "-m", "spacetimedb.cli.main", "generate", "--lang", "python",
          "--out-dir", str(tmp_path / "chat_bindings"), "-p", str(CHAT)])  # fmt: skip
    (tmp_path / "client.py").write_text(CLIENT_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    with live_server(tmp_path / "data", {"quickstart-chat": CHAT}) as url:
        out = _run([str(client_venv / "bin" / "python"), "client.py", url], cwd=tmp_path, env=env).stdout
    assert "reducer result" in out, out
