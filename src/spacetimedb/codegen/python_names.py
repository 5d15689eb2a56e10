"""Python identifiers for the names a module declares: never a keyword, never shadowing what the
generated code itself defines. The wire keeps the canonical names; only the Python spelling changes."""

from __future__ import annotations

import keyword

#: Names a generated row, table handle or Sum must not take as an attribute (their own members).
RESERVED_MEMBERS = {"tag", "value", "tag_index"}


def py_ident(name: str) -> str:
    """`from` -> `from_`, `2d` -> `_2d`, `a-b` -> `a_b`: a valid identifier that is not a keyword."""
    out = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name) or "_"
    if out[0].isdigit():
        out = "_" + out
    if keyword.iskeyword(out):
        out += "_"
    return out
