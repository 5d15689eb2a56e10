"""A procedure example: fetch a price over HTTP, store it in a transaction, return it.

    spacetimedb publish examples/price_feed.py prices
    spacetimedb call prices fetch_price '["BTC", "http://127.0.0.1:8000/price"]'

`fetch_price` waits on the network outside any transaction (the database keeps serving reducers
meanwhile), then writes the row in `ctx.with_tx` and returns the price to the caller.
"""

from __future__ import annotations

from typing import Annotated

from spacetimedb import (
    ProcedureContext,
    ReducerContext,
    SenderError,
    primary_key,
    procedure,
    reducer,
    table,
    u64,
)


@table(public=True)
class Price:
    symbol: Annotated[str, primary_key]
    cents: u64


@procedure
def fetch_price(ctx: ProcedureContext, symbol: str, source: str) -> u64:
    """GET `<source>/<symbol>`; the service answers the price in cents as plain text."""
    resp = ctx.http.get(f"{source}/{symbol}", timeout=5.0)
    if resp.status != 200:
        raise SenderError(f"price service answered {resp.status}")
    try:
        cents = int(resp.text())
    except ValueError:
        raise SenderError(f"price service answered {resp.text()[:40]!r}, not a number") from None

    def store(tx: ReducerContext) -> None:
        old = tx.db.price.symbol.find(symbol)
        if old is None:
            tx.db.price.insert(Price(symbol=symbol, cents=cents))
        else:
            tx.db.price.symbol.update(Price(symbol=symbol, cents=cents))

    ctx.with_tx(store)
    ctx.log.info("%s is %d cents", symbol, cents)
    return cents


@procedure
def stored_price(ctx: ProcedureContext, symbol: str) -> u64 | None:
    """The last stored price, read in a transaction (no HTTP)."""

    def read(tx: ReducerContext) -> u64 | None:
        row = tx.db.price.symbol.find(symbol)
        return None if row is None else row.cents

    return ctx.with_tx(read)


@reducer
def set_price(ctx: ReducerContext, symbol: str, cents: u64) -> None:
    """A manual override (the owner's or anyone's: a real module would check ctx.sender)."""
    if ctx.db.price.symbol.find(symbol) is None:
        ctx.db.price.insert(Price(symbol=symbol, cents=cents))
    else:
        ctx.db.price.symbol.update(Price(symbol=symbol, cents=cents))
