"""ModuleHost hands each call's `auth` to `ctx.sender_auth`: client reducers and lifecycle
reducers see the caller's claims; init and scheduled reducers are internal calls without a token."""

from __future__ import annotations

import json

from spacetimedb.host import ModuleHost
from spacetimedb.module import AuthCtx, JwtClaims, ModuleDef, ReducerContext, client_connected, init, reducer
from spacetimedb.module.declarations import collecting
from spacetimedb.module.reducer import scheduled
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

T0 = Timestamp(1_700_000_000_000_000)
ALICE = Identity(0xA11CE)
CONN = ConnectionId(77)


def _host() -> tuple[ModuleHost, list[tuple[str, AuthCtx]]]:
    seen: list[tuple[str, AuthCtx]] = []
    with collecting() as found:

        @init
        def on_init(ctx: ReducerContext) -> None:
            seen.append(("init", ctx.sender_auth))

        @client_connected
        def on_connect(ctx: ReducerContext) -> None:
            seen.append(("connect", ctx.sender_auth))

        @reducer
        def whoami(ctx: ReducerContext) -> None:
            seen.append(("whoami", ctx.sender_auth))

        @scheduled(interval_ms=1000)
        def tick(ctx: ReducerContext) -> None:
            seen.append(("tick", ctx.sender_auth))

    host = ModuleHost(ModuleDef.build(found), identity=Identity(0xDB), clock=lambda: T0)
    assert host.init(timestamp=T0).ok
    return host, seen


def test_client_and_lifecycle_calls_see_the_callers_claims_internal_calls_none() -> None:
    host, seen = _host()
    auth = AuthCtx.from_jwt(JwtClaims(json.dumps({"iss": "https://auth.example", "sub": "u1"}), ALICE))
    assert host.client_connected(ALICE, CONN, auth=auth).ok
    assert host.call_reducer("whoami", b"", caller=ALICE, connection_id=CONN, auth=auth).ok
    assert host.call_reducer("whoami", b"", caller=ALICE, connection_id=CONN).ok  # no token
    assert [r.ok for r in host.run_due(Timestamp(T0.micros + 1_000_000))] == [True]
    kinds = [(name, a.is_internal, a.jwt.subject if a.jwt else None) for name, a in seen]
    assert kinds == [
        ("init", True, None),
        ("connect", False, "u1"),
        ("whoami", False, "u1"),
        ("whoami", False, None),
        ("tick", True, None),
    ]
    assert seen[1][1] is auth and seen[2][1] is auth  # passed by reference, not rebuilt per call
