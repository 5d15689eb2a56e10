"""A chat client's use of `quickstart_chat_bindings`: every line must type-check."""

from __future__ import annotations

from quickstart_chat_bindings import Message, SendMessageArgs, User

from spacetimedb import Identity, Timestamp


def describe(user: User, message: Message) -> str:
    name: str | None = user.name
    online: bool = user.online
    who: Identity = message.sender
    when: Timestamp = message.sent
    return f"{name or who.to_hex()[:8]} ({online}) at {when}: {message.text}"


def args() -> SendMessageArgs:
    return SendMessageArgs(text="hello")
