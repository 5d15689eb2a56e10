"""Canonical names, as SpacetimeDB's V10 `SnakeCase` case-conversion policy derives them."""

from __future__ import annotations

import re

_BOUNDARY_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_BOUNDARY_2 = re.compile(r"([a-z0-9])([A-Z])")


def snake_case(name: str) -> str:
    """`LeaderboardEntry` -> `leaderboard_entry`, `HTTPRequest` -> `http_request`, `a_b` stays."""
    s = _BOUNDARY_1.sub(r"\1_\2", name)
    s = _BOUNDARY_2.sub(r"\1_\2", s)
    return s.replace("-", "_").lower()


def pascal_case(name: str) -> str:
    """`leaderboard_entry` -> `LeaderboardEntry`; already-Pascal names are kept."""
    if "_" not in name:
        return name[:1].upper() + name[1:]
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def check_identifier(name: str, what: str) -> str:
    """`name` if SpacetimeDB accepts it as an identifier (NFC, XID_Start or `_`, then XID_Continue)."""
    import unicodedata

    from spacetimedb.sats.errors import SchemaError

    if not name:
        raise SchemaError(f"{what} name must not be empty")
    if unicodedata.normalize("NFC", name) != name:
        raise SchemaError(f"{what} name {name!r} is not in Unicode NFC form")
    if not name.isidentifier():
        raise SchemaError(
            f"{what} name {name!r} is not a valid identifier: start with a letter or '_', "
            "then letters, digits or '_'"
        )
    return name
