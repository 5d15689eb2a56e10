"""examples/ts_chat_client: the Node client for the quickstart chat, installed from its lockfile,
type-checked, and run against a live server (it sets a name, sends a message, and prints its own
message and one sent by someone else as they arrive)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.live_server import live_server

from spacetimedb.codegen.module_view import load_module_view
from spacetimedb.codegen.typescript import generate_typescript
from spacetimedb.module.loader import load_module

from .conftest import EXAMPLES

CLIENT = EXAMPLES / "ts_chat_client"
DB = "quickstart-chat"


def test_committed_bindings_are_what_generate_writes() -> None:
    """`npm run generate` (spacetimedb generate --lang typescript) would change nothing."""
    view = load_module_view(load_module(EXAMPLES / "quickstart_chat.py").raw_module_def_json())
    bindings = CLIENT / "src" / "module_bindings"
    committed = {p.relative_to(bindings).as_posix(): p.read_text("utf-8") for p in bindings.rglob("*.ts")}
    assert committed == generate_typescript(view)


def test_versions_are_pinned_exactly() -> None:
    pkg = json.loads((CLIENT / "package.json").read_text("utf-8"))
    deps = {**pkg["dependencies"], **pkg["devDependencies"]}
    assert deps["spacetimedb"] == "2.10.1" and "tsx" in deps
    assert all(v[0].isdigit() for v in deps.values()), deps  # no ^ or ~ ranges
    lock = json.loads((CLIENT / "package-lock.json").read_text("utf-8"))
    assert lock["packages"]["node_modules/spacetimedb"]["version"] == "2.10.1"


def _installed() -> bool:
    """node_modules holds exactly the versions package.json pins (else `npm ci` again)."""
    pkg = json.loads((CLIENT / "package.json").read_text("utf-8"))
    for name, version in {**pkg["dependencies"], **pkg["devDependencies"]}.items():
        meta = CLIENT / "node_modules" / name / "package.json"
        if not meta.exists() or json.loads(meta.read_text("utf-8"))["version"] != version:
            return False
    return True


@pytest.fixture(scope="module")
def installed() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("needs node and npm")
    if not _installed():
        # From the committed lockfile; --prefer-offline reuses the npm cache when it has the packages.
        done = subprocess.run(
            ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=CLIENT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    return CLIENT


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """Our server on a free port with the quickstart chat published as `quickstart-chat`; its http URL."""
    with live_server(tmp_path / "data", {DB: EXAMPLES / "quickstart_chat.py"}) as url:
        yield url


@pytest.mark.node
def test_the_client_type_checks(installed: Path) -> None:
    done = subprocess.run(
        ["node", "node_modules/typescript/bin/tsc", "--noEmit", "-p", "."], cwd=installed,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.node
def test_the_client_chats_with_a_live_server(installed: Path, server: str, tmp_path: Path) -> None:
    client = subprocess.Popen(
        ["node", "node_modules/tsx/dist/cli.mjs", "src/main.ts", "--uri", server.replace("http", "ws", 1),
         "--db", DB, "--name", "Ada", "--message", "Hello from Node", "--exit-after", "2",
         "--token-file", str(tmp_path / "token")],
        cwd=installed, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert client.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while not any("listening" in line for line in seen) and time.monotonic() < deadline:
            line = client.stdout.readline()
            if not line:
                break
            seen.append(line.rstrip("\n"))
        assert any("listening" in line for line in seen), seen
        # Someone else (an anonymous HTTP caller) says something; the client prints it as it arrives.
        req = urllib.request.Request(
            f"{server}/v1/database/{DB}/call/send_message", data=b'["Hi Ada"]',
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        out, err = client.communicate(timeout=30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    lines = seen + out.splitlines()
    assert client.returncode == 0, "\n".join(lines) + err
    assert "Ada: Hello from Node" in lines, "\n".join(lines) + err
    assert any(line.endswith(": Hi Ada") and not line.startswith("Ada") for line in lines), lines
    assert (tmp_path / "token").read_text().count(".") == 2  # the saved token (a JWT) for next time
