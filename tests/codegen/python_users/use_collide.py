"""Unique columns named like handle methods (`count`, `iter`, `index`, `on_update`, ...) keep their typed
accessor; the methods stay reachable through the handle class, as Rust's `Table::count(&handle)`."""

from __future__ import annotations

from collide_bindings import DbConnection, EventContext, Log, Tally
from events_bindings import DbConnection as EventsConnection
from events_bindings import Ping

from spacetimedb.client import PrimaryKeyTableHandle, TableHandle


def use(conn: DbConnection) -> None:
    by_count: Tally | None = conn.db.tally.count.find(1)
    by_iter: Tally | None = conn.db.tally.iter.find("it1")
    by_index: Tally | None = conn.db.tally.index.find(10)
    by_update: Tally | None = conn.db.tally.on_update.find(100)
    by_name: Tally | None = conn.db.tally.name.find("a")
    log: Log | None = conn.db.log.on_delete.find(1) or conn.db.log.remove_on_insert.find(2)
    rows: int = len(conn.db.tally) + TableHandle.count(conn.db.tally)
    tallies: list[Tally] = list(conn.db.tally) + list(TableHandle.iter(conn.db.tally))

    def renamed(ctx: EventContext, old: Tally, new: Tally) -> None:
        print(old.name, new.name, ctx.db.tally.count.find(new.count))

    PrimaryKeyTableHandle.on_update(conn.db.tally, renamed)
    conn.db.tally.on_insert(lambda ctx, row: print(row.on_insert))
    print(by_count, by_iter, by_index, by_update, by_name, log, rows, tallies)


async def call(conn: DbConnection) -> None:
    await conn.reducers._call(1)  # a reducer named like the bindings' internals
    await conn.reducers._call(self_=2)  # its parameter `self`, spelt self_


def use_events(conn: EventsConnection) -> None:
    conn.db.ping.on_insert(lambda ctx, row: print(row.n + 1))
    pings: list[Ping] = list(conn.db.ping.iter())
    conn.db.counter.on_update(lambda ctx, old, new: print(old.value, new.value))
    print(pings, conn.db.counter.id.find(0))
