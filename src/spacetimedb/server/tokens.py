"""ES256 JSON Web Tokens minted and checked the way SpacetimeDB's standalone server does.

Claims (crates/auth/src/identity.rs, SpacetimeIdentityClaims) in this key order:
`hex_identity, sub, iss, aud, iat, exp` (+ any extra claims of an incoming token). Anonymous
tokens have `exp: null`; websocket tokens re-sign the same claims with exp = iat + 60 s.
The signing key lives in the data dir so saved client tokens stay valid across restarts.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from spacetimedb.control.identity import LOCAL_ISSUER, identity_from_claims, identity_hex
from spacetimedb.durability import durable_files
from spacetimedb.module.auth import AuthCtx, JwtClaims
from spacetimedb.sats.ids import Identity

DEFAULT_AUDIENCE = ("spacetimedb",)
WEBSOCKET_TOKEN_SECONDS = 60
MAX_CLAIM_BYTES = 128
_KNOWN_CLAIMS = frozenset({"hex_identity", "sub", "iss", "aud", "iat", "exp"})


class TokenRejected(Exception):
    """A presented token is not one this server accepts (bad signature, expired, malformed claims)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a request: the validated claims and the token to hand back."""

    identity: bytes  # 32 bytes, big-endian
    issuer: str
    subject: str
    audience: tuple[str, ...]
    token: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def identity_hex(self) -> str:
        return identity_hex(self.identity)

    def sender_auth(self) -> AuthCtx:
        """The caller's `ctx.sender_auth`: its token's payload exactly as signed, with the identity
        already derived. Built once per WebSocket connection (per request over HTTP); the claims
        are parsed again only if module code reads them."""
        payload = self.token.split(".")[1]
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        return AuthCtx.from_jwt(JwtClaims(raw, Identity(int.from_bytes(self.identity, "big"))))


class TokenAuthority:
    """Holds the server's ES256 key pair; mints and validates tokens."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, issuer: str = LOCAL_ISSUER) -> None:
        self._private = private_key
        self._public = private_key.public_key()
        self.issuer = issuer
        self.public_key_pem: bytes = self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @classmethod
    def load_or_create(cls, key_dir: Path, issuer: str = LOCAL_ISSUER) -> TokenAuthority:
        """Load `id_ecdsa` (PKCS#8 PEM) from `key_dir`, creating it (mode 0600) on first start.

        A new key is on disk (fsynced, directory fsynced) before any token is signed with it: a
        token handed out must stay valid after a power cut.
        """
        durable_files.make_dirs(key_dir)
        private_path = key_dir / "id_ecdsa"
        if private_path.exists():
            try:
                loaded = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
            except ValueError as e:
                raise ValueError(
                    f"{private_path} is not a readable PEM key ({e}). It signed every token this server issued: "
                    "restore it from a backup, or delete it to mint a new key pair (saved tokens then stop working)"
                ) from e
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{private_path} is not an EC private key; delete it to mint a new key pair")
            return cls(loaded, issuer)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        durable_files.write_file(private_path, pem, mode=0o600)
        authority = cls(key, issuer)
        durable_files.write_file(key_dir / "id_ecdsa.pub", authority.public_key_pem)
        return authority

    # ---- minting ------------------------------------------------------------------------

    def _sign(
        self,
        issuer: str,
        subject: str,
        audience: tuple[str, ...],
        extra: dict[str, Any],
        expires_in: int | None,
    ) -> Caller:
        identity = identity_from_claims(issuer, subject)
        iat = int(time.time())
        claims: dict[str, Any] = {
            "hex_identity": identity_hex(identity),
            "sub": subject,
            "iss": issuer,
            "aud": list(audience),
            "iat": iat,
            "exp": None if expires_in is None else iat + expires_in,
        }
        claims.update(extra)
        token = jwt.encode(claims, self._private, algorithm="ES256")
        return Caller(identity, issuer, subject, audience, token, dict(extra))

    def mint_anonymous(self) -> Caller:
        """A new identity: random UUIDv4 subject, our issuer, no expiry."""
        return self._sign(self.issuer, str(uuid.uuid4()), DEFAULT_AUDIENCE, {}, None)

    def websocket_token(self, caller: Caller) -> str:
        """The caller's claims re-signed with a 60 second expiry (for the WebSocket `?token=`)."""
        return self._sign(
            caller.issuer, caller.subject, caller.audience, caller.extra, WEBSOCKET_TOKEN_SECONDS
        ).token

    # ---- validation ---------------------------------------------------------------------

    def validate(self, token: str) -> Caller:
        """The caller a token names; raises TokenRejected with the reason otherwise."""
        if not token.isascii():  # a JWT is ASCII; anything else is not ours (and PyJWT would fail to encode it)
            raise TokenRejected("Authorization failed: malformed token (not ASCII)")
        try:
            # exp may be null (anonymous tokens), which PyJWT's own check rejects: checked below.
            claims = jwt.decode(
                token,
                self._public,
                algorithms=["ES256"],
                options={"verify_exp": False, "verify_aud": False, "verify_iat": False, "verify_sub": False},
            )
        except jwt.InvalidSignatureError as e:
            raise TokenRejected("Authorization failed: token not signed by this instance") from e
        except (jwt.PyJWTError, ValueError, TypeError) as e:
            raise TokenRejected(f"Authorization failed: malformed token ({e})") from e
        return self._claims_to_caller(claims, token)

    @staticmethod
    def _claims_to_caller(claims: dict[str, Any], token: str) -> Caller:
        issuer, subject = claims.get("iss"), claims.get("sub")
        if not isinstance(issuer, str) or not isinstance(subject, str):
            raise TokenRejected("Authorization failed: token needs string `iss` and `sub` claims")
        for name, value in (("Issuer", issuer), ("Subject", subject)):
            if not value:
                raise TokenRejected(f"Authorization failed: {name} empty")
            if len(value.encode()) > MAX_CLAIM_BYTES:
                raise TokenRejected(f"Authorization failed: {name} too long (max {MAX_CLAIM_BYTES} bytes)")
        if not isinstance(claims.get("iat"), int | float):
            raise TokenRejected("Authorization failed: token needs a numeric `iat` claim")
        exp = claims.get("exp")
        if exp is not None:
            if not isinstance(exp, int | float):
                raise TokenRejected("Authorization failed: `exp` must be a number or null")
            if exp < time.time():
                raise TokenRejected("Authorization failed: token expired")
        identity = identity_from_claims(issuer, subject)
        claimed = claims.get("hex_identity")
        if claimed is not None and (not isinstance(claimed, str) or claimed.lower().removeprefix("0x") != identity_hex(identity)):
            raise TokenRejected("Authorization failed: hex_identity does not match the token's issuer and subject")
        aud = claims.get("aud", [])
        audience = (aud,) if isinstance(aud, str) else tuple(str(a) for a in aud or ())
        extra = {k: v for k, v in claims.items() if k not in _KNOWN_CLAIMS}
        return Caller(identity, issuer, subject, audience, token, extra)
