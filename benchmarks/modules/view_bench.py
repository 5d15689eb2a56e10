"""The module of `benchmarks/subscriptions.py --views`: one account per client, read through a
per-caller view by a unique-index lookup (as the money-exchange template's `my_account`)."""

from typing import Annotated

from spacetimedb import Identity, ViewContext, i64, primary_key, table, view


@table
class Account:
    owner: Annotated[Identity, primary_key]
    balance: i64


@view(public=True)
def my_account(ctx: ViewContext) -> Account | None:
    return ctx.db.account.owner.find(ctx.sender)
