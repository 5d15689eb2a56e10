"""`ctx.sender_auth` inside SpacetimeDB's host: the caller's JWT claims, read on first use.

The host keeps each connection's JWT payload in its system tables and hands it out through
`get_jwt_payload(connection_id)` (an empty payload: no token). As upstream's TypeScript runtime
does (`AuthCtxImpl.fromSystemTables`), the payload is fetched only if the module looks at it.
"""

from __future__ import annotations

from collections.abc import Callable

from spacetimedb.module.auth import AuthCtx, JwtClaims
from spacetimedb.sats.special import Identity


class LazyJwtAuth(AuthCtx):
    """A client call's `AuthCtx` whose `jwt` is fetched from the host when first read."""

    __slots__ = ("_claims", "_fetch", "_fetched", "_sender")

    def __init__(self, fetch: Callable[[], bytes], sender: Identity) -> None:
        self._fetch = fetch
        self._sender = sender
        self._fetched = False
        self._claims: JwtClaims | None = None
        self.is_internal = False

    @property
    def jwt(self) -> JwtClaims | None:  # type: ignore[override]  # fetched once, in place of the attribute
        if not self._fetched:
            payload = self._fetch()
            self._claims = JwtClaims(payload.decode("utf-8"), self._sender) if payload else None
            self._fetched = True
        return self._claims
