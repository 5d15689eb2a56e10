"""`SysDatastore`: the module layer's `Datastore` over SpacetimeDB's sys functions (through the glue).

Rows are tuples in column order, as everywhere below the module layer; they cross to the host
as BSATN, encoded with the same compiled codecs our engine's commit log uses. Table and index
ids are the host's, looked up by name on first use (the host answers only inside a call) and
cached. Errors the host reports as errnos become the module layer's errors, with the same
messages our engine gives (a unique violation names the index: the adapter finds it by a point
scan of each unique index, only on that error path).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

from spacetimedb.bsatn import Codec, compile
from spacetimedb.jshost import glue as g
from spacetimedb.module.datastore import Bound, Row
from spacetimedb.module.datastore_errors import RowNotFound, UniqueConstraintViolation
from spacetimedb.module.module_def import ModuleDef
from spacetimedb.module.schema import IndexSchema, TableSchema
from spacetimedb.sats.errors import SpacetimeError

_U32 = struct.Struct("<I")
# Bound tags of upstream's BSATN `Bound<AlgebraicValue>` (crates/bindings-typescript/src/server/runtime.ts).
_INCLUDED, _EXCLUDED, _UNBOUNDED = 0, 1, 2


class HostError(SpacetimeError):
    """The host refused a datastore call with an errno the module layer has no error class for."""

    def __init__(self, errno: int, what: str) -> None:
        self.errno = errno
        super().__init__(f"{what} failed in the SpacetimeDB host (errno {errno})")


class _Table:
    __slots__ = ("codec", "host_id", "schema", "sequences", "uniques")

    def __init__(self, schema: TableSchema, codec: Codec, seq_codecs: list[tuple[int, Codec]]) -> None:
        self.schema = schema
        self.codec = codec
        self.host_id = -1
        #: (column, codec) of each auto-increment column, in column order (the write-back order).
        self.sequences = seq_codecs
        self.uniques = [ix for ix in schema.indexes if ix.unique]


class _Index:
    __slots__ = ("col_codecs", "host_id", "schema", "table")

    def __init__(self, schema: IndexSchema, table: _Table, col_codecs: list[Codec]) -> None:
        self.schema = schema
        self.table = table
        self.col_codecs = col_codecs
        self.host_id = -1


class SysDatastore:
    """One module's tables and indexes on the host's current transaction (the host owns it)."""

    def __init__(self, module: ModuleDef, glue: g.GlueApi, to_js: Callable[[bytes], Any]) -> None:
        """`to_js` turns bytes into what the glue takes (a Latin-1 str in the bundle)."""
        self._glue = glue
        self._to_js = to_js
        ts = module.typespace
        self._tables: dict[int, _Table] = {}
        self._indexes: dict[int, _Index] = {}
        for t in module.tables:
            s = t.schema
            col_codec = [compile(c.algebraic_type, ts) for c in s.columns]
            seqs = sorted((q.column, col_codec[q.column]) for q in s.sequences)
            table = _Table(s, compile(s.row_type, ts), seqs)
            self._tables[s.table_id] = table
            for ix in s.indexes:
                self._indexes[ix.index_id] = _Index(ix, table, [col_codec[c] for c in ix.columns])

    def attach(self, glue: g.GlueApi, to_js: Callable[[bytes], Any]) -> None:
        """Use an isolate's glue (the datastore was built before the snapshot, with none)."""
        self._glue = glue
        self._to_js = to_js

    # ---- ids ----------------------------------------------------------------------------------

    def _table(self, table_id: int) -> _Table:
        t = self._tables[table_id]
        if t.host_id < 0:
            t.host_id = int(self._glue.table_id(t.schema.name))
        return t

    def _index(self, index_id: int) -> _Index:
        ix = self._indexes[index_id]
        if ix.host_id < 0:
            ix.host_id = int(self._glue.index_id(ix.schema.name))
        return ix

    # ---- encoding ------------------------------------------------------------------------------

    @staticmethod
    def _rows(codec: Codec, data: g.JsBytes) -> list[Row]:
        buf = g.as_bytes(data)
        decode_from = codec.decode_from
        out = []
        off, end = 0, len(buf)
        while off < end:
            row, off = decode_from(buf, off)
            out.append(row)
        return out

    @staticmethod
    def _point(ix: _Index, key: tuple[Any, ...]) -> bytearray:
        buf = bytearray()
        for codec, v in zip(ix.col_codecs, key, strict=False):
            codec.encode_into(buf, v)
        return buf

    @staticmethod
    def _range(ix: _Index, prefix: tuple[Any, ...], lower: Bound, upper: Bound) -> tuple[bytearray, int, int, int]:
        """The buffer of a range scan: prefix, start bound, end bound; and their lengths."""
        if len(prefix) >= len(ix.col_codecs):
            raise SpacetimeError(f"index {ix.schema.name!r} has {len(ix.col_codecs)} columns; a range needs fewer prefix values")
        buf = bytearray()
        for codec, v in zip(ix.col_codecs, prefix, strict=False):
            codec.encode_into(buf, v)
        prefix_len = len(buf)
        term = ix.col_codecs[len(prefix)]
        ends = []
        for bound in (lower, upper):
            if bound is None:
                buf.append(_UNBOUNDED)
            else:
                buf.append(_INCLUDED if bound[1] else _EXCLUDED)
                term.encode_into(buf, bound[0])
            ends.append(len(buf))
        return buf, prefix_len, ends[0] - prefix_len, ends[1] - ends[0]

    def _prefix_args(self, ix: _Index, prefix: tuple[Any, ...]) -> tuple[bytearray, int, int, int] | None:
        """None for a full key (a point scan), else the range form of an equality prefix."""
        if len(prefix) == len(ix.col_codecs):
            return None
        if not prefix:
            return self._range(ix, (), None, None)
        return self._range(ix, prefix[:-1], (prefix[-1], True), (prefix[-1], True))

    # ---- reads ---------------------------------------------------------------------------------

    def scan(self, table_id: int) -> Iterator[Row]:
        t = self._table(table_id)
        return iter(self._rows(t.codec, self._glue.scan(t.host_id)))

    def count(self, table_id: int) -> int:
        return int(self._glue.count(self._table(table_id).host_id))

    def index_find(self, index_id: int, key: Any) -> Row | None:
        ix = self._index(index_id)
        point = self._point(ix, key if len(ix.col_codecs) > 1 else (key,))
        rows = self._rows(ix.table.codec, self._glue.point(ix.host_id, self._to_js(bytes(point))))
        return rows[0] if rows else None

    def index_filter(self, index_id: int, prefix: tuple[Any, ...]) -> Iterator[Row]:
        ix = self._index(index_id)
        glue = self._glue
        args = self._prefix_args(ix, prefix)
        if args is None:
            data = glue.point(ix.host_id, self._to_js(bytes(self._point(ix, prefix))))
        else:
            buf, *lens = args
            data = glue.range(ix.host_id, self._to_js(bytes(buf)), lens[0], len(prefix) - (1 if prefix else 0), lens[1], lens[2])
        return iter(self._rows(ix.table.codec, data))

    def index_range(self, index_id: int, prefix: tuple[Any, ...], lower: Bound, upper: Bound) -> Iterator[Row]:
        ix = self._index(index_id)
        buf, prefix_len, start_len, end_len = self._range(ix, prefix, lower, upper)
        data = self._glue.range(ix.host_id, self._to_js(bytes(buf)), prefix_len, len(prefix), start_len, end_len)
        return iter(self._rows(ix.table.codec, data))

    # ---- writes --------------------------------------------------------------------------------

    def insert(self, table_id: int, row: Row) -> Row:
        t = self._table(table_id)
        out = self._glue.insert(t.host_id, self._to_js(t.codec.encode(row)))
        if out is None:
            return row
        if isinstance(out, int):
            raise self._write_error(out, t, row, "insert")
        return self._with_generated(t, row, out)

    def update(self, index_id: int, row: Row) -> Row:
        ix = self._index(index_id)
        t = ix.table
        if t.host_id < 0:
            self._table(t.schema.table_id)
        out = self._glue.update(t.host_id, ix.host_id, self._to_js(t.codec.encode(row)))
        if out is None:
            return row
        if isinstance(out, int):
            if out == g.NO_SUCH_ROW:
                cols = ix.schema.columns
                shown: Any = row[cols[0]] if len(cols) == 1 else tuple(row[c] for c in cols)
                raise RowNotFound(t.schema.name, ix.schema.name, shown)
            raise self._write_error(out, t, row, "update", skip=ix.schema)
        return self._with_generated(t, row, out)

    def delete(self, table_id: int, row: Row) -> bool:
        t = self._table(table_id)
        relation = _U32.pack(1) + t.codec.encode(row)
        return int(self._glue.delete_eq(t.host_id, self._to_js(relation))) > 0

    def index_delete(self, index_id: int, prefix: tuple[Any, ...]) -> int:
        ix = self._index(index_id)
        args = self._prefix_args(ix, prefix)
        if args is None:
            return int(self._glue.delete_point(ix.host_id, self._to_js(bytes(self._point(ix, prefix)))))
        buf, *lens = args
        return int(
            self._glue.delete_range(ix.host_id, self._to_js(bytes(buf)), lens[0], len(prefix) - (1 if prefix else 0), lens[1], lens[2])
        )

    def clear(self, table_id: int) -> int:
        """Delete every row of the table (sys@2.1 `datastore_clear`); returns how many."""
        return int(self._glue.clear(self._table(table_id).host_id))

    # ---- internals -----------------------------------------------------------------------------

    def _with_generated(self, t: _Table, row: Row, generated: g.JsBytes) -> Row:
        """`row` with the auto-increment values the host wrote back (for the columns given as 0)."""
        if not t.sequences:
            return row
        data = g.as_bytes(generated)
        if not data:
            return row
        filled = list(row)
        off = 0
        for col, codec in t.sequences:
            if row[col] == 0:
                filled[col], off = codec.decode_from(data, off)
        return tuple(filled)

    def _write_error(self, errno: int, t: _Table, row: Row, what: str, skip: IndexSchema | None = None) -> Exception:
        if errno == g.UNIQUE_ALREADY_EXISTS:
            for ix in t.uniques:
                if ix is skip:
                    continue
                cols = ix.columns
                key: Any = row[cols[0]] if len(cols) == 1 else tuple(row[c] for c in cols)
                if self.index_find(ix.index_id, key) is not None:
                    names = tuple(t.schema.columns[c].name for c in cols)
                    return UniqueConstraintViolation(t.schema.name, ix.name, names, key)
            first = t.uniques[0] if t.uniques else None
            names = tuple(t.schema.columns[c].name for c in first.columns) if first else ()
            return UniqueConstraintViolation(t.schema.name, first.name if first else "?", names, None)
        return HostError(errno, f"{what} into table {t.schema.name!r}")

