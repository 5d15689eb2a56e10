"""The README's module snippet is a real module: it loads and behaves as the text says; its Python
client snippet runs against our server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from spacetimedb.testing import TestDatabase
from spacetimedb.testing.harness import ReducerUserError, identity

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text("utf-8"), flags=re.S)


def test_the_readme_module_runs(tmp_path: Path) -> None:
    snippet = _python_blocks()[0]  # the module; the others are Python clients
    path = tmp_path / "readme_chat.py"
    path.write_text(snippet, "utf-8")
    db = TestDatabase.load(path)
    ada = identity("ada")
    db.call("send_message", "hello", sender=ada)
    (msg,) = db.table("message")
    assert msg.text == "hello" and msg.sender == ada
    with pytest.raises(ReducerUserError, match="must not be empty"):
        db.call("send_message", "", sender=ada)
    assert db.count("message") == 1


def test_the_readme_starts_with_the_two_commands() -> None:
    text = README.read_text("utf-8")
    first_block = re.search(r"```sh\n(.*?)```", text, flags=re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == ["./scripts/serve", "./scripts/test"]
    ci = (README.parent / ".ci" / "run").read_text("utf-8")
    assert "./scripts/test" in ci


def _quickstart_commands() -> list[str]:
    text = README.read_text("utf-8").split("## Quickstart", 1)[1]
    block = re.search(r"```sh\n(.*?)```", text, flags=re.S)
    assert block is not None
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_quickstart_runs_word_for_word(tmp_path: Path) -> None:
    """A fresh machine: `scripts/serve`'s server, a CLI that has never been configured (its default
    server moved to a free port), and the quickstart's commands as the README spells them."""
    import os
    import shlex
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "cli.json"
    config.write_text(json.dumps({"servers": {"local": {"url": f"http://127.0.0.1:{port}"}}}))
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "SPACETIMEDB_CLI_CONFIG": str(config), "NO_COLOR": "1", "COLUMNS": "200",
           "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    serve = (README.parent / "scripts" / "serve").read_text("utf-8")
    start_args = shlex.split(serve.split("exec .venv/bin/spacetimedb ", 1)[1].replace("\\\n", " ").replace('"$@"', ""))
    # scripts/serve runs from the repository root; here the data dir goes to tmp_path instead.
    (tmp_path / "examples").symlink_to(README.parent / "examples")
    server = subprocess.Popen(
        [sys.executable, "-m", "spacetimedb.cli.main", *start_args, "--listen-addr", f"127.0.0.1:{port}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    background: list[subprocess.Popen[str]] = []
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "listening on" not in server.stdout.readline():
            assert server.poll() is None, server.stdout.read()
        outputs = []
        for command in _quickstart_commands():
            if command.endswith("&"):
                background.append(subprocess.Popen(["bash", "-c", command[:-1]], cwd=tmp_path, env=env,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
                time.sleep(2.0)  # as a user would: the subscription is applied before the next line
                continue
            for _attempt in range(3):
                done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                                      text=True, timeout=60)
                assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
                if not background or background[-1].poll() is not None:
                    break
                try:  # the background subscriber exits after the update this command caused
                    background[-1].wait(timeout=10)
                    break
                except subprocess.TimeoutExpired:
                    continue  # it subscribed late: send again
            outputs.append(done.stdout)
        assert background and background[0].wait(timeout=30) == 0
        assert background[0].stdout is not None
        assert "Anyone there?" in background[0].stdout.read()
        joined = "\n".join(outputs)
        assert "Created database my-chat" in joined and "Hello, world" in joined
        assert "sets name to Ada" in outputs[-1], outputs[-1]
    finally:
        for proc in (*background, server):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_the_readme_python_client_runs(tmp_path: Path) -> None:
    import asyncio
    import contextlib
    import io

    from tests.client.harness import CHAT, run_with_server

    (client_snippet,) = [b for b in _python_blocks() if "spacetimedb import client" in b]

    async def scenario(server: Any, uri: str) -> str:
        code = client_snippet.replace("ws://127.0.0.1:3000", uri)
        out = io.StringIO()

        def run() -> None:
            with contextlib.redirect_stdout(out):
                exec(compile(code, "README.md", "exec"), {"__name__": "readme_client"})

        await asyncio.get_running_loop().run_in_executor(None, run)
        return out.getvalue()

    printed = run_with_server(tmp_path, scenario, modules={"my-chat": CHAT})
    assert printed.splitlines() == ["hi from Python"]


def test_the_readme_python_client_with_bindings_runs(tmp_path: Path) -> None:
    """The client program, with bindings generated as the README says, against a live server; it
    passes mypy --strict too."""
    import asyncio
    import contextlib
    import io
    import subprocess
    import sys

    from tests.client.harness import run_with_server

    from spacetimedb.codegen.module_view import load_module_view
    from spacetimedb.codegen.python import generate_python
    from spacetimedb.module.loader import load_module
    from spacetimedb.server.app import Server

    chat = README.parent / "examples" / "quickstart_chat.py"
    (client,) = [b for b in _python_blocks() if "from chat_bindings import" in b]
    for rel, text in generate_python(load_module_view(load_module(chat).raw_module_def_json())).items():
        (tmp_path / "chat_bindings").mkdir(exist_ok=True)
        (tmp_path / "chat_bindings" / rel).write_text(text, "utf-8")
    (tmp_path / "readme_client.py").write_text(client, "utf-8")
    mypy = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir", str(tmp_path / ".mypy_cache"),
         "readme_client.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr

    async def scenario(server: Server, uri: str) -> str:
        code = client.replace("ws://127.0.0.1:3000", uri)
        out = io.StringIO()

        def run() -> None:
            with contextlib.redirect_stdout(out):
                exec(compile(code, "README.md", "exec"), {"__name__": "readme_client"})

        await asyncio.get_running_loop().run_in_executor(None, run)
        return out.getvalue()

    sys.path.insert(0, str(tmp_path))
    try:
        printed = run_with_server(tmp_path, scenario, {"my-chat": chat})
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("chat_bindings", None)
    assert printed.splitlines() == ["hi from Python"]
