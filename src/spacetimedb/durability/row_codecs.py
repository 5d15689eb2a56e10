"""Row codecs for the tables of a module: each table's row type compiled to a BSATN codec once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from spacetimedb.bsatn import Codec, compile
from spacetimedb.bsatn.compiler import NATIVE
from spacetimedb.module.schema import TableSchema
from spacetimedb.sats.algebraic_type import Typespace
from spacetimedb.sats.nodes import TUPLE, PrimNode, ProductNode


def row_codecs(schemas: Iterable[TableSchema], typespace: Typespace | None = None) -> dict[int, Codec]:
    """table id -> the BSATN codec of its rows (tuples in column order)."""
    return {s.table_id: compile(s.row_type, typespace) for s in schemas}


def flat_row_format(codec: object) -> str | None:
    """The `struct` codes of a row type that is a tuple of fixed-width integers ("Iq" for
    `(u32, i64)`), else None. The codec packs exactly such rows with that one format."""
    node = getattr(codec, "node", None)
    if not isinstance(node, ProductNode) or node.repr != TUPLE or not node.fields:
        return None
    codes = []
    for f in node.fields:
        code = NATIVE.get(f.node.kind) if isinstance(f.node, PrimNode) else None
        if code is None or code in "fd":  # floats: leave NaN and rounding to the codec
            return None
        codes.append(code)
    return "".join(codes)


def flat_row_formats(codecs: Mapping[int, object]) -> dict[int, str]:
    """table id -> `flat_row_format` of its codec, for the tables that have one."""
    formats = {}
    for tid, codec in codecs.items():
        fmt = flat_row_format(codec)
        if fmt is not None:
            formats[tid] = fmt
    return formats
