"""Wrong uses of generated bindings: mypy must report an error on every line marked `# error`."""

from __future__ import annotations

from events_bindings import DbConnection as EventsConnection
from price_feed_bindings import DbConnection as PriceConnection
from quickstart_chat_bindings import DbConnection, Message, SendMessageArgs, User
from simple_game_bindings import MovePlayerArgs

SendMessageArgs(text=42)  # error: an int where the reducer takes a str
MovePlayerArgs(dx="left", dy=0.0)  # error: a str where the reducer takes an f32
User(identity="me", name=None, online=True)  # error: a str where the row has an Identity
name: int = SendMessageArgs("x").text  # error: str is not int


async def misuse(conn: DbConnection, prices: PriceConnection, events: EventsConnection) -> None:
    await conn.reducers.send_message(42)  # error: a reducer argument of the wrong type
    await conn.reducers.set_name()  # error: a missing reducer argument
    conn.db.user.identity.find("not an identity")  # error: find takes the column's type
    conn.db.message.on_insert(lambda ctx, row: row.no_such_field)  # error: Message has no such field
    text: str = await prices.procedures.stored_price("BTC")  # error: the procedure returns an int
    user: Message | None = conn.db.user.identity.find(conn.identity)  # error: find returns a User
    print(text, user)
    conn.db.mesage.iter()  # error: a misspelt table is no attribute of RemoteTables
    conn.db.message.on_update(lambda ctx, old, new: None)  # error: message has no primary key: no on_update
    conn.db.user.on_insert(lambda ctx, row: ctx.db.users)  # error: ctx.db is typed too
    conn.db.user.on_insert(lambda ctx, row: ctx.event.status)  # error: ctx.event is a union: narrow it first
    conn.subscription_builder().on_applied(lambda ctx: ctx.reducers.no_such_reducer())  # error: ctx is typed
    events.db.ping.on_delete(lambda ctx, row: None)  # error: event-table rows are never stored, never deleted
    events.db.ping.on_insert(lambda ctx, row: row.value)  # error: Ping has n, not value
