"""Row codecs for the tables of a module: each table's row type compiled to a BSATN codec once."""

from __future__ import annotations

from collections.abc import Iterable

from spacetimedb.bsatn import Codec, compile
from spacetimedb.module.schema import TableSchema
from spacetimedb.sats.algebraic_type import Typespace


def row_codecs(schemas: Iterable[TableSchema], typespace: Typespace | None = None) -> dict[int, Codec]:
    """table id -> the BSATN codec of its rows (tuples in column order)."""
    return {s.table_id: compile(s.row_type, typespace) for s in schemas}
