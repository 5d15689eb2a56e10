"""The keynote transfer workload: accounts and transfers between them.

    spacetimedb call bank seed 100000 1000000000
    spacetimedb call bank transfer 1 2 100
"""

from typing import Annotated

from spacetimedb import ReducerContext, SenderError, i64, primary_key, reducer, table, u32


@table(name="accounts", public=True)
class Account:
    id: Annotated[u32, primary_key]
    balance: i64


@reducer
def seed(ctx: ReducerContext, n: u32, balance: i64) -> None:
    """Replace every account with accounts 0..n-1, each holding `balance`."""
    ctx.db.accounts.clear()
    for i in range(n):
        ctx.db.accounts.insert(Account(id=i, balance=balance))


@reducer
def transfer(ctx: ReducerContext, from_id: u32, to_id: u32, amount: i64) -> None:
    """Move `amount` from one account to another."""
    if from_id == to_id:
        raise SenderError("cannot transfer to the same account")
    if amount <= 0:
        raise SenderError("amount must be positive")
    accounts = ctx.db.accounts.id
    src = accounts.find(from_id)
    if src is None:
        raise SenderError(f"account {from_id} does not exist")
    dst = accounts.find(to_id)
    if dst is None:
        raise SenderError(f"account {to_id} does not exist")
    if src.balance < amount:
        raise SenderError(f"insufficient funds: account {from_id} has {src.balance}, needs {amount}")
    src.balance -= amount
    dst.balance += amount
    accounts.update(src)
    accounts.update(dst)
