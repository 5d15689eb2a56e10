"""The client cache: one `TableCache` per table, rows refcounted across overlapping subscriptions.

Rows are keyed by their primary key's value (tables with one) or by their BSATN bytes. A row two
subscriptions both match is stored once with count 2 and leaves when the last one drops it.
Applying a transaction only records the callbacks to fire (`Pending`); the connection fires them
once the whole transaction is in the cache, in the official SDKs' order: per table in the order the
tables arrived, a primary-key table's inserts and updates (delete + insert of one key) in arrival
order, then its deletes.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Iterator
from typing import Any

from spacetimedb.bsatn.codec import Codec
from spacetimedb.client.bindings import TableInfo
from spacetimedb.protocol.rows import BsatnRowList
from spacetimedb.sats.algebraic_type import AlgebraicType, ProductType, RefType, Typespace

log = logging.getLogger("spacetimedb.client")

#: (table cache, "insert" | "delete" | "update", callback arguments after the context)
Pending = tuple["TableCache", str, tuple[Any, ...]]
#: (key, row, row bytes)
Op = tuple[Any, Any, bytes]


def hashable(value: Any) -> Any:
    """A dict key for a column value (lists, e.g. array columns, become tuples)."""
    if isinstance(value, list):
        return tuple(hashable(v) for v in value)
    return value


def column_getter(info: TableInfo, column: str, typespace: Typespace | None) -> Callable[[Any], Any]:
    """Reads one column of a cached row: an attribute, or a position for rows decoded as bare tuples
    (an AlgebraicType row type without `make_row`)."""
    ty = info.row_type
    if info.make_row is None and isinstance(ty, AlgebraicType):
        while isinstance(ty, RefType) and typespace is not None:
            ty = typespace.types[ty.idx]
        if isinstance(ty, ProductType):
            for i, e in enumerate(ty.elements):
                if e.name == column:
                    return operator.itemgetter(i)
    return operator.attrgetter(column)


class TableCache:
    __slots__ = (
        "codec", "column", "info", "is_event", "key_of", "make_row", "on_delete", "on_insert", "on_update", "pk", "rows",
    )  # fmt: skip

    def __init__(self, info: TableInfo, codec: Codec, typespace: Typespace | None = None) -> None:
        self.info = info
        self.codec = codec
        self.make_row = info.make_row
        self.pk = info.primary_key
        #: Rows are events (inserted, never stored): from the bindings, or learnt from the first
        #: EventTable update (a v9 schema does not say which tables are event tables).
        self.is_event = info.is_event
        self.column: Callable[[str], Callable[[Any], Any]] = lambda c: column_getter(info, c, typespace)
        self.key_of = self.column(self.pk) if self.pk is not None else None
        #: key -> [row, row bytes, refcount]
        self.rows: dict[Any, list[Any]] = {}
        self.on_insert: list[Callable[..., Any]] = []
        self.on_delete: list[Callable[..., Any]] = []
        self.on_update: list[Callable[..., Any]] = []

    # ---- decoding -----------------------------------------------------------------------

    def decode(self, row_list: BsatnRowList) -> list[Op]:
        decode, make, key_of = self.codec.decode, self.make_row, self.key_of
        out: list[Op] = []
        for raw in row_list.rows():
            row = decode(raw)
            if make is not None:
                row = make(row)
            out.append((hashable(key_of(row)) if key_of is not None else raw, row, raw))
        return out

    # ---- applying -----------------------------------------------------------------------

    def apply(self, inserts: list[Op], deletes: list[Op], out: list[Pending] | None) -> None:
        """Apply one transaction's rows of this table; `out` collects the callbacks to fire (None: none)."""
        if self.is_event:
            if out is not None:
                out.extend((self, "insert", (row,)) for _, row, _ in inserts)
            return
        if self.pk is None:
            for key, row, raw in inserts:
                self._insert(key, row, raw, 1, out)
            for key, row, _raw in deletes:
                self._delete(key, row, 1, out)
            return
        ins: dict[Any, list[Any]] = {}
        for key, row, raw in inserts:
            entry = ins.get(key)
            if entry is None:
                ins[key] = [row, raw, 1]
            else:
                entry[2] += 1
        dels: dict[Any, list[Any]] = {}
        for key, row, _raw in deletes:
            entry = dels.get(key)
            if entry is None:
                dels[key] = [row, 1]
            else:
                entry[1] += 1
        for key, (row, raw, n) in ins.items():
            d = dels.pop(key, None)
            if d is None:
                self._insert(key, row, raw, n, out)
            else:
                self._update(key, row, raw, n - d[1], out)
        for key, (row, n) in dels.items():
            self._delete(key, row, n, out)

    def _insert(self, key: Any, row: Any, raw: bytes, n: int, out: list[Pending] | None) -> None:
        entry = self.rows.get(key)
        if entry is None:
            self.rows[key] = [row, raw, n]
            if out is not None:
                out.append((self, "insert", (row,)))
        else:
            entry[2] += n

    def _delete(self, key: Any, row: Any, n: int, out: list[Pending] | None) -> None:
        entry = self.rows.get(key)
        if entry is None:
            log.warning("table %s: the server deleted a row that is not in the cache", self.info.name)
            return
        if entry[2] <= n:
            del self.rows[key]
            if out is not None:
                out.append((self, "delete", (entry[0],)))
        else:
            entry[2] -= n

    def _update(self, key: Any, row: Any, raw: bytes, delta: int, out: list[Pending] | None) -> None:
        entry = self.rows.get(key)
        if entry is None:
            log.warning("table %s: the server updated a row that is not in the cache", self.info.name)
            self.rows[key] = [row, raw, max(1, delta)]
            if out is not None:
                out.append((self, "insert", (row,)))
            return
        old = entry[0]
        entry[0], entry[1], entry[2] = row, raw, max(1, entry[2] + delta)
        if out is not None:
            out.append((self, "update", (old, row)))

    # ---- reconnect ------------------------------------------------------------------------

    def take_snapshot(self) -> dict[Any, list[Any]]:
        """Empty the cache, returning what it held (key -> [row, bytes, count])."""
        rows, self.rows = self.rows, {}
        return rows

    def diff_from(self, before: dict[Any, list[Any]], out: list[Pending]) -> None:
        """The callbacks that turn `before` into the current rows: inserts and updates, then deletes."""
        for key, (row, raw, _n) in self.rows.items():
            old = before.get(key)
            if old is None:
                out.append((self, "insert", (row,)))
            elif old[1] != raw:
                out.append((self, "update", (old[0], row)))
        for key, (row, _raw, _n) in before.items():
            if key not in self.rows:
                out.append((self, "delete", (row,)))

    def iter_rows(self) -> Iterator[Any]:
        for entry in list(self.rows.values()):
            yield entry[0]
