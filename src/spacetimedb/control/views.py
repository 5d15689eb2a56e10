"""Views served like tables: a subscription plan that evaluates a `@view`, and the reads it made.

A view is evaluated per caller (anonymous: once, with no sender) through the module runner's
`run_view` over a `ReadRecorder`, which passes reads through to the committed state and records
what they touched: point lookups on an index (`find`/`filter` with every key value plain) as
(index, key), anything else (scans, counts, ranges) as the whole table. After a commit the view
is evaluated again only if the commit changed a row it read: a row of a table it read whole, or
a row whose index key equals a key it looked up (old and new versions both checked). Its
subscribers then get the multiset difference between the previous and the new result.

All subscribers of one view for one caller with the same filter share one plan (equal `key`),
so an anonymous view is evaluated once per affecting commit whoever watches it. A view that
fails at subscribe time is a QueryRejected (the client gets a SubscriptionError). As upstream,
the subscribed views a transaction affects are evaluated inside its commit, before it is logged
or seen (`check_commit`, the host's commit check): if one fails, the transaction is rolled back
and the call fails with the view's error; otherwise the fan-out uses those results.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any
from weakref import WeakSet

from spacetimedb.control.backend import Changes, QueryRejected, Row
from spacetimedb.module.datastore import Bound
from spacetimedb.module.module_def import ViewDef
from spacetimedb.module.runner import ModuleRunner, ViewError
from spacetimedb.module.schema import TableSchema
from spacetimedb.query.errors import SqlError
from spacetimedb.query.limits import RowBudget
from spacetimedb.sats.special import Identity, Timestamp

log = logging.getLogger("spacetimedb.server")

#: Key values compared with `==` against changed rows; floats are left out (NaN is not equal to itself).
_POINT_TYPES = (int, str, bool, bytes, Identity)


class ReadSet:
    """What one evaluation read: whole tables, and point keys per index."""

    __slots__ = ("points", "tables")

    def __init__(self) -> None:
        self.tables: set[int] = set()
        #: index_id -> keys looked up (each a tuple over the index's leading columns).
        self.points: dict[int, set[tuple[Any, ...]]] = {}


class ReadRecorder:
    """The read half of `Datastore` over `inner`, recording each read in `reads`. Writes raise
    (the runner already wraps the store read-only; this is the second line)."""

    def __init__(self, inner: Any, index_cols: Mapping[int, tuple[int, tuple[int, ...]]]) -> None:
        self._inner = inner
        self._index_cols = index_cols
        self.reads = ReadSet()

    def _point(self, index_id: int, key: tuple[Any, ...]) -> None:
        if all(isinstance(k, _POINT_TYPES) for k in key):
            self.reads.points.setdefault(index_id, set()).add(key)
        else:
            self.reads.tables.add(self._index_cols[index_id][0])

    def scan(self, table_id: int) -> Iterator[Row]:
        self.reads.tables.add(table_id)
        return self._inner.scan(table_id)

    def count(self, table_id: int) -> int:
        self.reads.tables.add(table_id)
        return self._inner.count(table_id)

    def index_find(self, index_id: int, key: Any) -> Row | None:
        cols = self._index_cols[index_id][1]
        self._point(index_id, tuple(key) if len(cols) > 1 and isinstance(key, tuple) else (key,))
        return self._inner.index_find(index_id, key)

    def index_filter(self, index_id: int, prefix: tuple[Any, ...]) -> Iterator[Row]:
        self._point(index_id, tuple(prefix))
        return self._inner.index_filter(index_id, prefix)

    def index_range(self, index_id: int, prefix: tuple[Any, ...], lower: Bound, upper: Bound) -> Iterator[Row]:
        self.reads.tables.add(self._index_cols[index_id][0])
        return self._inner.index_range(index_id, prefix, lower, upper)

    def _read_only(self, *_: Any) -> Any:
        raise QueryRejected("a view cannot write to the database")

    insert = delete = index_delete = update = _read_only


def index_columns(schemas: Sequence[TableSchema]) -> dict[int, tuple[int, tuple[int, ...]]]:
    """index_id -> (its table id, its columns), for the recorder and the affected check."""
    return {ix.index_id: (s.table_id, tuple(ix.columns)) for s in schemas for ix in s.indexes}


def multiset_diff(old: Sequence[Row], new: Sequence[Row]) -> tuple[list[Row], list[Row]]:
    """(inserts, deletes) turning bag `old` into bag `new`."""
    if old == new:
        return [], []
    before, after = Counter(old), Counter(new)
    inserts = list((after - before).elements())
    deletes = list((before - after).elements())
    return inserts, deletes


class ViewEvaluator:
    """Runs views for a database over its committed state (or an open transaction), and knows
    which subscribed view plans read what: one inverted index over every plan's last reads, so a
    commit finds the affected plans once (by its changed rows' keys), not once per plan."""

    def __init__(self, runner: ModuleRunner, state: Any, schemas: Sequence[TableSchema]) -> None:
        self.runner = runner
        self.state = state
        self.index_cols = index_columns(schemas)
        #: How many view evaluations ran (tests and the benchmark read it).
        self.evaluations = 0
        # Weak: a plan the subscription manager dropped leaves these by itself.
        self._by_table: dict[int, WeakSet[ViewPlan]] = {}
        #: index_id -> key -> plans that looked the key up.
        self._by_key: dict[int, dict[tuple[Any, ...], WeakSet[ViewPlan]]] = {}
        #: index_id -> the key lengths looked up (prefixes of a multi-column index).
        self._lengths: dict[int, set[int]] = {}
        self._indexes_of: dict[int, list[int]] = {}
        for index_id, (table_id, _) in self.index_cols.items():
            self._indexes_of.setdefault(table_id, []).append(index_id)
        self._changes: object = None
        self._affected: set[ViewPlan] = set()
        #: The results `check_commit` evaluated for the commit whose changes are `_changes`.
        self._prepared: dict[ViewPlan, tuple[list[Row], ReadSet]] = {}

    def run(self, view: ViewDef, sender: Identity | None, store: Any = None) -> tuple[list[Row], ReadSet]:
        """The view's rows for `sender` and what it read; raises ViewError when the view fails."""
        recorder = ReadRecorder(self.state if store is None else store, self.index_cols)
        self.evaluations += 1
        rows = self.runner.run_view(
            view, recorder, sender=None if view.anonymous else sender, timestamp=Timestamp.now()
        )
        return rows, recorder.reads

    def watch(self, plan: ViewPlan, new: ReadSet, old: ReadSet | None) -> None:
        """Index `plan` under what it read now (`new`) instead of before (`old`)."""
        if old is not None:
            for table_id in old.tables:
                self._by_table[table_id].discard(plan)
            for index_id, keys in old.points.items():
                by_key = self._by_key[index_id]
                for key in keys:
                    watchers = by_key.get(key)
                    if watchers is not None:
                        watchers.discard(plan)
                        if not watchers:
                            del by_key[key]
        for table_id in new.tables:
            self._by_table.setdefault(table_id, WeakSet()).add(plan)
        for index_id, keys in new.points.items():
            by_key = self._by_key.setdefault(index_id, {})
            lengths = self._lengths.setdefault(index_id, set())
            for key in keys:
                by_key.setdefault(key, WeakSet()).add(plan)
                lengths.add(len(key))

    def check_commit(self, by_id: Mapping[int, Any]) -> str | None:
        """Evaluate the watched plans a just-applied commit (`by_id`: its changes by table id)
        affects, over its state; the first failure's message, or None (results kept for `delta`)."""
        self._prepared = {}
        if not self._by_table and not self._by_key:
            return None  # no view is subscribed: the commit costs nothing here
        affected = self._affected_by_id(by_id)
        prepared: dict[ViewPlan, tuple[list[Row], ReadSet]] = {}
        for plan in list(affected):
            if plan._read is None:
                continue
            try:
                prepared[plan] = self.run(plan.view, plan.sender)
            except ViewError as e:
                return f"view `{plan.view.name}` failed: {e.failure.message}"
        self._prepared = prepared
        return None

    def prepared(self, plan: ViewPlan, changes: Changes) -> tuple[list[Row], ReadSet] | None:
        """What `check_commit` evaluated for `plan` on this commit, if it did."""
        if getattr(changes, "by_id", None) is not self._changes:
            return None
        return self._prepared.pop(plan, None)

    def affected(self, changes: Changes) -> set[ViewPlan]:
        """The plans whose last reads `changes` touched (computed once per commit)."""
        return self._affected_by_id(getattr(changes, "by_id", {}))

    def _affected_by_id(self, by_id: Mapping[int, Any]) -> set[ViewPlan]:
        if by_id is self._changes:
            return self._affected
        out: set[ViewPlan] = set()
        for table_id, change in by_id.items():
            whole = self._by_table.get(table_id)
            if whole:
                out.update(whole)
            for index_id in self._indexes_of.get(table_id, ()):
                by_key = self._by_key.get(index_id)
                if not by_key:
                    continue
                cols = self.index_cols[index_id][1]
                for length in self._lengths[index_id]:
                    key_cols = cols[:length]
                    for rows in (change.inserts, change.deletes):
                        for row in rows:
                            watchers = by_key.get(tuple([row[c] for c in key_cols]))
                            if watchers:
                                out.update(watchers)
        # Keyed by the changes' identity (kept alive here, so never reused): the commit check and
        # the fan-out of one commit share it.
        self._changes, self._affected = by_id, out
        return out


class ViewPlan:
    """One subscription to a view (for one caller, or anonymous), with an optional row filter:
    the control layer's `SubscriptionQuery`."""

    #: Never handed to the QueryRegistryRouter: views are evaluated directly.
    routable = False

    def __init__(
        self,
        evaluator: ViewEvaluator,
        view: ViewDef,
        sender: Identity,
        row_filter: Callable[[list[Row]], list[Row]] | None,
        filter_key: Hashable,
        all_tables: frozenset[str],
        *,
        sql: str = "",
        track_reads: bool = True,
    ) -> None:
        """`sql`: the query text (what a module swap recompiles it from); `track_reads=False`
        re-runs the view after every commit (the benchmark's baseline)."""
        self._evaluator = evaluator
        self.sql = sql
        self._track = track_reads
        self.view = view
        self.sender: Identity | None = None if view.anonymous else sender
        self._filter = row_filter
        self.key: Hashable = ("view", view.name, self.sender, filter_key)
        self.table_name: str = view.name
        #: Every table: the subscription manager offers each commit; `delta` decides from what was read.
        self.reads: frozenset[str] = all_tables
        self._rows: list[Row] | None = None
        self._read: ReadSet | None = None
        #: The SubscriptionManager asks it which view plans a commit affects (None: offer every commit).
        self.commit_source: ViewEvaluator | None = evaluator if track_reads else None

    def _filtered(self, rows: list[Row]) -> list[Row]:
        return rows if self._filter is None else self._filter(rows)

    def initial_rows(self, budget: RowBudget | None = None) -> Sequence[Row]:
        try:
            rows, read = self._evaluator.run(self.view, self.sender)
        except ViewError as e:
            raise QueryRejected(f"view `{self.view.name}` failed: {e.failure.message}") from None
        self._evaluator.watch(self, read, self._read)
        self._rows, self._read = rows, read
        out = self._filtered(rows)
        if budget is not None:  # the rows it produces count like a table query's (the rows it read do not)
            try:
                budget.charge(len(out))
            except SqlError as e:
                raise QueryRejected(str(e)) from None
        return out

    def delta(self, changes: Changes) -> tuple[Sequence[Row], Sequence[Row]]:
        if self._read is None:
            return (), ()
        if self._track and self not in self._evaluator.affected(changes):
            return (), ()
        prepared = self._evaluator.prepared(self, changes)
        if prepared is not None:  # evaluated inside the commit (`check_commit`)
            rows, new_read = prepared
        else:
            try:
                rows, new_read = self._evaluator.run(self.view, self.sender)
            except ViewError:  # a plan the commit check did not run (untracked): keeps the last rows
                return (), ()
        old = self._rows or []
        self._evaluator.watch(self, new_read, self._read)
        self._rows, self._read = rows, new_read
        inserts, deletes = multiset_diff(old, rows)
        return self._filtered(inserts), self._filtered(deletes)


class ViewTablesStore:
    """A store for `/sql`: the view's table ids scan to the view's rows for the caller (evaluated
    over the same transaction), every other read goes to `inner`; writes to a view are refused."""

    def __init__(self, inner: Any, evaluator: ViewEvaluator, views: Mapping[int, ViewDef], sender: Identity) -> None:
        self._inner = inner
        self._evaluator = evaluator
        self._views = views
        self._sender = sender

    def _view_rows(self, table_id: int) -> list[Row]:
        view = self._views[table_id]
        try:
            rows, _ = self._evaluator.run(view, self._sender, self._inner)
        except ViewError as e:
            raise QueryRejected(f"view `{view.name}` failed: {e.failure.message}") from None
        return rows

    def scan(self, table_id: int) -> Iterator[Row]:
        if table_id in self._views:
            return iter(self._view_rows(table_id))
        return self._inner.scan(table_id)

    def count(self, table_id: int) -> int:
        if table_id in self._views:
            return len(self._view_rows(table_id))
        return self._inner.count(table_id)

    def _refuse(self, table_id: int) -> None:
        if table_id in self._views:
            raise QueryRejected(f"`{self._views[table_id].name}` is a view: it cannot be written to")

    def insert(self, table_id: int, row: Row) -> Row:
        self._refuse(table_id)
        return self._inner.insert(table_id, row)

    def delete(self, table_id: int, row: Row) -> bool:
        self._refuse(table_id)
        return self._inner.delete(table_id, row)

    def __getattr__(self, name: str) -> Any:  # index reads and writes: views have no indexes
        return getattr(self._inner, name)
