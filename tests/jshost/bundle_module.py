"""A small module for tests/jshost: print, logging, auto-increment, errors, a view and a procedure."""

import logging
from typing import Annotated

from spacetimedb import (
    AnonymousViewContext,
    HttpError,
    ProcedureContext,
    ReducerContext,
    SenderError,
    auto_inc,
    primary_key,
    procedure,
    reducer,
    table,
    u64,
    view,
)

log = logging.getLogger(__name__)


@table(name="item", public=True)
class Item:
    id: Annotated[u64, primary_key, auto_inc]
    name: str


@reducer
def add(ctx: ReducerContext, name: str) -> None:
    print(f"print: adding {name}")
    log.warning("logging: adding %s", name)
    row = ctx.db.item.insert(Item(id=0, name=name))
    ctx.log.info(f"ctx.log: {name} got id {row.id}")


@reducer
def refuse(ctx: ReducerContext) -> None:
    ctx.db.item.insert(Item(id=0, name="never"))
    raise SenderError("refused on purpose")


@reducer
def crash(ctx: ReducerContext) -> None:
    raise ValueError("a bug in the module")


@reducer
def roll(ctx: ReducerContext) -> None:
    ctx.db.item.insert(Item(id=0, name=f"roll {ctx.rng.randrange(1_000_000)}"))


@reducer
def late_import(ctx: ReducerContext) -> None:
    import fractions  # not imported when the snapshot was taken: read from the stdlib zip

    ctx.db.item.insert(Item(id=0, name=f"late {fractions.Fraction(2, 6)}"))


@reducer
def whoami(ctx: ReducerContext) -> None:
    jwt = ctx.sender_auth.jwt
    ctx.log.info(f"subject {jwt.subject}" if jwt is not None else "no token")


@view(public=True)
def all_items(ctx: AnonymousViewContext) -> list[Item]:
    return list(ctx.db.item.iter())


@procedure
def fetch(ctx: ProcedureContext, url: str) -> str:
    try:
        return ctx.http.get(url, timeout=2.0).text()
    except HttpError as e:
        return f"HttpError: {e}"


@procedure
def count_items(ctx: ProcedureContext) -> u64:
    return ctx.with_tx(lambda tx: tx.db.item.count())
