"""A small chat module for the server's end-to-end tests (the quickstart chat plus a joinable table).

Tables: user (public, identity pk), message (public), pet (public, owner indexed: join target),
audit (private). Lifecycle: connect/disconnect mark users online; a user named "banned" is refused.
"""

from typing import Annotated

from spacetimedb import (
    Identity,
    ReducerContext,
    ScheduleAt,
    SenderError,
    TimeDuration,
    Timestamp,
    client_connected,
    client_disconnected,
    index,
    init,
    primary_key,
    reducer,
    table,
    u64,
)
from spacetimedb.module import auto_inc


@table(public=True)
class User:
    identity: Annotated[Identity, primary_key]
    name: str | None
    online: bool


@table(public=True)
class Message:
    sender: Identity
    sent: Timestamp
    text: str


@table(public=True)
class Pet:
    id: Annotated[u64, primary_key, auto_inc]
    owner: Annotated[Identity, index]
    name: str


@table
class Audit:
    id: Annotated[u64, primary_key, auto_inc]
    event: str


@init
def setup(ctx: ReducerContext) -> None:
    ctx.db.audit.insert(Audit(id=0, event="init"))


@reducer
def set_name(ctx: ReducerContext, name: str) -> None:
    if not name:
        raise SenderError("Names must not be empty")
    user = ctx.db.user.identity.find(ctx.sender)
    if user is None:
        raise SenderError("Cannot set name for unknown user")
    user.name = name
    ctx.db.user.identity.update(user)


@reducer
def send_message(ctx: ReducerContext, text: str) -> None:
    if not text:
        raise SenderError("Messages must not be empty")
    ctx.db.message.insert(Message(sender=ctx.sender, sent=ctx.timestamp, text=text))


@reducer
def adopt(ctx: ReducerContext, name: str) -> None:
    ctx.db.pet.insert(Pet(id=0, owner=ctx.sender, name=name))


@reducer
def crash(ctx: ReducerContext) -> None:
    raise ZeroDivisionError("deliberate crash")


@client_connected
def connected(ctx: ReducerContext) -> None:
    user = ctx.db.user.identity.find(ctx.sender)
    if user is not None and user.name == "banned":
        raise SenderError("banned users may not connect")
    if user is None:
        ctx.db.user.insert(User(identity=ctx.sender, name=None, online=True))
    else:
        user.online = True
        ctx.db.user.identity.update(user)
    ctx.db.audit.insert(Audit(id=0, event="connected"))


@client_disconnected
def disconnected(ctx: ReducerContext) -> None:
    user = ctx.db.user.identity.find(ctx.sender)
    if user is not None:
        user.online = False
        ctx.db.user.identity.update(user)


@reducer
def remind(ctx: ReducerContext, job: "Reminder") -> None:
    ctx.db.message.insert(Message(sender=ctx.sender, sent=ctx.timestamp, text=f"reminder: {job.text}"))


@table(scheduled=remind, public=True)
class Reminder:
    scheduled_id: Annotated[u64, primary_key, auto_inc]
    scheduled_at: ScheduleAt
    text: str = ""


@reducer
def remind_me(ctx: ReducerContext, text: str, delay_micros: u64) -> None:
    at = ScheduleAt(Timestamp(ctx.timestamp.micros + delay_micros))
    ctx.db.reminder.insert(Reminder(scheduled_id=0, scheduled_at=at, text=text))
    assert TimeDuration  # imported for modules that schedule intervals


@table(public=True, event=True)
class Ping:
    text: str


@reducer
def ping(ctx: ReducerContext, text: str) -> None:
    ctx.db.ping.insert(Ping(text=text))
