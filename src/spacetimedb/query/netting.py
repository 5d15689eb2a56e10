"""Netting a bag of inserted rows against a bag of deleted rows: equal rows cancel one for one."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from spacetimedb.module.datastore import Row


def _frozen(value: Any) -> Hashable:
    """A hashable stand-in for a value that may hold lists or dicts (array or map columns)."""
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((_frozen(k), _frozen(v)) for k, v in value.items())))
    if isinstance(value, bytearray):
        return bytes(value)
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return value


def net(plus: list[Row], minus: list[Row]) -> tuple[list[Row], list[Row]]:
    """(inserts, deletes) left after cancelling each row in `plus` against an equal one in `minus`."""
    if not plus or not minus:
        return plus, minus
    try:
        return _net_by(plus, minus, None)
    except TypeError:  # a row holds an unhashable value
        return _net_by(plus, minus, _frozen)


def _net_by(plus: list[Row], minus: list[Row], key: Any) -> tuple[list[Row], list[Row]]:
    counts: dict[Hashable, int] = {}
    originals: dict[Hashable, Row] = {}
    for row in plus:
        k = row if key is None else key(row)
        counts[k] = counts.get(k, 0) + 1
        originals[k] = row
    for row in minus:
        k = row if key is None else key(row)
        counts[k] = counts.get(k, 0) - 1
        originals.setdefault(k, row)
    inserts: list[Row] = []
    deletes: list[Row] = []
    for k, n in counts.items():
        if n > 0:
            inserts.extend([originals[k]] * n)
        elif n < 0:
            deletes.extend([originals[k]] * -n)
    return inserts, deletes
