"""`str` values must be valid Unicode: a lone surrogate (e.g. JSON's "\\ud800") has no UTF-8 form,
so such a string could be stored but never logged, sent or snapshotted. Every boundary that takes
a `str` (reducer arguments, rows written by reducers) refuses it with `check_text`."""

from __future__ import annotations

from spacetimedb.sats.errors import ConversionError


def is_valid_text(s: str) -> bool:
    """True when `s` encodes to UTF-8 (no lone surrogates). O(1) for ASCII strings."""
    if s.isascii():
        return True
    try:
        s.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_text(s: str, path: str = "") -> str:
    """Return `s`, or raise ConversionError naming the first lone surrogate."""
    if s.isascii():
        return s
    try:
        s.encode()
    except UnicodeEncodeError as e:
        code = ord(s[e.start])
        raise ConversionError(
            f"str is not valid Unicode: lone surrogate U+{code:04X} at index {e.start} (it has no UTF-8 form)",
            path=path,
        ) from None
    return s
