"""`ctx.sender_auth` (AuthCtx, JwtClaims) as upstream's: the claims, and what the runner puts in
the context for client calls with and without a token and for the database's own calls."""

from __future__ import annotations

import json
from typing import Any

import pytest

from spacetimedb.module import AuthCtx, JwtClaims, ModuleDef, ReducerContext, reducer
from spacetimedb.module.declarations import collecting
from spacetimedb.module.runner import ModuleRunner
from spacetimedb.sats.special import ConnectionId, Identity, Timestamp

from .test_runner import DictStore

ALICE = Identity(2)
T0 = Timestamp(1_700_000_000_000_000)


def _claims(**payload: Any) -> JwtClaims:
    return JwtClaims(json.dumps(payload), ALICE)


def test_claims_read_from_the_payload() -> None:
    c = _claims(iss="https://auth.example", sub="user-7", aud=["game", "web"], role="admin")
    assert (c.issuer, c.subject, c.audience, c.identity) == ("https://auth.example", "user-7", ("game", "web"), ALICE)
    assert c.full_payload["role"] == "admin" and json.loads(c.raw_payload)["role"] == "admin"
    # `aud` may be one string or absent, as upstream's audience() reads it.
    assert _claims(iss="i", sub="s", aud="game").audience == ("game",)
    assert _claims(iss="i", sub="s").audience == ()


def test_payload_is_parsed_only_when_a_claim_is_read() -> None:
    c = JwtClaims("not json", ALICE)  # cheap to build: the server makes one per connection
    assert c.raw_payload == "not json" and c.identity == ALICE
    with pytest.raises(ValueError):
        c.subject  # noqa: B018


def test_auth_ctx_shapes() -> None:
    internal = AuthCtx.internal()
    assert (internal.is_internal, internal.has_jwt, internal.jwt) == (True, False, None)
    claims = _claims(iss="i", sub="s")
    client = AuthCtx.from_jwt(claims)
    assert (client.is_internal, client.has_jwt, client.jwt) == (False, True, claims)


def _runner() -> tuple[ModuleRunner, ModuleDef, list[AuthCtx]]:
    seen: list[AuthCtx] = []
    with collecting() as found:

        @reducer
        def whoami(ctx: ReducerContext) -> None:
            seen.append(ctx.sender_auth)

    module = ModuleDef.build(found)
    return ModuleRunner(module, identity=Identity(1), log=lambda *rec: None), module, seen


def test_runner_passes_the_callers_auth_by_reference() -> None:
    runner, _, seen = _runner()
    r = runner.reducers["whoami"]
    auth = AuthCtx.from_jwt(_claims(iss="i", sub="s"))
    tx = DictStore({}, {})
    assert runner.run_reducer(tx, r.fn, (), r.name, ALICE, ConnectionId(3), T0, 0, auth) is None
    # No token but a connection: a client call; no connection: the database's own call (init,
    # scheduled reducers), as upstream's AuthCtx::from_connection_id_opt.
    runner.run_reducer(tx, r.fn, (), r.name, ALICE, ConnectionId(3), T0)
    runner.run_reducer(tx, r.fn, (), r.name, ALICE, None, T0)
    assert seen[0] is auth and seen[0].jwt is not None and seen[0].jwt.subject == "s"
    assert (seen[1].is_internal, seen[1].jwt) == (False, None)
    assert (seen[2].is_internal, seen[2].jwt) == (True, None)
