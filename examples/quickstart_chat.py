"""SpacetimeDB's quickstart chat, in Python: the same tables, reducers and errors as the official
template (`templates/chat-console-rs`), so its clients work against it unchanged.

    spacetimedb publish quickstart-chat examples/quickstart_chat.py
"""

from typing import Annotated

from spacetimedb import (
    Identity,
    ReducerContext,
    SenderError,
    Timestamp,
    client_connected,
    client_disconnected,
    primary_key,
    reducer,
    table,
)


@table(name="user", public=True)
class User:
    identity: Annotated[Identity, primary_key]
    name: str | None
    online: bool


@table(name="message", public=True)
class Message:
    sender: Identity
    sent: Timestamp
    text: str


def validate_name(name: str) -> str:
    if not name:
        raise SenderError("Names must not be empty")
    return name


@reducer
def set_name(ctx: ReducerContext, name: str) -> None:
    name = validate_name(name)
    user = ctx.db.user.identity.find(ctx.sender)
    if user is None:
        raise SenderError("Cannot set name for unknown user")
    ctx.log.info(f"User {ctx.sender} sets name to {name}")
    user.name = name
    ctx.db.user.identity.update(user)


def validate_message(text: str) -> str:
    if not text:
        raise SenderError("Messages must not be empty")
    return text


@reducer
def send_message(ctx: ReducerContext, text: str) -> None:
    # Things to consider: rate-limit messages per user; reject messages from unnamed users.
    text = validate_message(text)
    ctx.log.info(f"User {ctx.sender}: {text}")
    ctx.db.message.insert(Message(sender=ctx.sender, text=text, sent=ctx.timestamp))


@reducer(lifecycle="init")  # the same as @init; this spelling keeps upstream's reducer name "init"
def init(ctx: ReducerContext) -> None:
    """Called when the module is first published."""


@client_connected
def identity_connected(ctx: ReducerContext) -> None:
    user = ctx.db.user.identity.find(ctx.sender)
    if user is not None:
        # A returning user: set online, keep the name.
        user.online = True
        ctx.db.user.identity.update(user)
    else:
        # A new user: online, but without a name yet.
        ctx.db.user.insert(User(name=None, identity=ctx.sender, online=True))


@client_disconnected
def identity_disconnected(ctx: ReducerContext) -> None:
    user = ctx.db.user.identity.find(ctx.sender)
    if user is not None:
        user.online = False
        ctx.db.user.identity.update(user)
    else:
        # Unreachable in practice: a client cannot disconnect without connecting first.
        ctx.log.warn(f"Disconnect event for unknown user with identity {ctx.sender!r}")
