"""Identities derived from JWT claims, exactly as SpacetimeDB derives them.

`Identity::from_claims` (crates/lib/src/identity.rs): BLAKE3 of "issuer|subject", a 0xc200
prefix and a 4-byte checksum, read as a big-endian U256. The printed hex is big-endian; the
BSATN wire form is the same 32 bytes reversed (little-endian).
"""

from __future__ import annotations

import os

from spacetimedb.sats.ids import Identity

#: The issuer of this server's own tokens, and of the claims a database identity is derived from.
LOCAL_ISSUER = "localhost"


def identity_from_claims(issuer: str, subject: str) -> bytes:
    """The 32 big-endian bytes of the identity for (issuer, subject) (`Identity.from_claims`)."""
    return Identity.from_claims(issuer, subject).value.to_bytes(32, "big")


def identity_hex(identity_be: bytes) -> str:
    """64 lowercase hex characters, no 0x (as in HTTP headers and JSON)."""
    return identity_be.hex()


def identity_wire(identity_be: bytes) -> bytes:
    """The identity's BSATN bytes (U256 little-endian)."""
    return identity_be[::-1]


def parse_identity_hex(text: str) -> bytes | None:
    """Big-endian bytes of a 64-hex-digit identity (an optional 0x allowed), or None if malformed."""
    if text.startswith(("0x", "0X")):
        text = text[2:]
    if len(text) != 64:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def new_connection_id() -> int:
    """A random nonzero ConnectionId (16 random bytes read little-endian; zero means 'no connection')."""
    while True:
        value = int.from_bytes(os.urandom(16), "little")
        if value:
            return value


def connection_id_hex(value: int) -> str:
    """ConnectionId as printed by SpacetimeDB: 32 big-endian hex digits."""
    return value.to_bytes(16, "big").hex()
