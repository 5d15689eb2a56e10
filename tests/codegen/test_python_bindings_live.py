"""Generated Python bindings against our server: the quickstart chat through its typed `DbConnection`
(rows are the generated dataclasses, `find` on the primary key, typed reducers and errors), the
sdk-test port's column types round-tripping through generated row and argument classes, a procedure's
typed return value, and a view read as a table."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tests.client.harness import ROOT, run_with_server, until

from spacetimedb import ConnectionId, Identity, TimeDuration, Timestamp, Uuid, client
from spacetimedb.client import (
    EventTableHandle,
    PrimaryKeyTableHandle,
    ProcedureError,
    ReducerError,
    ReducerEvent,
    TableHandle,
)
from spacetimedb.codegen.module_view import load_module_view
from spacetimedb.codegen.python import generate_python
from spacetimedb.module.loader import load_module
from spacetimedb.server.app import Server

CHAT = ROOT / "examples" / "quickstart_chat.py"
SDK = ROOT / "tests" / "sdk_conformance" / "sdk_test_module.py"
PRICES = ROOT / "examples" / "price_feed.py"
EXCHANGE = ROOT / "examples" / "money_exchange.py"
PROCS = ROOT / "tests" / "server" / "modules" / "procs.py"
COLLIDE = ROOT / "tests" / "client" / "modules" / "collide.py"
EVENTS = ROOT / "tests" / "client" / "modules" / "events.py"


@pytest.fixture
def bindings(tmp_path: Path) -> Iterator[Any]:
    """`bindings(module_path)` generates `<stem>_live_bindings` under tmp_path and imports it."""
    made: list[str] = []
    sys.path.insert(0, str(tmp_path))

    def make(module: Path) -> ModuleType:
        name = f"{module.stem}_live_bindings"
        view = load_module_view(load_module(module).raw_module_def_json())
        for rel, text in generate_python(view).items():
            (tmp_path / name).mkdir(exist_ok=True)
            (tmp_path / name / rel).write_text(text, "utf-8")
        made.append(name)
        return importlib.import_module(name)

    yield make
    sys.path.remove(str(tmp_path))
    for name in made:
        sys.modules.pop(name, None)


def test_chat_through_generated_bindings(tmp_path: Path, bindings: Any) -> None:
    b = bindings(CHAT)

    async def scenario(server: Server, uri: str) -> None:
        seen: list[Any] = []
        async with b.DbConnection.builder().with_uri(uri).with_database_name("chat").build() as conn:
            assert isinstance(conn, b.DbConnection) and isinstance(conn.db.user, b.UserTable)
            conn.db.message.on_insert(lambda ctx, row: seen.append(("msg", row)))
            on_update = conn.db.user.on_update(lambda ctx, old, new: seen.append(("upd", old, new, ctx.event)))
            await conn.subscription_builder().subscribe(["SELECT * FROM message", "SELECT * FROM user"])
            me = conn.db.user.identity.find(conn.identity)
            assert isinstance(me, b.User) and me.online and me.name is None
            await conn.reducers.set_name("Ada")
            kind, old, new, event = seen[-1]
            assert (kind, old.name, new.name) == ("upd", None, "Ada") and isinstance(new, b.User)
            assert isinstance(event, ReducerEvent) and event.args == b.SetNameArgs("Ada")
            conn.db.user.remove_on_update(on_update)
            await conn.reducers.send_message("hello")
            (msg,) = conn.db.message.iter()
            assert isinstance(msg, b.Message) and (msg.text, msg.sender) == ("hello", conn.identity)
            assert seen[-1] == ("msg", msg) and len(conn.db.message) == conn.db.message.count() == 1
            with pytest.raises(ReducerError, match="Messages must not be empty"):
                await conn.reducers.send_message("")
            await conn.reducers.set_name("Bea")
            assert seen[-1][0] == "msg"  # the removed on_update did not fire
            assert conn.db.user.identity.find(conn.identity).name == "Bea"

    run_with_server(tmp_path, scenario, {"chat": CHAT})


def test_sdk_types_round_trip_through_generated_classes(tmp_path: Path, bindings: Any) -> None:
    b = bindings(SDK)
    ident = Identity.from_hex("c2" + "11" * 31)
    every = b.EveryPrimitiveStruct(
        1, 2, 3, 4, 2**128 - 1, 2**256 - 1, -1, -2, -3, -4, -(2**127), -(2**255), True, 0.5, 1.25, "s",
        ident, ConnectionId(7), Timestamp(1_700_000_000_000_000), TimeDuration(-5), Uuid(2**100),
    )  # fmt: skip
    # reducer -> (table, the reducer's arguments, the row it must produce)
    cases: list[tuple[str, str, tuple[Any, ...], Any]] = [
        ("insert_one_u256", "one_u256", (2**256 - 1,), b.OneU256(2**256 - 1)),
        ("insert_one_i8", "one_i8", (-128,), b.OneI8(-128)),
        ("insert_one_string", "one_string", ("héllo",), b.OneString("héllo")),
        ("insert_one_f32", "one_f32", (0.25,), b.OneF32(0.25)),
        ("insert_one_simple_enum", "one_simple_enum", (b.SimpleEnum.Two,), b.OneSimpleEnum(b.SimpleEnum.Two)),
        ("insert_one_unit_struct", "one_unit_struct", (b.UnitStruct(),), b.OneUnitStruct(b.UnitStruct())),
        ("insert_one_every_primitive_struct", "one_every_primitive_struct", (every,), b.OneEveryPrimitiveStruct(every)),
        ("insert_vec_string", "vec_string", (["a", "b"],), b.VecString(["a", "b"])),
        ("insert_vec_identity", "vec_identity", ([ident],), b.VecIdentity([ident])),
        ("insert_option_i32", "option_i32", (None,), b.OptionI32(None)),
        ("insert_option_simple_enum", "option_simple_enum", (b.SimpleEnum.One,), b.OptionSimpleEnum(b.SimpleEnum.One)),
        ("insert_pk_identity", "pk_identity", (ident, 1), b.PkIdentity(ident, 1)),
    ]  # fmt: skip

    async def scenario(server: Server, uri: str) -> None:
        async with b.DbConnection.builder().with_uri(uri).with_database_name("sdk").build() as conn:
            await conn.subscription_builder().subscribe_to_all_tables()
            for reducer, table, args, row in cases:
                await getattr(conn.reducers, reducer)(*args)
                assert list(getattr(conn.db, table).iter()) == [row], reducer
            updates: list[Any] = []
            conn.db.pk_identity.on_update(lambda ctx, old, new: updates.append((old.data, new.data)))
            await conn.reducers.update_pk_identity(ident, 2)
            assert updates == [(1, 2)] and conn.db.pk_identity.i.find(ident) == b.PkIdentity(ident, 2)
            await conn.reducers.insert_unique_u32(5, 50)
            assert conn.db.unique_u32.n.find(5) == b.UniqueU32(5, 50) and conn.db.unique_u32.n.find(6) is None
            await conn.reducers.delete_pk_identity(ident)
            assert len(conn.db.pk_identity) == 0

    run_with_server(tmp_path, scenario, {"sdk": SDK})


def test_procedure_value_and_view_rows_are_typed(tmp_path: Path, bindings: Any) -> None:
    prices = bindings(PRICES)
    exchange = bindings(EXCHANGE)
    procs = bindings(PROCS)

    async def scenario(server: Server, uri: str) -> None:
        async with prices.DbConnection.builder().with_uri(uri).with_database_name("prices").build() as conn:
            await conn.reducers.set_price("BTC", 77)
            assert await conn.procedures.stored_price("BTC") == 77
            assert await conn.procedures.stored_price("ETH") is None
        async with procs.DbConnection.builder().with_uri(uri).with_database_name("procs").build() as conn:
            assert await conn.procedures.add(2, 3) == 5
            with pytest.raises(ProcedureError, match="no good"):
                await conn.procedures.fail("no good")
        async with exchange.DbConnection.builder().with_uri(uri).with_database_name("exchange").build() as conn:
            await conn.subscription_builder().subscribe(["SELECT * FROM my_account"])
            await until(lambda: len(conn.db.my_account) == 1)
            (mine,) = conn.db.my_account.iter()
            assert isinstance(mine, exchange.Account) and mine.identity == conn.identity
            assert conn.db.my_account.identity.find(conn.identity) == mine

    run_with_server(tmp_path, scenario, {"prices": PRICES, "exchange": EXCHANGE, "procs": PROCS})


def test_unique_columns_named_like_handle_methods_keep_their_accessors(tmp_path: Path, bindings: Any) -> None:
    """`count`, `iter`, `index`, `on_update`, `name` (tally) and `on_delete`, `remove_on_insert` (log) are
    unique columns: `handle.<column>.find` works, with bindings and without; the methods they take the
    name of stay reachable through the class (`TableHandle.count(handle)`), `len()` and `for`."""
    b = bindings(COLLIDE)

    async def scenario(server: Server, uri: str) -> None:
        updates: list[Any] = []
        async with b.DbConnection.builder().with_uri(uri).with_database_name("collide").build() as conn:
            await conn.subscription_builder().subscribe_to_all_tables()
            PrimaryKeyTableHandle.on_update(conn.db.tally, lambda ctx, old, new: updates.append((old.name, new.name)))
            await conn.reducers.add(1, "a")
            await conn.reducers.add(2, "b")
            tally = conn.db.tally
            one = b.Tally(1, "it1", 10, 100, "a", 1)
            assert tally.count.find(1) == one and tally.iter.find("it1") == one and tally.index.find(10) == one
            assert tally.on_update.find(100) == one and tally.name.find("a") == one
            assert tally.index.find(11) is None and tally.count.find(3) is None
            assert TableHandle.count(tally) == len(tally) == 2 and len(list(TableHandle.iter(tally))) == 2
            assert sorted(r.count for r in tally) == [1, 2]
            assert TableHandle.index(tally, "count") is tally.count
            assert conn.db.log.on_delete.find(2) == b.Log(2, 3, "b") == conn.db.log.remove_on_insert.find(3)
            await conn.reducers.rename(1, "z")
            assert updates == [("a", "z")] and tally.name.find("z") == b.Tally(1, "it1", 10, 100, "z", 1)
            with pytest.raises(TypeError, match="no primary key"):
                conn.db.log.on_update(lambda ctx, old, new: None)  # the runtime check behind the type
            await conn.reducers._call(7)  # a reducer named like the bindings' internals, a parameter `self`
            assert conn.db.log.on_delete.find(7) == b.Log(7, 8, "called")
        async with client.connect(uri, "collide") as generic:  # no bindings: the same accessors
            await generic.subscription_builder().subscribe(["SELECT * FROM tally"])
            assert generic.db.tally.count.find(2).name == "b" and generic.db.tally.iter.find("it2").count == 2
            assert TableHandle.count(generic.db.tally) == 2 and "tally" in generic.db
            await generic.reducers._call(9)
            await generic.reducers._call(self=10)
            with pytest.raises(AttributeError, match="no table 'tallies'"):
                generic.db.tallies  # noqa: B018

    run_with_server(tmp_path, scenario, {"collide": COLLIDE})


def test_an_event_table_has_an_event_table_handle(tmp_path: Path, bindings: Any) -> None:
    b = bindings(EVENTS)

    async def scenario(server: Server, uri: str) -> None:
        async with b.DbConnection.builder().with_uri(uri).with_database_name("events").build() as conn:
            assert type(conn.db.ping) is EventTableHandle and isinstance(conn.db.counter, PrimaryKeyTableHandle)
            pings: list[Any] = []
            conn.db.ping.on_insert(lambda ctx, row: pings.append((row, type(ctx.event).__name__)))
            await conn.subscription_builder().subscribe_to_all_tables()
            await conn.reducers.ping(7)
            assert pings == [(b.Ping(7), "ReducerEvent")] and len(conn.db.ping) == 0
            with pytest.raises(TypeError, match="event table"):
                conn.db.ping.on_delete(lambda ctx, row: None)

    run_with_server(tmp_path, scenario, {"events": EVENTS})


def test_the_generators_list_of_handle_members_is_the_runtimes() -> None:
    """codegen may not import the client layer, so it keeps its own copy of the handles' members
    and of the runtime's rule for accessor names."""
    from spacetimedb.client import EventTableHandle, PrimaryKeyTableHandle, TableHandle, Tables
    from spacetimedb.client.table import accessor_names
    from spacetimedb.codegen.python import (
        EVENT_HANDLE_MEMBERS,
        HANDLE_MEMBERS,
        PK_HANDLE_MEMBERS,
        accessor_name,
    )

    def public(cls: type) -> set[str]:
        return {n for n in dir(cls) if not n.startswith("_")}

    assert public(TableHandle) == HANDLE_MEMBERS and public(PrimaryKeyTableHandle) == PK_HANDLE_MEMBERS
    assert public(EventTableHandle) == EVENT_HANDLE_MEMBERS
    assert public(Tables) == set()  # no table name is ever shadowed
    for name in ["count", "from", "name", "_x", "__len__", "_TableBase__cache", "_Tables__handles", "class"]:
        assert accessor_name(name) == (accessor_names(name)[-1] if accessor_names(name) else None), name
