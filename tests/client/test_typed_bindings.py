"""A typed module description (hand-written in the generated shape) plugs into the runtime: typed
rows, `conn.db.user.identity.find`, `conn.reducers.<name>`, and mypy accepts the user's code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from spacetimedb.server.app import Server

from .harness import ROOT, run_with_server
from .typed_chat_bindings import DbConnection, Message, User

USER_CODE = '''
from tests.client.typed_chat_bindings import DbConnection, EventContext, Message, User


async def main(token: str | None) -> None:
    async with DbConnection.builder().with_uri("ws://127.0.0.1:3000").with_database_name("chat").with_token(token).build() as conn:
        def on_message(ctx: EventContext, row: Message) -> None:
            print(row.text.upper())

        conn.db.message.on_insert(on_message)
        await conn.subscription_builder().subscribe(["SELECT * FROM message"])
        await conn.reducers.send_message("hello")
        me: User | None = conn.db.user.identity.find(conn.identity)
        texts: list[str] = [m.text for m in conn.db.message.iter()]
        print(me, texts, len(conn.db.message))
'''


def test_typed_bindings_against_the_server(tmp_path: Path) -> None:
    async def scenario(server: Server, uri: str) -> None:
        inserted: list[Message] = []
        async with DbConnection.builder().with_uri(uri).with_database_name("chat").build() as conn:
            assert isinstance(conn, DbConnection)
            conn.db.message.on_insert(lambda ctx, row: inserted.append(row))
            await conn.subscription_builder().subscribe(["SELECT * FROM message", "SELECT * FROM user"])
            await conn.reducers.set_name("Ada")
            await conn.reducers.send_message("typed")
            me = conn.db.user.identity.find(conn.identity)
            assert isinstance(me, User) and me.name == "Ada" and me.online
            assert [type(m) for m in inserted] == [Message] and inserted[0].text == "typed"
            assert inserted[0].sender == conn.identity

    run_with_server(tmp_path, scenario)


def test_user_code_on_typed_bindings_type_checks(tmp_path: Path) -> None:
    code = tmp_path / "user_code.py"
    code.write_text(USER_CODE)
    mypy = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent", str(code)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr
