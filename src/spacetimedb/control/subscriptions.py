"""Who is subscribed to what, and the per-commit fan-out with shared encodings.

Identical queries (equal plan keys) across all clients are one `QueryEntry`: after a commit each
affected entry is evaluated once and its encoded `TableUpdateRows` bytes are shared by every
subscriber. A client's query set may hold several queries; the same query in two sets of one
client counts twice (the client cache is reference counted).

With a `PlanRouter` (the real host offers one over `spacetimedb.query.QueryRegistry`) a commit is
evaluated only for the queries whose tables and `col = constant` filters match its rows; without
one (or if the router fails on a commit) every query reading a changed table is evaluated.

A plan with a `commit_source` (a view's plan: `spacetimedb.control.views`) is evaluated only when
that source's `affected(changes)` names it: the source keeps one index of what every view read,
so a commit costs the views it touched, not one check per subscribed view.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spacetimedb.control.backend import Changes, FanOut, PlanRouter, Row, ServedTable, SubscriptionQuery
from spacetimedb.protocol import wire
from spacetimedb.protocol.rows import EMPTY_ROW_LIST_BYTES
from spacetimedb.query.limits import RowBudget

log = logging.getLogger("spacetimedb.server")

SetKey = tuple[object, int]  # (subscriber, query_set_id)


class DuplicateQuerySet(Exception):
    """A client reused a query_set_id that is still subscribed."""


class UnknownQuerySet(Exception):
    """Unsubscribe named a query set the client does not have."""


@dataclass(eq=False, slots=True)
class QueryEntry:
    plan: SubscriptionQuery
    subscribers: dict[SetKey, int] = field(default_factory=dict)
    #: The router's handle, None when the plan is evaluated directly.
    handle: Hashable | None = None
    #: `_one_query_fanout`'s grouping of `subscribers` while they do not change (cleared with
    #: every change): (query set, count, the subscribers as dict keys) when all share one set and
    #: count, False when they do not.
    grouping: tuple[int, int, dict[object, None]] | bool | None = None


class SubscriptionManager:
    def __init__(self, tables: Callable[[], Mapping[str, ServedTable]], router: PlanRouter | None = None) -> None:
        self._tables = tables
        self._router = router
        self._entries: dict[Hashable, QueryEntry] = {}
        #: Entries evaluated directly (every one without a router), by the tables they read.
        self._by_table: dict[str, set[QueryEntry]] = {}
        self._routed: dict[Hashable, QueryEntry] = {}
        #: Entries whose plan has a `commit_source`: source -> plan -> entry.
        self._watched: dict[Any, dict[Any, QueryEntry]] = {}
        self._sets: dict[SetKey, list[QueryEntry]] = {}
        self._sources: dict[SetKey, tuple[str, ...]] = {}
        #: Queries per subscriber, over all its sets (for the per-connection limit).
        self._counts: dict[object, int] = {}
        #: Query sets dropped because their evaluation failed: (subscriber, qs, error text).
        self.failures: list[tuple[object, int, str]] = []

    # ---- bookkeeping ----------------------------------------------------------------------

    def has_set(self, subscriber: object, query_set_id: int) -> bool:
        return (subscriber, query_set_id) in self._sets

    def add(
        self,
        subscriber: object,
        query_set_id: int,
        plans: Sequence[SubscriptionQuery],
        sources: Sequence[str] = (),
        *,
        with_rows: bool = True,
        budget: RowBudget | None = None,
    ) -> list[bytes]:
        """Register a query set; returns its SubscribeApplied `SingleTableRows` pieces (current rows,
        none when `with_rows` is false). `sources` are the query strings to recompile it from when
        the module is swapped (see `query_sets`). `budget` bounds the rows read for the current
        rows of all its queries together; if evaluating them fails (QueryRejected past the
        budget), the set is not kept."""
        key = (subscriber, query_set_id)
        if key in self._sets:
            raise DuplicateQuerySet(f"query set {query_set_id} is already subscribed; unsubscribe it first")
        entries: list[QueryEntry] = []
        seen: set[Hashable] = set()
        for plan in plans:
            if plan.key in seen:  # identical queries within one Subscribe count once
                continue
            seen.add(plan.key)
            entry = self._entries.get(plan.key)
            if entry is None:
                entry = self._new_entry(plan)
            entry.subscribers[key] = entry.subscribers.get(key, 0) + 1
            entry.grouping = None
            entries.append(entry)
        self._sets[key] = entries
        self._sources[key] = tuple(sources)
        self._counts[subscriber] = self._counts.get(subscriber, 0) + len(entries)
        if not with_rows:
            return []
        try:
            return [self._current_rows(e, budget) for e in entries]
        except BaseException:
            self.remove(subscriber, query_set_id, with_rows=False)
            raise

    def queries_of(self, subscriber: object) -> int:
        """How many queries `subscriber` has subscribed, over all its query sets."""
        return self._counts.get(subscriber, 0)

    def query_sets(self) -> list[tuple[object, int, tuple[str, ...]]]:
        """Every subscribed query set: (subscriber, query_set_id, the query strings it came from)."""
        return [(sub, qs, self._sources.get((sub, qs), ())) for sub, qs in self._sets]

    def _new_entry(self, plan: SubscriptionQuery) -> QueryEntry:
        entry = QueryEntry(plan)
        source = getattr(plan, "commit_source", None)
        if source is not None:
            self._watched.setdefault(source, {})[plan] = entry
            self._entries[plan.key] = entry
            return entry
        if self._router is not None and getattr(plan, "routable", True):
            try:
                entry.handle = self._router.register(plan)
            except Exception:  # evaluated directly instead
                log.exception("subscription router refused %r", plan)
        if entry.handle is not None:
            self._routed[entry.handle] = entry
        else:
            for table in plan.reads:
                self._by_table.setdefault(table, set()).add(entry)
        self._entries[plan.key] = entry
        return entry

    def remove(self, subscriber: object, query_set_id: int, *, with_rows: bool) -> list[bytes] | None:
        """Drop a query set; returns its current rows (for UnsubscribeApplied) when asked."""
        key = (subscriber, query_set_id)
        entries = self._sets.pop(key, None)
        self._sources.pop(key, None)
        if entries is None:
            raise UnknownQuerySet(f"no query set {query_set_id} is subscribed on this connection")
        rows = [self._current_rows(e) for e in entries] if with_rows else None
        for entry in entries:
            self._release(entry, key)
        self._uncount(subscriber, len(entries))
        return rows

    def _uncount(self, subscriber: object, n: int) -> None:
        left = self._counts.get(subscriber, 0) - n
        if left > 0:
            self._counts[subscriber] = left
        else:
            self._counts.pop(subscriber, None)

    def remove_subscriber(self, subscriber: object) -> None:
        for key in [k for k in self._sets if k[0] == subscriber]:
            self._sources.pop(key, None)
            for entry in self._sets.pop(key):
                self._release(entry, key)
        self._counts.pop(subscriber, None)

    def _release(self, entry: QueryEntry, key: SetKey) -> None:
        count = entry.subscribers.pop(key, 0) - 1
        entry.grouping = None
        if count > 0:
            entry.subscribers[key] = count
        if not entry.subscribers:
            del self._entries[entry.plan.key]
            source = getattr(entry.plan, "commit_source", None)
            if source is not None:
                watched = self._watched.get(source, {})
                watched.pop(entry.plan, None)
                if not watched:
                    self._watched.pop(source, None)
                return
            if entry.handle is not None:
                del self._routed[entry.handle]
                assert self._router is not None
                self._router.unregister(entry.handle)
                return
            for table in entry.plan.reads:
                bucket = self._by_table.get(table)
                if bucket is not None:
                    bucket.discard(entry)
                    if not bucket:
                        del self._by_table[table]

    @property
    def query_count(self) -> int:
        return len(self._entries)

    def listening(self) -> bool:
        """Whether any query is subscribed (the backend's commit listener: none means no fan-out)."""
        return bool(self._entries)

    # ---- evaluation -------------------------------------------------------------------------

    def _encode(self, table: str, rows: Sequence[Row]) -> bytes:
        if not rows:
            return EMPTY_ROW_LIST_BYTES
        encode = self._tables()[table].encode_row
        return wire.row_list([encode(r) for r in rows])

    def _current_rows(self, entry: QueryEntry, budget: RowBudget | None = None) -> bytes:
        plan = entry.plan
        info = self._tables()[plan.table_name]
        rows: Sequence[Row] = () if info.is_event else plan.initial_rows(budget) if budget is not None else plan.initial_rows()
        return wire.single_table_rows(plan.table_name, self._encode(plan.table_name, rows))

    def evaluate(self, changes: Changes) -> FanOut:
        """Every affected subscriber's query-set updates for one committed transaction."""
        changed = [table for table, delta in changes.items() if delta.inserts or delta.deletes]
        if not changed:
            return {}
        direct: set[QueryEntry] = set()
        routed: Mapping[Any, tuple[Sequence[Row], Sequence[Row]]] = {}
        if self._routed:
            assert self._router is not None
            try:
                routed = self._router.evaluate(changes)
            except Exception:  # evaluate each query on its own, so only a failing one is dropped
                log.exception("subscription router failed on a commit; evaluating each query")
                direct = {e for e in self._routed.values() if not e.plan.reads.isdisjoint(changed)}
        for table in changed:
            direct |= self._by_table.get(table, set())
        for source, watched in self._watched.items():
            try:
                affected = source.affected(changes)
            except Exception:  # offer the commit to each of them; each plan checks on its own
                log.exception("view read tracking failed on a commit; evaluating each view")
                affected = watched.keys()
            for plan in affected:
                entry = watched.get(plan)
                if entry is not None:
                    direct.add(entry)
        if not direct and not routed:
            return {}
        tables = self._tables()
        pieces: list[tuple[QueryEntry, str, bytes]] = []
        for handle, (inserts, deletes) in routed.items():
            entry = self._routed.get(handle)
            if entry is not None:
                self._add_piece(pieces, tables, entry, inserts, deletes)
        for entry in list(direct):
            plan = entry.plan
            try:
                inserts, deletes = plan.delta(changes)
            except Exception as e:  # drop every set using this query; the client is told
                log.exception("subscription query failed after a commit: %r", plan)
                self._fail(entry, f"subscription evaluation failed: {type(e).__name__}: {e}")
                continue
            self._add_piece(pieces, tables, entry, inserts, deletes)
        if len(pieces) == 1:  # the common case: one query changed; its subscribers share lists
            fanout = _one_query_fanout(*pieces[0])
            if fanout is not None:
                return fanout
        # subscriber -> qs -> table name -> [TableUpdateRows bytes]
        grouped: dict[object, dict[int, dict[str, list[bytes]]]] = {}
        for entry, name, piece in pieces:
            for (subscriber, qs), count in entry.subscribers.items():
                by_table = grouped.setdefault(subscriber, {}).setdefault(qs, {})
                by_table.setdefault(name, []).extend([piece] * count)
        return _encode_fanout(grouped)

    def _add_piece(
        self,
        pieces: list[tuple[QueryEntry, str, bytes]],
        tables: Mapping[str, ServedTable],
        entry: QueryEntry,
        inserts: Sequence[Row],
        deletes: Sequence[Row],
    ) -> None:
        """One query's update, encoded once for all its subscribers."""
        if not inserts and not deletes:
            return
        name = entry.plan.table_name
        if tables[name].is_event:
            piece = wire.event_table_rows(self._encode(name, inserts))
        else:
            piece = wire.persistent_table_rows(self._encode(name, inserts), self._encode(name, deletes))
        pieces.append((entry, name, piece))

    def _fail(self, entry: QueryEntry, error: str) -> None:
        for subscriber, qs in list(entry.subscribers):
            self.failures.append((subscriber, qs, error))
            self.remove(subscriber, qs, with_rows=False)

    def take_failures(self) -> list[tuple[object, int, str]]:
        failures, self.failures = self.failures, []
        return failures


def _one_query_fanout(entry: QueryEntry, table: str, piece: bytes) -> FanOut | None:
    """The fan-out of a commit that changed one query's rows: every subscriber's list is the one
    shared list of its (query set, count), so `fanout.broadcast` builds each message once. None
    when a subscriber has the query in two of its sets (the general path orders those)."""
    members = entry.subscribers
    grouping = entry.grouping
    if grouping is None:  # the first commit since the subscribers changed
        grouping = entry.grouping = _grouping(members)
    if grouping is not False:  # the common case: everyone in the same set, once
        # One C-level pass (dict.fromkeys over a dict): no Python step per subscriber.
        qs, count, subscribers = grouping  # type: ignore[misc]
        shared_list = [wire.query_set_update(qs, [wire.table_update(table, [piece] * count)])]
        out: FanOut = dict.fromkeys(subscribers, shared_list)  # one list, shared on purpose
        return out
    out = {}
    shared: dict[tuple[int, int], list[bytes]] = {}
    for (subscriber, qs), count in members.items():
        if subscriber in out:
            return None
        key = (qs, count)
        sets = shared.get(key)
        if sets is None:
            sets = shared[key] = [wire.query_set_update(qs, [wire.table_update(table, [piece] * count)])]
        out[subscriber] = sets
    return out


def _grouping(members: dict[SetKey, int]) -> tuple[int, int, dict[object, None]] | bool:
    """(query set, count, subscribers) when every subscriber of a query has it once in the same
    query set (then they all share one list of updates), else False."""
    keys = list(members)
    qss = set(map(_SET_OF, keys))
    counts = set(members.values())
    if len(qss) != 1 or len(counts) != 1:
        return False
    subscribers = dict.fromkeys(map(_SUBSCRIBER_OF, keys))
    if len(subscribers) != len(keys):  # (one set each, so never: a subscriber twice needs two sets)
        return False
    [qs], [count] = qss, counts
    return qs, count, subscribers


_SUBSCRIBER_OF = operator.itemgetter(0)
_SET_OF = operator.itemgetter(1)


def _encode_fanout(grouped: dict[object, dict[int, dict[str, list[bytes]]]]) -> FanOut:
    """Each subscriber's QuerySetUpdates, in query-set order. Subscribers with the same sets of the
    same queries (the common case: everyone on query set 0) share the very same list of the very
    same bytes objects, so the messages built from them are built (and framed) once."""
    table_updates: dict[tuple[object, ...], bytes] = {}
    set_updates: dict[tuple[object, ...], bytes] = {}
    lists: dict[tuple[int, ...], list[bytes]] = {}
    out: FanOut = {}
    for subscriber, sets in grouped.items():
        encoded = []
        for qs in sorted(sets):
            tus = []
            for table, pieces in sets[qs].items():
                key = (table, *map(id, pieces))
                tu = table_updates.get(key)
                if tu is None:
                    tu = table_updates[key] = wire.table_update(table, pieces)
                tus.append(tu)
            skey = (qs, *map(id, tus))
            qsu = set_updates.get(skey)
            if qsu is None:
                qsu = set_updates[skey] = wire.query_set_update(qs, tus)
            encoded.append(qsu)
        lkey = tuple(map(id, encoded))
        shared = lists.get(lkey)
        if shared is None:
            shared = lists[lkey] = encoded
        out[subscriber] = shared
    return out
