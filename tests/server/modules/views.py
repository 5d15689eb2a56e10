"""A module with views: a per-sender one over a unique index, an anonymous one over a scan."""

from typing import Annotated

from spacetimedb import (
    AnonymousViewContext,
    Identity,
    ReducerContext,
    ViewContext,
    i64,
    primary_key,
    reducer,
    table,
    view,
)


@table(public=True)
class Account:
    identity: Annotated[Identity, primary_key]
    name: str
    balance: i64


@table(public=True)
class Player:
    name: str
    score: i64


@reducer
def open_account(ctx: ReducerContext, name: str, balance: i64) -> None:
    ctx.db.account.insert(Account(identity=ctx.sender, name=name, balance=balance))


@reducer
def set_balance(ctx: ReducerContext, balance: i64) -> None:
    acc = ctx.db.account.identity.find(ctx.sender)
    assert acc is not None
    acc.balance = balance
    ctx.db.account.identity.update(acc)


@reducer
def add_player(ctx: ReducerContext, name: str, score: i64) -> None:
    ctx.db.player.insert(Player(name=name, score=score))


@view(public=True)
def my_account(ctx: ViewContext) -> Account | None:
    return ctx.db.account.identity.find(ctx.sender)


@view(public=True)
def top_players(ctx: AnonymousViewContext) -> list[Player]:
    return sorted(ctx.db.player.iter(), key=lambda p: -p.score)[:2]


@view(public=True)
def fragile(ctx: AnonymousViewContext) -> list[Player]:
    players = list(ctx.db.player.iter())
    if any(p.name == "boom" for p in players):
        raise ValueError("a player named boom")
    return players
