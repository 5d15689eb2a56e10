"""Indexes over the rows of one table: unique (key -> row) and non-unique (key -> bag of rows).

Both keep a dict from key to rows, which answers exact matches. A btree index also answers prefix
and range scans from a sorted list of its distinct keys; that list is built on the first ordered
scan and maintained from then on, so tables whose btree indexes only ever see exact matches pay
nothing for order (see docs/engine.md).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

from sortedcontainers import SortedList

from spacetimedb.engine.errors import IndexScanUnsupported
from spacetimedb.engine.keys import KeyFn, make_key_fn, make_norm_fn, norm_prefix, norm_value
from spacetimedb.module.datastore import Bound, Row
from spacetimedb.module.schema import IndexSchema


class Index:
    """What unique and non-unique indexes share: keys, order, scans."""

    unique: bool = False

    def __init__(
        self, schema: IndexSchema, table_name: str, column_names: tuple[str, ...], raw: tuple[bool, ...]
    ):
        self.schema = schema
        self.index_id = schema.index_id
        self.name = schema.name
        self.table_name = table_name
        self.column_names = column_names
        self.columns = schema.columns
        self.ordered = schema.kind == "btree"
        self.raw = raw
        self.key_of: KeyFn = make_key_fn(schema.columns, raw)
        self.norm = make_norm_fn(raw)
        #: key -> row (unique) or bucket (non-unique). Never rebound, so its bound methods stay valid.
        self.map: dict[Hashable, Any] = {}
        #: The table's other indexes, and those of them that are unique (set by the table).
        self.siblings: list[Index] = []
        self.unique_siblings: list[UniqueIndex] = []
        #: Sorted distinct keys, built on the first ordered scan (None until then).
        self.sorted_keys: SortedList | None = None

    # ---- maintenance (blind: callers have checked constraints) --------------------------------

    def add(self, row: Row) -> None:
        raise NotImplementedError

    def remove(self, row: Row) -> None:
        raise NotImplementedError

    def replace(self, old: Row, new: Row) -> None:
        raise NotImplementedError

    def rows_at(self, key: Hashable) -> list[Row]:
        """Rows stored under an index key (already normalised)."""
        raise NotImplementedError

    def all_rows(self) -> Iterator[Row]:
        raise NotImplementedError

    def build(self, rows: Iterable[Row]) -> None:
        """Index `rows` from scratch (no constraint checks). The map object is kept: others hold it."""
        self.map.clear()
        self.sorted_keys = None
        for row in rows:
            self.add(row)

    # ---- lookups --------------------------------------------------------------------------------

    def user_key(self, key: Any) -> Hashable:
        return key if self.norm is None else self.norm(key)

    def finder(self) -> Callable[[Any], Row | None]:
        raise NotImplementedError

    def filter(self, prefix: tuple[Any, ...]) -> list[Row]:
        """Rows whose first len(prefix) key columns equal `prefix`."""
        n = len(self.columns)
        k = len(prefix)
        if k == n:
            key = prefix[0] if n == 1 else prefix
            return self.rows_at(self.user_key(key))
        if k == 0:
            return self._in_key_order(None, None, None) if self.ordered else list(self.all_rows())
        if k > n:
            raise IndexScanUnsupported(
                f"index '{self.name}' has {n} column(s) but the prefix has {k} values; pass at most {n}"
            )
        self._require_order("a prefix scan")
        return self._in_key_order(norm_prefix(prefix, self.raw), None, None)

    def range(self, prefix: tuple[Any, ...], lower: Bound, upper: Bound) -> list[Row]:
        """Rows matching `prefix` whose next key column lies between the bounds, in key order."""
        n = len(self.columns)
        k = len(prefix)
        if k >= n:
            raise IndexScanUnsupported(
                f"a range over index '{self.name}' ({n} column(s)) needs a prefix of fewer than {n} values, got {k}"
            )
        self._require_order("a range scan")
        raw = self.raw[k]
        lo = None if lower is None else (norm_value(lower[0], raw), lower[1])
        hi = None if upper is None else (norm_value(upper[0], raw), upper[1])
        return self._in_key_order(norm_prefix(prefix, self.raw) if n > 1 else None, lo, hi)

    def _require_order(self, what: str) -> None:
        if not self.ordered:
            raise IndexScanUnsupported(
                f"index '{self.name}' on table '{self.table_name}' is a hash index and cannot do {what}; "
                "declare a btree index for prefix or range scans"
            )

    def ordered_keys(self) -> SortedList:
        if self.sorted_keys is None:
            self.sorted_keys = SortedList(self.map)
        return self.sorted_keys

    def _in_key_order(
        self, prefix: tuple[Any, ...] | None, lo: tuple[Any, bool] | None, hi: tuple[Any, bool] | None
    ) -> list[Row]:
        keys = self.ordered_keys()
        out: list[Row] = []
        if prefix is None:  # one-column keys are bare values
            if lo is None and hi is None:
                selected: Iterable[Any] = keys
            else:
                selected = keys.irange(
                    None if lo is None else lo[0],
                    None if hi is None else hi[0],
                    (True if lo is None else lo[1], True if hi is None else hi[1]),
                )
            for key in selected:
                out.extend(self.rows_at(key))
            return out
        for key in _prefixed_keys(keys, prefix, lo, hi):
            out.extend(self.rows_at(key))
        return out


def _prefixed_keys(
    keys: SortedList, prefix: tuple[Any, ...], lo: tuple[Any, bool] | None, hi: tuple[Any, bool] | None
) -> Iterator[tuple[Any, ...]]:
    """Tuple keys starting with `prefix` whose next element lies within the bounds, in order."""
    k = len(prefix)
    start = prefix if lo is None else (*prefix, lo[0])
    for key in keys.irange(minimum=start):
        if key[:k] != prefix:
            return
        if lo is not None and not lo[1] and key[k] == lo[0]:
            continue
        if hi is not None:
            value = key[k]
            if value > hi[0] or (not hi[1] and value == hi[0]):
                return
        yield key


class UniqueIndex(Index):
    """key -> the one row with that key."""

    unique = True

    def add(self, row: Row) -> None:
        key = self.key_of(row)
        self.map[key] = row
        if self.sorted_keys is not None:
            self.sorted_keys.add(key)

    def remove(self, row: Row) -> None:
        key = self.key_of(row)
        del self.map[key]
        if self.sorted_keys is not None:
            self.sorted_keys.remove(key)

    def replace(self, old: Row, new: Row) -> None:
        key_of = self.key_of
        key = key_of(new)
        if key == key_of(old):
            self.map[key] = new
        else:
            self.remove(old)
            self.add(new)

    def build(self, rows: Iterable[Row]) -> None:
        """Index `rows` from scratch in one C-level pass (duplicate keys keep the last row)."""
        rows = rows if isinstance(rows, list) else list(rows)
        self.map.clear()
        self.sorted_keys = None
        self.map.update(zip(map(self.key_of, rows), rows, strict=True))

    def find(self, key: Any) -> Row | None:
        return self.map.get(key if self.norm is None else self.norm(key))

    def finder(self) -> Callable[[Any], Row | None]:
        """`find` with the dispatch resolved once: the dict's own `get` for plain keys."""
        get = self.map.get
        norm = self.norm
        if norm is None:
            return get
        return lambda key: get(norm(key))

    def rows_at(self, key: Hashable) -> list[Row]:
        row = self.map.get(key)
        return [] if row is None else [row]

    def all_rows(self) -> Iterator[Row]:
        return iter(self.map.values())


class MultiIndex(Index):
    """key -> rows: one row stored bare, several in a dict keyed by row identity (cheap removal)."""

    def __init__(
        self,
        schema: IndexSchema,
        table_name: str,
        column_names: tuple[str, ...],
        raw: tuple[bool, ...],
        identity: KeyFn,
    ):
        super().__init__(schema, table_name, column_names, raw)
        self.identity = identity

    def add(self, row: Row) -> None:
        key = self.key_of(row)
        bucket = self.map.get(key)
        if bucket is None:
            self.map[key] = row
            if self.sorted_keys is not None:
                self.sorted_keys.add(key)
        elif type(bucket) is dict:
            bucket[self.identity(row)] = row
        else:
            ident = self.identity
            self.map[key] = {ident(bucket): bucket, ident(row): row}

    def remove(self, row: Row) -> None:
        key = self.key_of(row)
        bucket = self.map[key]
        if type(bucket) is dict:
            del bucket[self.identity(row)]
            if len(bucket) == 1:
                self.map[key] = next(iter(bucket.values()))
        else:
            del self.map[key]
            if self.sorted_keys is not None:
                self.sorted_keys.remove(key)

    def replace(self, old: Row, new: Row) -> None:
        key = self.key_of(new)
        if key != self.key_of(old):
            self.remove(old)
            self.add(new)
            return
        bucket = self.map[key]
        if type(bucket) is dict:
            del bucket[self.identity(old)]
            bucket[self.identity(new)] = new
        else:
            self.map[key] = new

    def find(self, key: Any) -> Row | None:
        raise IndexScanUnsupported(
            f"index '{self.name}' on table '{self.table_name}' is not unique; use filter to get its rows"
        )

    def finder(self) -> Callable[[Any], Row | None]:
        return self.find

    def rows_at(self, key: Hashable) -> list[Row]:
        bucket = self.map.get(key)
        if bucket is None:
            return []
        if type(bucket) is dict:
            return list(bucket.values())
        return [bucket]

    def all_rows(self) -> Iterator[Row]:
        for bucket in self.map.values():
            if type(bucket) is dict:
                yield from bucket.values()
            else:
                yield bucket
