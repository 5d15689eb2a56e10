"""The power-cut test's module: accounts seeded by init, transfers that each leave a receipt row.

Every transfer succeeds (distinct accounts, amount 1, balances far from zero), so the recovered
state is exactly: init's accounts, then the first k transfers, for some k.
"""

from typing import Annotated

from spacetimedb import ReducerContext, i64, primary_key, reducer, table, u32, u64

ACCOUNTS, INITIAL = 8, 1_000_000


@table(name="accounts", public=True)
class Account:
    id: Annotated[u32, primary_key]
    balance: i64


@table(name="receipts", public=True)
class Receipt:
    id: Annotated[u64, primary_key]
    src: u32
    dst: u32


@reducer(lifecycle="init")
def init(ctx: ReducerContext) -> None:
    for i in range(ACCOUNTS):
        ctx.db.accounts.insert(Account(id=i, balance=INITIAL))


@reducer
def transfer(ctx: ReducerContext, id: u64, src: u32, dst: u32) -> None:
    a, b = ctx.db.accounts.id.find(src), ctx.db.accounts.id.find(dst)
    a.balance -= 1
    b.balance += 1
    ctx.db.accounts.id.update(a)
    ctx.db.accounts.id.update(b)
    ctx.db.receipts.insert(Receipt(id=id, src=src, dst=dst))
