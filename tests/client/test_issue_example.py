"""The API example of the client SDK's issue, as written there, with bindings generated for
examples/quickstart_chat.py: it passes `mypy --strict` and runs against our server (the only changes:
the server's address, `token` and `save` defined, and asserts on what it printed)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import subprocess
import sys
from pathlib import Path

from spacetimedb.codegen.module_view import load_module_view
from spacetimedb.codegen.python import generate_python
from spacetimedb.module.loader import load_module
from spacetimedb.server.app import Server

from .harness import CHAT, run_with_server

EXAMPLE = '''\
import asyncio
from chat_bindings import DbConnection, Message      # spacetimedb generate --lang python --out-dir chat_bindings

from spacetimedb.client import ReducerError

URI = "ws://127.0.0.1:3000"
token: str | None = None
saved: list[str] = []
applied: list[int] = []
updated: list[tuple[str | None, str | None]] = []


def save(token: str) -> None:
    saved.append(token)


async def main() -> None:
    builder = (
        DbConnection.builder()
        .with_uri(URI)
        .with_database_name("quickstart-chat")
        .with_token(token)                           # optional; None = a new identity
        .on_connect(lambda conn, identity, token: save(token))
    )
    async with builder.build() as conn:              # build() is awaitable and an async context manager
        conn.db.message.on_insert(lambda ctx, row: print(row.text))
        conn.db.user.on_update(lambda ctx, old, new: updated.append((old.name, new.name)))
        await conn.subscription_builder().on_applied(lambda ctx: applied.append(len(ctx.db.user))).subscribe(
            ["SELECT * FROM message", "SELECT * FROM user WHERE online = TRUE"])   # returns when applied
        assert applied == [1]                          # applied when the await returns
        await conn.reducers.send_message("hello")     # raises ReducerError(message) on a SenderError
        me = conn.db.user.identity.find(conn.identity)
        print(len(conn.db.message), [m.text for m in conn.db.message.iter()])
        # beyond the snippet: the error, and on_update on a user row
        try:
            await conn.reducers.send_message("")
        except ReducerError as e:
            print("refused:", e.message)
        await conn.reducers.set_name("Ada")
        assert me is not None and me.online and saved == [conn.token]
        last: Message = list(conn.db.message.iter())[-1]
        print(last.text, conn.db.user.identity.find(conn.identity))
'''


def _bindings(out: Path) -> None:
    view = load_module_view(load_module(CHAT).raw_module_def_json())
    for rel, text in generate_python(view).items():
        (out / "chat_bindings").mkdir(parents=True, exist_ok=True)
        (out / "chat_bindings" / rel).write_text(text, "utf-8")
    (out / "issue_example.py").write_text(EXAMPLE, "utf-8")


def test_the_issue_example_type_checks_with_mypy_strict(tmp_path: Path) -> None:
    _bindings(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir", str(tmp_path / ".mypy_cache"),
         "chat_bindings", "issue_example.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_issue_example_runs_against_our_server(tmp_path: Path) -> None:
    _bindings(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        example = importlib.import_module("issue_example")

        async def scenario(server: Server, uri: str) -> str:
            example.URI = uri
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                await asyncio.wait_for(example.main(), 60)
            return out.getvalue()

        printed = run_with_server(tmp_path, scenario, {"quickstart-chat": CHAT})
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("issue_example", "chat_bindings"):
            sys.modules.pop(name, None)
    lines = printed.splitlines()
    assert lines[:3] == ["hello", "1 ['hello']", "refused: Messages must not be empty"], printed
    assert lines[3].startswith("hello User(") and "name='Ada'" in lines[3]
    assert example.updated == [(None, "Ada")] and len(example.saved) == 1
