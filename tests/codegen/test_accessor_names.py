"""The generated bindings name a unique column's (or a table's) attribute by the same rule the client
runtime sets it by: codegen may not import the client layer, so each has its copy, checked here."""

from __future__ import annotations

import pytest

from spacetimedb.client.table import accessor_names
from spacetimedb.codegen.python import accessor_name

NAMES = ["count", "name", "from", "class", "lambda", "__init__", "__dict__", "_TableBase__x", "_Tables__y",
         "a-b", "2d", "ok_name", "_private", "CamelCase"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_codegen_uses_an_attribute_the_runtime_sets(name: str) -> None:
    generated = accessor_name(name)
    runtime = accessor_names(name)
    if not runtime:
        assert generated is None
    else:
        assert generated is None or generated in runtime
    if name.isidentifier() and runtime:
        assert generated is not None  # a plain identifier the runtime sets is reachable in typed code
