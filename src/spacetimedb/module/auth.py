"""`ctx.sender_auth`: the caller's credentials, as upstream's `AuthCtx` and `JwtClaims`.

A module authorizes by claims (`ctx.sender_auth.jwt.issuer == "https://auth.example"`). The
server decodes and verifies a client's token once, when it connects (or per HTTP request), and
builds one `AuthCtx` that every call of that connection shares: a call passes a reference, and
the payload is parsed into a dict only when module code first reads a claim.

- `is_internal`: True for calls the database makes itself (init, scheduled reducers).
- `jwt`: the caller's `JwtClaims`, or None (internal calls, callers without a token).
- `has_jwt`: `jwt is not None`.
"""

from __future__ import annotations

import json
from typing import Any

from spacetimedb.sats.ids import Identity


class JwtClaims:
    """The claims of the caller's verified JSON Web Token.

    `raw_payload` is the token's payload JSON exactly as signed (for custom claims, or use
    `full_payload`); `subject`/`issuer` are its `sub`/`iss` claims, `audience` its `aud` (a
    tuple, empty when absent), `identity` the Identity SpacetimeDB derives from issuer and subject.
    """

    __slots__ = ("_parsed", "identity", "raw_payload")

    def __init__(self, raw_payload: str, identity: Identity) -> None:
        self.raw_payload = raw_payload
        self.identity = identity
        self._parsed: dict[str, Any] | None = None

    @property
    def full_payload(self) -> dict[str, Any]:
        """The payload as a dict (parsed on first use); treat it as read-only."""
        if self._parsed is None:
            parsed = json.loads(self.raw_payload)
            if not isinstance(parsed, dict):
                raise ValueError("the JWT payload is not a JSON object")
            self._parsed = parsed
        return self._parsed

    @property
    def subject(self) -> str:
        return str(self.full_payload["sub"])

    @property
    def issuer(self) -> str:
        return str(self.full_payload["iss"])

    @property
    def audience(self) -> tuple[str, ...]:
        aud = self.full_payload.get("aud")
        if aud is None:
            return ()
        if isinstance(aud, str):
            return (aud,)
        return tuple(a for a in aud if isinstance(a, str))

    def __repr__(self) -> str:
        return f"JwtClaims({self.raw_payload})"


class AuthCtx:
    """Who is calling, as far as credentials go (`ctx.sender_auth`). Immutable and shared."""

    __slots__ = ("is_internal", "jwt")

    #: The database's own calls (init, scheduled reducers): no token.
    INTERNAL: AuthCtx
    #: A client call without a token (e.g. a testing-harness call given no `jwt`).
    NO_JWT: AuthCtx

    def __init__(self, *, is_internal: bool, jwt: JwtClaims | None) -> None:
        self.is_internal = is_internal
        self.jwt = jwt

    @property
    def has_jwt(self) -> bool:
        return self.jwt is not None

    @classmethod
    def internal(cls) -> AuthCtx:
        return cls.INTERNAL

    @classmethod
    def from_jwt(cls, claims: JwtClaims) -> AuthCtx:
        return cls(is_internal=False, jwt=claims)

    def __repr__(self) -> str:
        return f"AuthCtx(is_internal={self.is_internal}, jwt={self.jwt!r})"


AuthCtx.INTERNAL = AuthCtx(is_internal=True, jwt=None)
AuthCtx.NO_JWT = AuthCtx(is_internal=False, jwt=None)
