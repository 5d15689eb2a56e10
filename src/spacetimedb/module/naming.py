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
