"""SATS-JSON reducer arguments (HTTP `/call`, `spacetimedb call`) -> Python values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spacetimedb.sats.json import from_json
from spacetimedb.sats.nodes import Node


def json_decoder(node: Node) -> Callable[[Any], Any]:
    return lambda data: from_json(data, node)
