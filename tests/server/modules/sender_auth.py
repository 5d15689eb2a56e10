"""Records what `ctx.sender_auth` says about each caller, for tests/server/test_sender_auth.py."""

from typing import Annotated

from spacetimedb import ReducerContext, auto_inc, client_connected, primary_key, reducer, table, u64


@table(public=True)
class Seen:
    id: Annotated[u64, primary_key, auto_inc]
    how: str
    subject: str
    issuer: str
    audience: str
    internal: bool
    #: The token's identity is the caller's (upstream derives both from issuer and subject).
    same_identity: bool


def _record(ctx: ReducerContext, how: str) -> None:
    auth = ctx.sender_auth
    jwt = auth.jwt
    ctx.db.seen.insert(
        Seen(
            id=0,
            how=how,
            subject=jwt.subject if jwt else "",
            issuer=jwt.issuer if jwt else "",
            audience=",".join(jwt.audience) if jwt else "",
            internal=auth.is_internal,
            same_identity=jwt is not None and jwt.identity == ctx.sender and auth.has_jwt,
        )
    )


@client_connected
def on_connect(ctx: ReducerContext) -> None:
    _record(ctx, "connect")


@reducer
def whoami(ctx: ReducerContext, how: str) -> None:
    _record(ctx, how)
