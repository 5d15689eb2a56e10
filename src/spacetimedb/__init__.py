"""spacetimedb: SpacetimeDB modules written in Python, and the server that runs them.

The public API is curated here; `tests/test_public_api.py` checks it. Each layer appends its own
names in its own section below.
"""

from spacetimedb.sats.errors import ConversionError, SchemaError, SpacetimeError

# --- sats: types, widths, special types ------------------------------------------------------

# --- module: authoring API -------------------------------------------------------------------

__all__ = [
    "ConversionError",
    "SchemaError",
    "SpacetimeError",
]
