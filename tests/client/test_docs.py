"""docs/client.md as a new user reads it: bindings made with the command it shows, and each of its
Python blocks run against our server as written (only the server's address changed). The blocks are
whole programs run in a child process, except the subscription fragment, run with `conn` connected."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from spacetimedb import client
from spacetimedb.server.app import Server

from .harness import CHAT, ROOT, run_with_server

DOC = ROOT / "docs" / "client.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text("utf-8"), flags=re.S)


def block(marker: str) -> str:
    (found,) = [b for b in blocks("python") if marker in b]
    return found


@pytest.fixture(scope="module")
def bindings_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding `chat_bindings`, made by the `generate` command the doc shows."""
    out = tmp_path_factory.mktemp("doc-bindings")
    (command,) = [line for b in blocks("sh") for line in b.splitlines() if "generate --lang python" in line]
    argv = shlex.split(command.split("#")[0])
    assert argv[:2] == ["spacetimedb", "generate"]
    argv = [str(ROOT / a) if a.startswith("examples/") else a for a in argv[1:]]
    done = subprocess.run(
        [sys.executable, "-m", "spacetimedb.cli.main", *argv], cwd=out, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "chat_bindings" / "__init__.py").is_file()
    return out


async def run_program(code: str, uri: str, cwd: Path, bindings: Path) -> str:
    """Run a doc block as a program (its address pointed at `uri`); returns what it printed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(bindings), os.environ.get("PYTHONPATH", "")])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code.replace("ws://127.0.0.1:3000", uri), cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode() + err.decode()
    return out.decode()


def test_the_connect_example_without_bindings(tmp_path: Path, bindings_dir: Path) -> None:
    async def scenario(server: Server, uri: str) -> str:
        return await run_program(block("client.connect("), uri, tmp_path, bindings_dir)

    printed = run_with_server(tmp_path, scenario, {"quickstart-chat": CHAT}).splitlines()
    assert printed[0] == "hello"  # on_insert
    assert printed[1].startswith("user_row(identity=") and "online=True" in printed[1]  # find on the primary key
    assert printed[2].startswith("{'message': [message_row(") and "text='hello'" in printed[2]  # the one-off query


def test_the_builder_example_keeps_its_identity_between_runs(tmp_path: Path, bindings_dir: Path) -> None:
    async def scenario(server: Server, uri: str) -> list[str]:
        code = block("with_confirmed_reads(True)")
        return [await run_program(code, uri, tmp_path, bindings_dir) for _ in range(2)]

    first, second = run_with_server(tmp_path, scenario, {"quickstart-chat": CHAT})
    assert first.startswith("connected as ") and first == second  # the saved token: the same identity
    assert "disconnected: None" in first  # on_disconnect after the block closed it
    assert (tmp_path / "chat-token.txt").read_text()


def test_the_subscription_example(tmp_path: Path) -> None:
    async def scenario(server: Server, uri: str) -> str:
        out = io.StringIO()
        async with client.connect(uri, "quickstart-chat") as conn:
            code = "async def fragment(conn):\n" + textwrap.indent(block("subscribe_to_all_tables()"), "    ")
            namespace: dict[str, Any] = {}
            exec(compile(code, str(DOC), "exec"), namespace)
            with contextlib.redirect_stdout(out):
                await namespace["fragment"](conn)
            assert conn.db.user.count() == 1 and conn.db.message.count() == 0  # all tables, from the last line
        return out.getvalue()

    assert run_with_server(tmp_path, scenario, {"quickstart-chat": CHAT}) == "applied: 1 users online\n"


def test_the_synchronous_example(tmp_path: Path, bindings_dir: Path) -> None:
    async def scenario(server: Server, uri: str) -> str:
        return await run_program(block("build_sync()"), uri, tmp_path, bindings_dir)

    assert run_with_server(tmp_path, scenario, {"quickstart-chat": CHAT}) == "hello from a game loop\n"


def test_async_callbacks_are_scheduled_on_the_loop(tmp_path: Path) -> None:
    """The doc's "a callback may be `async def`" on async connections."""

    async def scenario(server: Server, uri: str) -> None:
        seen: list[str] = []

        async def on_message(ctx: Any, row: Any) -> None:
            await asyncio.sleep(0)
            seen.append(row.text)

        async with client.connect(uri, "quickstart-chat") as conn:
            conn.db.message.on_insert(on_message)
            await conn.subscription_builder().subscribe("SELECT * FROM message")
            await conn.reducers.send_message("async")
            for _ in range(200):  # bounded
                if seen:
                    break
                await asyncio.sleep(0.01)
            assert seen == ["async"]

    run_with_server(tmp_path, scenario, {"quickstart-chat": CHAT})


@pytest.mark.slow
def test_the_program_blocks_pass_mypy_strict(bindings_dir: Path, tmp_path: Path) -> None:
    names = []
    for i, marker in enumerate(["client.connect(", "with_confirmed_reads(True)", "build_sync()"]):
        (tmp_path / f"doc_block_{i}.py").write_text(block(marker), "utf-8")
        names.append(f"doc_block_{i}.py")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir", str(tmp_path / ".mypy_cache"),
         *names],
        cwd=tmp_path, env={**os.environ, "MYPYPATH": str(bindings_dir)}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
