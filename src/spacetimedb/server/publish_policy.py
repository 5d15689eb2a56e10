"""Who may create databases on this server.

Module code is trusted code: it runs in the server process with the server's privileges (it can read
the signing key in `keys/` and other databases' files). So creating a database is an operator's
decision: by default only the server's owner identity (its token is `<data_dir>/keys/owner.token`) may,
plus the identities given with `spacetimedb start --allow-publish IDENTITY`; `--allow-publish anyone`
opens it to every client (a development server on a trusted network). Updating or deleting an
existing database stays with that database's owner (registry.py), as upstream.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from spacetimedb.control.identity import parse_identity_hex

ANYONE = "anyone"

#: Printed (and logged) when a server starts open to every publisher.
ANYONE_WARNING = (
    "WARNING: --allow-publish anyone: any client can create a database, and module code runs inside this "
    "server with its privileges (it can read the signing key in keys/ and every database's files). "
    "Use this only for development on a network you trust."
)


class PublishDenied(Exception):
    """The caller may not create a database here; `status` is 401 (no credentials) or 403."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class PublishPolicy:
    """The operator's `--allow-publish` list (the server's owner is always allowed)."""

    identities: frozenset[bytes] = frozenset()
    anyone: bool = False

    @classmethod
    def parse(cls, values: Iterable[str]) -> PublishPolicy:
        """From `--allow-publish` values: 64-hex-digit identities (optionally 0x-prefixed) or `anyone`."""
        identities: set[bytes] = set()
        anyone = False
        for value in values:
            if value.strip().lower() == ANYONE:
                anyone = True
                continue
            identity = parse_identity_hex(value.strip())
            if identity is None:
                raise ValueError(f"{value!r} is neither a 64-hex-digit identity nor `{ANYONE}`")
            identities.add(identity)
        return cls(frozenset(identities), anyone)

    def describe(self) -> str:
        if self.anyone:
            return "anyone may create databases"
        extra = f" and {len(self.identities)} allowed identit{'y' if len(self.identities) == 1 else 'ies'}"
        return f"the owner{extra if self.identities else ''} may create databases"


@dataclass(frozen=True, slots=True)
class PublishGate:
    """The policy bound to this server's owner identity: checks one request's right to create."""

    policy: PublishPolicy
    owner: bytes

    def check_create(self, caller: bytes, *, presented_credentials: bool) -> None:
        """Raise PublishDenied unless `caller` may create a database."""
        if self.policy.anyone or caller == self.owner or (presented_credentials and caller in self.policy.identities):
            return
        if not presented_credentials:
            raise PublishDenied(
                401,
                "Authorization required: creating a database on this server needs the token of its owner or of an "
                "identity its operator allows (`Authorization: Bearer <token>`). On the server's machine the "
                "owner's token is keys/owner.token in its data directory; otherwise ask the operator to run "
                "`spacetimedb start --allow-publish <your identity>`.",
            )
        raise PublishDenied(
            403,
            f"identity {caller.hex()} may not create databases on this server: only its owner and the identities "
            f"its operator allows can. Ask the operator to restart it with `spacetimedb start --allow-publish "
            f"{caller.hex()}`, or publish with the owner's token (keys/owner.token in the server's data directory).",
        )
