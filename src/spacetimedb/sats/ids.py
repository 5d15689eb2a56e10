"""Identity, ConnectionId and Uuid: 256/128-bit ids that print big-endian and travel little-endian."""

from __future__ import annotations

import os
import uuid as _uuid
from dataclasses import dataclass
from typing import ClassVar

from spacetimedb.sats.errors import ConversionError

_U128_MAX = (1 << 128) - 1
_U256_MAX = (1 << 256) - 1
_IDENTITY_PREFIX = b"\xc2\x00"


def _check_int(cls_name: str, value: object, lo: int, hi: int) -> None:
    if type(value) is not int:
        raise ConversionError(f"{cls_name} expects an int, got {type(value).__name__}; convert it with int()")
    if not lo <= value <= hi:
        raise ConversionError(f"{cls_name} value {value} is out of range [{lo}, {hi}]")


def _parse_hex(cls_name: str, text: str, digits: int) -> int:
    s = text[2:] if text[:2] in ("0x", "0X") else text
    if len(s) != digits or not all(c in "0123456789abcdefABCDEF" for c in s):
        raise ConversionError(f"{cls_name}.from_hex expects {digits} hex digits (optionally 0x-prefixed), got {text!r}")
    return int(s, 16)


@dataclass(frozen=True, slots=True, order=True)
class Identity:
    """A 256-bit identity. `to_hex()` is 64 lowercase big-endian hex digits, as upstream prints it."""

    value: int
    ZERO: ClassVar[Identity]

    def __post_init__(self) -> None:
        _check_int("Identity", self.value, 0, _U256_MAX)

    @classmethod
    def from_hex(cls, text: str) -> Identity:
        return cls(_parse_hex("Identity", text, 64))

    @classmethod
    def from_claims(cls, issuer: str, subject: str) -> Identity:
        """The identity of a token's (issuer, subject), as upstream's `Identity::from_claims`
        (crates/lib/src/identity.rs): BLAKE3 of "issuer|subject", a 0xc200 prefix and a 4-byte
        checksum, read as a big-endian U256."""
        # Imported here: the client-only install (packaging/client) has no blake3, nor has
        # Pyodide inside a `spacetimedb build` bundle (a C extension).
        from blake3 import blake3

        id_hash = blake3(f"{issuer}|{subject}".encode()).digest()[:26]
        checksum = blake3(_IDENTITY_PREFIX + id_hash).digest()[:4]
        return cls(int.from_bytes(_IDENTITY_PREFIX + checksum + id_hash, "big"))

    @classmethod
    def from_bytes_le(cls, data: bytes) -> Identity:
        if len(data) != 32:
            raise ConversionError(f"Identity.from_bytes_le expects 32 bytes, got {len(data)}")
        return cls(int.from_bytes(data, "little"))

    def to_hex(self) -> str:
        return format(self.value, "064x")

    def to_bytes_le(self) -> bytes:
        return self.value.to_bytes(32, "little")

    def __int__(self) -> int:
        return self.value

    def __index__(self) -> int:
        return self.value

    def __str__(self) -> str:
        return self.to_hex()

    def __repr__(self) -> str:
        return f"Identity({self.to_hex()!r})"


Identity.ZERO = Identity(0)


@dataclass(frozen=True, slots=True, order=True)
class ConnectionId:
    """A 128-bit connection id; 0 means "no connection". `to_hex()` is 32 big-endian hex digits."""

    value: int
    ZERO: ClassVar[ConnectionId]

    def __post_init__(self) -> None:
        _check_int("ConnectionId", self.value, 0, _U128_MAX)

    @classmethod
    def from_hex(cls, text: str) -> ConnectionId:
        return cls(_parse_hex("ConnectionId", text, 32))

    @classmethod
    def from_bytes_le(cls, data: bytes) -> ConnectionId:
        if len(data) != 16:
            raise ConversionError(f"ConnectionId.from_bytes_le expects 16 bytes, got {len(data)}")
        return cls(int.from_bytes(data, "little"))

    @classmethod
    def random(cls) -> ConnectionId:
        """A random nonzero id, as the server assigns one to each connection."""
        while True:
            v = int.from_bytes(os.urandom(16), "little")
            if v:
                return cls(v)

    def to_hex(self) -> str:
        return format(self.value, "032x")

    def to_bytes_le(self) -> bytes:
        return self.value.to_bytes(16, "little")

    def __int__(self) -> int:
        return self.value

    def __index__(self) -> int:
        return self.value

    def __bool__(self) -> bool:
        return self.value != 0

    def __str__(self) -> str:
        return self.to_hex()

    def __repr__(self) -> str:
        return f"ConnectionId({self.to_hex()!r})"


ConnectionId.ZERO = ConnectionId(0)


@dataclass(frozen=True, slots=True, order=True)
class Uuid:
    """A 128-bit UUID; `str()` is the canonical 8-4-4-4-12 form (big-endian), the wire is little-endian."""

    value: int
    NIL: ClassVar[Uuid]

    def __post_init__(self) -> None:
        _check_int("Uuid", self.value, 0, _U128_MAX)

    @classmethod
    def parse(cls, text: str) -> Uuid:
        try:
            return cls(_uuid.UUID(text).int)
        except ValueError:
            raise ConversionError(
                f"invalid uuid {text!r}: expected 8-4-4-4-12 hex, e.g. '01234567-89ab-cdef-0123-456789abcdef'"
            ) from None

    @classmethod
    def from_uuid(cls, u: _uuid.UUID) -> Uuid:
        return cls(u.int)

    @classmethod
    def random(cls) -> Uuid:
        """A random version-4 UUID."""
        return cls(_uuid.uuid4().int)

    def to_uuid(self) -> _uuid.UUID:
        return _uuid.UUID(int=self.value)

    def __int__(self) -> int:
        return self.value

    def __str__(self) -> str:
        return str(_uuid.UUID(int=self.value))

    def __repr__(self) -> str:
        return f"Uuid({self!s})"


Uuid.NIL = Uuid(0)
