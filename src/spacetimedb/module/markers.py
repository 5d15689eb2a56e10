"""Column constraint markers for `typing.Annotated`, and multi-column index declarations.

    id: Annotated[u64, primary_key, auto_inc]
    email: Annotated[str, unique]
    score: Annotated[int, index]

`index("by_team_score", ["team", "score"])` declares a multi-column index in `@table(indexes=[...])`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from spacetimedb.sats.errors import SchemaError

IndexAlgorithm = Literal["btree", "hash"]


class ColumnMarker:
    """A constraint written inside `Annotated[...]`; compared by identity."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class IndexDecl:
    """An index declared on a table: `accessor` is how reducers reach it (`ctx.db.t.<accessor>`)."""

    accessor: str
    columns: tuple[str, ...]
    algorithm: IndexAlgorithm = "btree"


class _IndexMarker(ColumnMarker):
    """`index` is both a column marker (`Annotated[int, index]`) and a declaration factory."""

    __slots__ = ()

    def __call__(
        self, accessor: str, columns: Sequence[str] | str, algorithm: IndexAlgorithm = "btree"
    ) -> IndexDecl:
        cols = (columns,) if isinstance(columns, str) else tuple(columns)
        if not cols:
            raise SchemaError(f"index {accessor!r} needs at least one column")
        if algorithm not in ("btree", "hash"):
            raise SchemaError(f"index {accessor!r}: algorithm must be 'btree' or 'hash', not {algorithm!r}")
        return IndexDecl(accessor, cols, algorithm)


primary_key = ColumnMarker("primary_key")
unique = ColumnMarker("unique")
auto_inc = ColumnMarker("auto_inc")
index = _IndexMarker("index")
