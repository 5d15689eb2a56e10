"""A module with a recursive column type (a tree), used by tests/module/test_recursive_types.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from spacetimedb import ReducerContext, primary_key, reducer, table, u32


@dataclass
class Node:
    label: str
    children: list[Node] = field(default_factory=list)

@table
class Tree:
    id: Annotated[u32, primary_key]
    root: Node

@reducer
def plant(ctx: ReducerContext, id: u32, root: Node) -> None:
    ctx.db.tree.insert(Tree(id=id, root=root))
