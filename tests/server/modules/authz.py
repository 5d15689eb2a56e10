"""A module for the authorization matrix (tests/server/test_authz_matrix.py): a public and a private
table, a plain reducer, lifecycle reducers, and two scheduled reducers (private: the owner's only), one
also guarded the way docs/modules.md shows."""

from typing import Annotated

from spacetimedb import (
    ReducerContext,
    ScheduleAt,
    SenderError,
    client_connected,
    init,
    primary_key,
    reducer,
    table,
    u64,
)
from spacetimedb.module import auto_inc


@table(public=True)
class Note:
    id: Annotated[u64, primary_key]
    text: str


@table
class Secret:
    id: Annotated[u64, primary_key]
    text: str


@init
def setup(ctx: ReducerContext) -> None:
    ctx.db.note.insert(Note(id=1, text="public"))
    ctx.db.secret.insert(Secret(id=1, text="private"))


@client_connected
def connected(ctx: ReducerContext) -> None:
    pass


@reducer
def add_note(ctx: ReducerContext, id: u64, text: str) -> None:
    ctx.db.note.insert(Note(id=id, text=text))


@reducer
def open_tick(ctx: ReducerContext, job: "OpenJob") -> None:
    """Scheduled, unguarded: the owner can call it directly."""


@reducer
def guarded_tick(ctx: ReducerContext, job: "GuardedJob") -> None:
    if ctx.sender != ctx.identity:
        raise SenderError("guarded_tick can only be called by the scheduler")


@table(scheduled=open_tick)
class OpenJob:
    scheduled_id: Annotated[u64, primary_key, auto_inc]
    scheduled_at: ScheduleAt


@table(scheduled=guarded_tick)
class GuardedJob:
    scheduled_id: Annotated[u64, primary_key, auto_inc]
    scheduled_at: ScheduleAt
