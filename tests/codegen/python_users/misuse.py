"""Wrong uses of generated bindings: mypy must report an error on every line marked `# error`."""

from __future__ import annotations

from quickstart_chat_bindings import SendMessageArgs, User
from simple_game_bindings import MovePlayerArgs

SendMessageArgs(text=42)  # error: an int where the reducer takes a str
MovePlayerArgs(dx="left", dy=0.0)  # error: a str where the reducer takes an f32
User(identity="me", name=None, online=True)  # error: a str where the row has an Identity
name: int = SendMessageArgs("x").text  # error: str is not int
