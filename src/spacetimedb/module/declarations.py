"""Collects the `@table`, `@reducer` and `@view` declarations made while a module's code runs.

`load_module` imports the author's file inside `collecting()`; every declaration made during the
import, in any file of a package, lands in that collector in declaration order.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:  # table.py, reducer.py, view.py, procedure.py and http_handler.py import this module to record into it
    from spacetimedb.module.http_handler import HttpHandlerDecl
    from spacetimedb.module.procedure import ProcedureDecl
    from spacetimedb.module.reducer import ReducerDecl
    from spacetimedb.module.table import TableDecl
    from spacetimedb.module.view import ViewDecl

Declaration: TypeAlias = "TableDecl | ReducerDecl | ViewDecl | ProcedureDecl | HttpHandlerDecl"

_active: list[list[Declaration]] = []


def record(decl: Declaration) -> None:
    for collector in _active:
        collector.append(decl)


@contextmanager
def collecting() -> Iterator[list[Declaration]]:
    """Collect the declarations made inside the block (nestable)."""
    found: list[Declaration] = []
    _active.append(found)
    try:
        yield found
    finally:
        # By identity: two collectors holding equal lists must not be confused.
        for i in range(len(_active) - 1, -1, -1):
            if _active[i] is found:
                del _active[i]
                break
