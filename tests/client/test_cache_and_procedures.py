"""The client cache on its own (callback order, refcounts, updates, the reconnect diff) and
procedures called through a hand-written module description, as generated bindings would."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from spacetimedb import bsatn, client
from spacetimedb.client.cache import Pending, TableCache
from spacetimedb.protocol import BsatnRowList
from spacetimedb.sats import algebraic_type as at
from spacetimedb.server.app import Server

from .harness import ROOT, run_with_server

U32 = at.PrimitiveType(at.Primitive.U32)
ROW = at.product(("id", U32), ("v", U32))


def cache(pk: str | None) -> TableCache:
    info = client.TableInfo(name="t", row_type=ROW, primary_key=pk)
    return TableCache(info, bsatn.compile(ROW))


def ops(c: TableCache, *rows: tuple[int, int]) -> list[Any]:
    return c.decode(BsatnRowList.from_rows([struct.pack("<II", *r) for r in rows]))


def kinds(pending: list[Pending]) -> list[tuple[Any, ...]]:
    return [(kind, *args) for _, kind, args in pending]


def test_primary_key_table_inserts_and_updates_in_order_then_deletes() -> None:
    c = cache("id")
    out: list[Pending] = []
    c.apply(ops(c, (1, 10), (2, 20), (3, 30)), [], out)
    assert kinds(out) == [("insert", (1, 10)), ("insert", (2, 20)), ("insert", (3, 30))]
    out = []
    c.apply(ops(c, (4, 40), (2, 21)), ops(c, (1, 10), (2, 20)), out)
    assert kinds(out) == [("insert", (4, 40)), ("update", (2, 20), (2, 21)), ("delete", (1, 10))]
    assert sorted(c.iter_rows()) == [(2, 21), (3, 30), (4, 40)]


def test_rows_are_refcounted_across_subscriptions() -> None:
    for pk in ("id", None):
        c = cache(pk)
        out: list[Pending] = []
        c.apply(ops(c, (1, 10)), [], out)
        c.apply(ops(c, (1, 10)), [], out)  # a second subscription matches the same row
        assert kinds(out) == [("insert", (1, 10))]
        out = []
        c.apply([], ops(c, (1, 10)), out)
        assert out == [] and list(c.iter_rows()) == [(1, 10)]
        c.apply([], ops(c, (1, 10)), out)
        assert kinds(out) == [("delete", (1, 10))] and list(c.iter_rows()) == []


def test_reconnect_diff_reports_only_changes() -> None:
    c = cache("id")
    c.apply(ops(c, (1, 10), (2, 20), (3, 30)), [], None)
    before = c.take_snapshot()
    c.apply(ops(c, (1, 10), (2, 22), (4, 40)), [], None)
    out: list[Pending] = []
    c.diff_from(before, out)
    assert kinds(out) == [("update", (2, 20), (2, 22)), ("insert", (4, 40)), ("delete", (3, 30))]


def test_event_tables_fire_inserts_and_store_nothing() -> None:
    info = client.TableInfo(name="e", row_type=ROW, is_event=True)
    c = TableCache(info, bsatn.compile(ROW))
    out: list[Pending] = []
    c.apply(ops(c, (1, 1), (1, 1)), [], out)
    assert kinds(out) == [("insert", (1, 1)), ("insert", (1, 1))] and c.rows == {}


def test_procedures_through_a_module_description(tmp_path: Path) -> None:
    string = at.PrimitiveType(at.Primitive.String)
    u64 = at.PrimitiveType(at.Primitive.U64)
    module = client.ModuleInfo(
        reducers={"set_price": client.ReducerInfo("set_price", at.product(("symbol", string), ("cents", u64)))},
        procedures={
            "stored_price": client.ProcedureInfo("stored_price", at.product(("symbol", string)), at.option(u64))
        },
    )

    async def scenario(server: Server, uri: str) -> None:
        conn = await client.DbConnectionBuilder(client.DbConnection, module).with_uri(uri).with_database_name("prices").build()
        try:
            assert await conn.procedures.stored_price("BTC") is None
            await conn.reducers.set_price("BTC", 77)
            assert await conn.procedures.stored_price(symbol="BTC") == 77
            raw = await conn.call_procedure("stored_price", bsatn.encode(("BTC",), at.product(("symbol", string))))
            assert bsatn.decode(raw, at.option(u64)) == 77
            with pytest.raises(client.ProcedureError):
                await conn.call_procedure("no_such_procedure", b"")
            with pytest.raises(TypeError):
                conn.reducers.set_price("BTC")
        finally:
            await conn.close()

    run_with_server(tmp_path, scenario, modules={"prices": ROOT / "examples" / "price_feed.py"})


def test_event_table_rows_fire_on_insert_and_stay_out_of_the_cache(tmp_path: Path) -> None:
    async def scenario(server: Server, uri: str) -> None:
        async with client.connect(uri, "events") as conn:
            seen: list[Any] = []
            conn.db.ping.on_insert(lambda ctx, row: seen.append(("ping", row.n)))
            conn.db.counter.on_insert(lambda ctx, row: seen.append(("counter+", row.value)))
            conn.db.counter.on_update(lambda ctx, old, new: seen.append(("counter~", old.value, new.value)))
            await conn.subscription_builder().subscribe_to_all_tables()
            await conn.reducers.ping(7)
            await conn.reducers.ping(8)
            assert seen == [("ping", 7), ("counter+", 1), ("ping", 8), ("counter~", 1, 2)]
            assert len(conn.db.ping) == 0 and len(conn.db.counter) == 1

    run_with_server(tmp_path, scenario, modules={"events": Path(__file__).with_name("modules") / "events.py"})


def test_procedures_without_bindings(tmp_path: Path) -> None:
    async def scenario(server: Server, uri: str) -> None:
        async with client.connect(uri, "prices") as conn:
            await conn.reducers.set_price("ETH", 12)
            assert await conn.procedures.stored_price("ETH") == 12
            assert await conn.procedures.stored_price("DOGE") is None

    run_with_server(tmp_path, scenario, modules={"prices": ROOT / "examples" / "price_feed.py"})
