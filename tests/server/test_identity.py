import base64
import json
import os
import stat
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from spacetimedb.control.identity import (
    connection_id_hex,
    identity_from_claims,
    identity_wire,
    new_connection_id,
    parse_identity_hex,
)
from spacetimedb.server.tokens import TokenAuthority, TokenRejected


def _payload(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_identity_test_vector() -> None:
    ident = identity_from_claims("example.com", "123")
    assert ident.hex() == "c200ef884364c1a99be0298dc68f2004e6b97c09d1b1658b7db22f51fb662059"
    assert identity_wire(ident).hex().startswith("592066fb")


def test_identity_second_vector() -> None:
    assert (
        identity_from_claims("localhost", "test-subject").hex()
        == "c200b3ce65d91b79ecfb7d881cd65bf8da2f647d590af1474ad19faa7aa87e38"
    )


def test_parse_identity_hex() -> None:
    ident = identity_from_claims("a", "b")
    assert parse_identity_hex(ident.hex()) == ident
    assert parse_identity_hex("0x" + ident.hex()) == ident
    assert parse_identity_hex("zz" * 32) is None
    assert parse_identity_hex("ab") is None


def test_connection_ids_are_random_and_nonzero() -> None:
    ids = {new_connection_id() for _ in range(50)}
    assert len(ids) == 50 and 0 not in ids
    assert connection_id_hex(1) == "0" * 31 + "1"


def test_key_created_once_with_private_mode(tmp_path: Path) -> None:
    a = TokenAuthority.load_or_create(tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / "id_ecdsa").st_mode)
    assert mode == 0o600
    b = TokenAuthority.load_or_create(tmp_path)
    assert a.public_key_pem == b.public_key_pem
    token = a.mint_anonymous().token
    assert b.validate(token).token == token


def test_anonymous_token_claims_as_upstream(tmp_path: Path) -> None:
    auth = TokenAuthority.load_or_create(tmp_path)
    caller = auth.mint_anonymous()
    claims = _payload(caller.token)
    assert list(claims) == ["hex_identity", "sub", "iss", "aud", "iat", "exp"]
    assert claims["exp"] is None and claims["iss"] == "localhost" and claims["aud"] == ["spacetimedb"]
    assert claims["hex_identity"] == caller.identity_hex
    assert caller.identity == identity_from_claims("localhost", claims["sub"])
    header = json.loads(base64.urlsafe_b64decode(caller.token.split(".")[0] + "=="))
    assert header == {"alg": "ES256", "typ": "JWT"}
    assert auth.validate(caller.token).identity == caller.identity


def test_websocket_token_expires_in_60s_same_identity(tmp_path: Path) -> None:
    auth = TokenAuthority.load_or_create(tmp_path)
    caller = auth.mint_anonymous()
    ws = auth.websocket_token(caller)
    claims = _payload(ws)
    assert claims["exp"] - claims["iat"] == 60
    assert auth.validate(ws).identity == caller.identity


def test_forged_token_rejected(tmp_path: Path) -> None:
    auth = TokenAuthority.load_or_create(tmp_path / "a")
    other = TokenAuthority.load_or_create(tmp_path / "b")
    with pytest.raises(TokenRejected, match="not signed by this instance"):
        auth.validate(other.mint_anonymous().token)
    with pytest.raises(TokenRejected):
        auth.validate("not-a-jwt")


def _sign(claims: dict) -> tuple[TokenAuthority, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    return TokenAuthority(key), jwt.encode(claims, key, algorithm="ES256")


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "x", "iat": 1},  # no issuer
        {"iss": "", "sub": "x", "iat": 1},
        {"iss": "i" * 129, "sub": "x", "iat": 1},
        {"iss": "i", "sub": "s" * 129, "iat": 1},
        {"iss": "i", "sub": "s"},  # no iat
        {"iss": "i", "sub": "s", "iat": 1, "exp": 10},  # expired
        {"iss": "i", "sub": "s", "iat": 1, "hex_identity": "c2" + "00" * 31},  # mismatch
    ],
)
def test_bad_claims_rejected(claims: dict) -> None:
    auth, token = _sign(claims)
    with pytest.raises(TokenRejected):
        auth.validate(token)


def test_foreign_issuer_signed_by_us_accepted_with_extras() -> None:
    exp = int(time.time()) + 100
    auth, token = _sign({"iss": "example.com", "sub": "123", "iat": 1, "exp": exp, "aud": "x", "role": "admin"})
    caller = auth.validate(token)
    assert caller.identity_hex.startswith("c200ef88")
    assert caller.audience == ("x",) and caller.extra == {"role": "admin"}
