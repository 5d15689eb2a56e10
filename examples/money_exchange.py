"""Money exchange: a Python port of SpacetimeDB's money-exchange template module.

Every client gets an account with a starting balance when it first connects, picks a display
name (the public `directory`), and sends money to other named clients. Balances and the ledger are
private tables: each client reads only its own through the per-caller views `my_account` and
`my_account_changes`.

    spacetimedb publish money -p examples/money_exchange.py
    spacetimedb call money set_name '"Ada"'
    spacetimedb sql money "SELECT * FROM directory"
"""

import enum
from typing import Annotated

from spacetimedb import (
    Identity,
    ReducerContext,
    SenderError,
    Timestamp,
    ViewContext,
    auto_inc,
    client_connected,
    index,
    primary_key,
    reducer,
    table,
    u64,
    unique,
    view,
)

STARTING_BALANCE_CENTS = 10_000
MAX_NAME_LENGTH = 20
MAX_U64 = (1 << 64) - 1


@table(public=True)
class Directory:
    identity: Annotated[Identity, primary_key]
    name: str
    name_key: Annotated[str, unique]


@table
class Account:
    identity: Annotated[Identity, primary_key]
    balance_cents: u64


class ChangeDirection(enum.Enum):
    Credit = 0
    Debit = 1


@table
class AccountChange:
    id: Annotated[u64, primary_key, auto_inc]
    account_identity: Annotated[Identity, index]
    counterparty_identity: Identity
    direction: ChangeDirection
    amount_cents: u64
    created_at: Timestamp


@client_connected
def on_connect(ctx: ReducerContext) -> None:
    if ctx.db.account.identity.find(ctx.sender) is None:
        ctx.db.account.insert(Account(identity=ctx.sender, balance_cents=STARTING_BALANCE_CENTS))


@view(public=True)
def my_account(ctx: ViewContext) -> Account | None:
    return ctx.db.account.identity.find(ctx.sender)


@view(public=True)
def my_account_changes(ctx: ViewContext) -> list[AccountChange]:
    return list(ctx.db.account_change.account_identity.filter(ctx.sender))


@reducer
def set_name(ctx: ReducerContext, name: str) -> None:
    if ctx.db.account.identity.find(ctx.sender) is None:
        raise SenderError("Account is not ready yet")
    display_name = name.strip()
    if not 0 < len(display_name) <= MAX_NAME_LENGTH:
        raise SenderError(f"Names must be between 1 and {MAX_NAME_LENGTH} characters")
    name_key = display_name.lower()
    owner = ctx.db.directory.name_key.find(name_key)
    if owner is not None and owner.identity != ctx.sender:
        raise SenderError("That name is already in use")
    entry = Directory(identity=ctx.sender, name=display_name, name_key=name_key)
    if ctx.db.directory.identity.find(ctx.sender) is not None:
        ctx.db.directory.identity.update(entry)
    else:
        ctx.db.directory.insert(entry)


@reducer
def transfer(ctx: ReducerContext, recipient: Identity, amount_cents: u64) -> None:
    if ctx.db.directory.identity.find(ctx.sender) is None:
        raise SenderError("Choose a name before sending money")
    if recipient == ctx.sender:
        raise SenderError("You cannot send money to yourself")
    if amount_cents == 0:
        raise SenderError("Amount must be greater than zero")
    if ctx.db.directory.identity.find(recipient) is None:
        raise SenderError("Recipient does not exist")
    src = ctx.db.account.identity.find(ctx.sender)
    dst = ctx.db.account.identity.find(recipient)
    if src is None or dst is None:
        raise SenderError("Account does not exist")
    if src.balance_cents < amount_cents:
        raise SenderError("Insufficient funds")
    if dst.balance_cents > MAX_U64 - amount_cents:
        raise SenderError("Recipient balance is too large")
    src.balance_cents -= amount_cents
    dst.balance_cents += amount_cents
    ctx.db.account.identity.update(src)
    ctx.db.account.identity.update(dst)
    for owner, other, direction in (
        (ctx.sender, recipient, ChangeDirection.Debit),
        (recipient, ctx.sender, ChangeDirection.Credit),
    ):
        ctx.db.account_change.insert(
            AccountChange(
                id=0,
                account_identity=owner,
                counterparty_identity=other,
                direction=direction,
                amount_cents=amount_cents,
                created_at=ctx.timestamp,
            )
        )
