"""Bindings for examples/quickstart_chat.py written by hand in the shape `spacetimedb generate --lang
python` targets (docs/client.md, "How generated bindings plug in"); type-checked by mypy in the test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from spacetimedb import Identity, Timestamp
from spacetimedb.client import (
    DbConnection as _DbConnection,
)
from spacetimedb.client import EventContext as _EventContext
from spacetimedb.client import (
    ModuleInfo,
    PrimaryKeyTableHandle,
    ReducerInfo,
    TableHandle,
    TableInfo,
    Tables,
    UniqueIndex,
)


@dataclass
class User:
    identity: Identity
    name: str | None
    online: bool


@dataclass
class Message:
    sender: Identity
    sent: Timestamp
    text: str


@dataclass
class SetNameArgs:
    name: str


@dataclass
class SendMessageArgs:
    text: str


EventContext: TypeAlias = _EventContext["RemoteTables", "RemoteReducers", "Any"]


class UserTable(PrimaryKeyTableHandle[User, EventContext]):
    identity: UniqueIndex[User, Identity]


class RemoteTables(Tables):
    user: UserTable
    message: TableHandle[Message, EventContext]


class RemoteReducers:
    def __init__(self, call: Callable[[str, Any], Any]) -> None:
        self._call = call

    def set_name(self, name: str) -> Any:
        return self._call("set_name", SetNameArgs(name))

    def send_message(self, text: str) -> Any:
        return self._call("send_message", SendMessageArgs(text))


class RemoteProcedures:
    def __init__(self, call: Callable[[str, Any], Any]) -> None:
        self._call = call


MODULE = ModuleInfo(
    tables={
        "user": TableInfo(name="user", row_type=User, primary_key="identity", unique_columns=("identity",), handle_type=UserTable),
        "message": TableInfo(name="message", row_type=Message),
    },
    reducers={
        "set_name": ReducerInfo(name="set_name", args_type=SetNameArgs),
        "send_message": ReducerInfo(name="send_message", args_type=SendMessageArgs),
    },
    db_type=RemoteTables,
    reducers_type=RemoteReducers,
    procedures_type=RemoteProcedures,
)


class DbConnection(_DbConnection[RemoteTables, RemoteReducers, RemoteProcedures]):
    MODULE = MODULE
