"""A chat client's use of `quickstart_chat_bindings` (the issue's example): every line must type-check."""

from __future__ import annotations

from quickstart_chat_bindings import DbConnection, EventContext, Message, SendMessageArgs, User

from spacetimedb import Identity, Timestamp
from spacetimedb.client import ReducerError, ReducerEvent


def describe(user: User, message: Message) -> str:
    name: str | None = user.name
    online: bool = user.online
    who: Identity = message.sender
    when: Timestamp = message.sent
    return f"{name or who.to_hex()[:8]} ({online}) at {when}: {message.text}"


def args() -> SendMessageArgs:
    return SendMessageArgs(text="hello")


def on_message(ctx: EventContext, row: Message) -> None:
    author: User | None = ctx.db.user.identity.find(row.sender)  # ctx.db is the typed RemoteTables
    if isinstance(ctx.event, ReducerEvent):  # ctx.event is a union: narrow it
        status: str = ctx.event.status
        caller: Identity = ctx.event.caller_identity
        print(status, caller, ctx.event.reducer)
    print(author, row.text, ctx.identity)


def on_user_update(ctx: EventContext, old: User, new: User) -> None:
    print(old.name, "->", new.name)
    ctx.reducers.send_message("welcome")  # ctx.reducers is the typed RemoteReducers


def on_applied(ctx: EventContext) -> None:
    print(len(ctx.db.message), ctx.db.user.count())


async def chat(token: str | None) -> None:
    builder = (
        DbConnection.builder()
        .with_uri("ws://127.0.0.1:3000")
        .with_database_name("quickstart-chat")
        .with_token(token)
        .on_connect(lambda conn, identity, token: print(identity.to_hex(), len(token)))
    )
    async with builder.build() as conn:
        conn.db.message.on_insert(on_message)
        conn.db.user.on_update(on_user_update)
        conn.db.user.remove_on_update(on_user_update)
        conn.db.user.on_insert(lambda ctx, row: print(ctx.db.message.count(), row.online))
        sub = await conn.subscription_builder().on_applied(on_applied).on_error(lambda ctx, e: print(e)).subscribe(
            ["SELECT * FROM message", "SELECT * FROM user WHERE online = TRUE"]
        )
        try:
            await conn.reducers.send_message("hello")
        except ReducerError as e:
            print(e.message)
        me: User | None = conn.db.user.identity.find(conn.identity)
        texts: list[str] = [m.text for m in conn.db.message.iter()]
        count: int = len(conn.db.message) + conn.db.user.count()
        print(me, texts, count)
        await sub.unsubscribe()


def sync_chat() -> None:
    conn = DbConnection.builder().with_uri("ws://127.0.0.1:3000").with_database_name("quickstart-chat").build_sync()
    pending = conn.reducers.set_name("Ada")
    while not pending.done():
        conn.frame_tick(0.1)
    pending.result()
    for user in conn.db.user:
        print(user.identity.to_hex())
