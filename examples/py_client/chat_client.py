"""A terminal chat for the quickstart chat module (examples/quickstart_chat.py), on the Python client SDK.

    python examples/py_client/chat_client.py --uri ws://127.0.0.1:3000 --db quickstart-chat

Type a line to send it; `/name NAME` sets your name; Ctrl-D quits. The same client as the official
quickstart's console client: it prints the messages so far, then new ones as they arrive, and users
coming online, going offline and renaming themselves. The token is kept in `--token-file`, so you are
the same user next time. Input may be piped (`printf '/name Ada\\nHi\\n' | python chat_client.py
--exit-after 2`): it sends the lines, then keeps printing for `--exit-after` seconds.

`chat_bindings/` next to this file is what `spacetimedb generate --lang python --out-dir chat_bindings
-p examples/quickstart_chat.py` writes. Output uses `rich` when it is installed, plain text otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from chat_bindings import DbConnection, EventContext, Message, User

from spacetimedb import Identity
from spacetimedb.client import ClientError, ReducerError, SubscribeAppliedEvent

try:
    from rich.console import Console
    from rich.text import Text
except ImportError:  # the client-only install (spacetimedb-client) does not bring rich
    Console = None  # type: ignore[assignment,misc]


class Screen:
    """Prints chat lines: with colours through rich when it is there; user text is never markup."""

    def __init__(self) -> None:
        self.console = Console(highlight=False) if Console is not None else None

    def say(self, who: str, text: str) -> None:
        if self.console is not None:
            self.console.print(Text.assemble((who, "bold cyan"), ": ", text))
        else:
            print(f"{who}: {text}", flush=True)

    def note(self, text: str) -> None:
        if self.console is not None:
            self.console.print(Text(text, style="dim"))
        else:
            print(text, flush=True)


class Chat:
    def __init__(self, conn: DbConnection, screen: Screen) -> None:
        self.conn = conn
        self.screen = screen

    def user_name(self, identity: Identity) -> str:
        user = self.conn.db.user.identity.find(identity)
        return user.name if user is not None and user.name else identity.to_hex()[:8]

    # The rows already there arrive with the subscription (a SubscribeAppliedEvent): `on_applied`
    # prints those messages, in the order they were sent; the callbacks print what happens next.

    def on_message(self, ctx: EventContext, message: Message) -> None:
        if not isinstance(ctx.event, SubscribeAppliedEvent):
            self.screen.say(self.user_name(message.sender), message.text)

    def on_user_insert(self, ctx: EventContext, user: User) -> None:
        if not isinstance(ctx.event, SubscribeAppliedEvent) and user.online:
            self.screen.note(f"User {self.user_name(user.identity)} connected.")

    def on_user_update(self, ctx: EventContext, old: User, new: User) -> None:
        if old.name != new.name:
            self.screen.note(f"User {old.name or old.identity.to_hex()[:8]} renamed to {new.name}.")
        if old.online != new.online:
            state = "connected" if new.online else "disconnected"
            self.screen.note(f"User {self.user_name(new.identity)} {state}.")

    def on_applied(self, ctx: EventContext) -> None:
        for message in sorted(self.conn.db.message.iter(), key=lambda m: m.sent.micros):
            self.screen.say(self.user_name(message.sender), message.text)

    async def handle(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        try:
            if line == "/name" or line.startswith("/name "):
                await self.conn.reducers.set_name(line[len("/name") :].strip())
            else:
                await self.conn.reducers.send_message(line)
        except ReducerError as e:  # the module's own message, e.g. "Names must not be empty"
            self.screen.note(f"Error: {e.message}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--uri", default="ws://127.0.0.1:3000", help="the server (default ws://127.0.0.1:3000)")
    p.add_argument("--db", default="quickstart-chat", help="the database (default quickstart-chat)")
    p.add_argument("--token-file", type=Path, default=Path.home() / ".spacetimedb-chat-token",
                   help="where your token is kept between runs")  # fmt: skip
    p.add_argument("--exit-after", type=float, default=0.0,
                   help="after the input ends, keep printing for this many seconds, then quit")  # fmt: skip
    return p.parse_args(argv)


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    screen = Screen()
    token = args.token_file.read_text().strip() if args.token_file.exists() else None

    def save_token(conn: DbConnection, identity: Identity, new_token: str) -> None:
        args.token_file.write_text(new_token)

    builder = (
        DbConnection.builder()
        .with_uri(args.uri)
        .with_database_name(args.db)
        .with_token(token)
        .on_connect(save_token)
    )
    try:
        async with builder.build() as conn:
            chat = Chat(conn, screen)
            conn.db.message.on_insert(chat.on_message)
            conn.db.user.on_insert(chat.on_user_insert)
            conn.db.user.on_update(chat.on_user_update)
            await (
                conn.subscription_builder()
                .on_applied(chat.on_applied)
                .subscribe(["SELECT * FROM message", "SELECT * FROM user"])
            )
            screen.note(f"Connected as {chat.user_name(conn.identity)}; listening. Ctrl-D quits.")
            while line := await asyncio.to_thread(sys.stdin.readline):  # "" at the end of the input
                await chat.handle(line)
            await asyncio.sleep(args.exit_after)
    except ClientError as e:
        print(f"chat: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(asyncio.run(main()))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
