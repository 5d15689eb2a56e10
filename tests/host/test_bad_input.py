"""Bad input at the host: each is a clear error and leaves the database unchanged."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from spacetimedb.host import ModuleHost, ReducerArgumentsError, ReducerStatus, UnknownReducerError
from spacetimedb.module import ModuleDef, primary_key, reducer, table
from spacetimedb.module.declarations import collecting
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.special import Identity
from spacetimedb.sats.widths import u8, u32

with collecting() as _found:

    @table
    class Item:
        id: Annotated[u32, primary_key]
        qty: u8

    @table
    class Other:
        id: u32

    @reducer
    def put(ctx: Any, id: u32, qty: u8) -> None:
        ctx.db.item.insert(Item(id=id, qty=qty))

    @reducer
    def put_wrong_class(ctx: Any) -> None:
        ctx.db.item.insert(Item(id=1, qty=1))
        ctx.db.item.insert(Other(id=2))

    @reducer
    def put_wrong_field(ctx: Any) -> None:
        ctx.db.item.insert(Item(id=1, qty=1))
        ctx.db.item.insert(Item(id=2, qty=300))


ME = Identity(1)


@pytest.fixture
def host() -> ModuleHost:
    h = ModuleHost(ModuleDef.build(_found))
    h.init()
    return h


def items(h: ModuleHost) -> list[Any]:
    return list(h.db.scan(h.module.table("item").schema.table_id))


def test_wrong_count_and_types(host: ModuleHost) -> None:
    for args, match in [((1,), "takes 2"), ((1, 2, 3), "takes 2"), ((1, 256), "out of range for u8"), (("a", 1), "id")]:
        with pytest.raises(ReducerArgumentsError, match=match):
            host.call_reducer("put", args, caller=ME, args_format="python")
    with pytest.raises(ReducerArgumentsError, match="tuple or list"):
        host.call_reducer("put", 5, caller=ME, args_format="python")
    with pytest.raises(ReducerArgumentsError, match="args_format"):
        host.call_reducer("put", (1, 2), caller=ME, args_format="xml")  # type: ignore[arg-type]
    assert items(host) == []


def test_unknown_reducer(host: ModuleHost) -> None:
    with pytest.raises(UnknownReducerError, match="reducers are"):
        host.call_reducer("putt", (), caller=ME, args_format="python")


def test_row_of_the_wrong_class_rolls_back(host: ModuleHost) -> None:
    r = host.call_reducer("put_wrong_class", (), caller=ME, args_format="python")
    assert r.status is ReducerStatus.INTERNAL_ERROR
    assert r.error is not None and "expected a Item row, got Other" in r.error
    assert items(host) == []


def test_row_with_a_bad_field_rolls_back_and_names_it(host: ModuleHost) -> None:
    r = host.call_reducer("put_wrong_field", (), caller=ME, args_format="python")
    assert r.status is ReducerStatus.INTERNAL_ERROR
    assert r.error is not None and "Item.qty" in r.error and "out of range for u8" in r.error
    assert items(host) == []


def test_unsupported_annotation_fails_at_decoration() -> None:
    with pytest.raises(SchemaError, match=r"Bad\.tags: set\[str\]"):

        @table
        class Bad:
            tags: set[str]


def test_async_and_generator_reducers_are_rejected() -> None:
    with pytest.raises(SchemaError, match="plain function"):

        @reducer
        async def later(ctx: Any) -> None: ...

    with pytest.raises(SchemaError, match="plain function"):

        @reducer
        def gen(ctx: Any) -> Any:
            yield 1


def test_base_exceptions_from_module_code_fail_the_call_only() -> None:
    with collecting() as found:

        @table
        class Row:
            id: Annotated[u32, primary_key]

        @reducer
        def stop(ctx: Any) -> None:
            ctx.db.row.insert(Row(id=1))
            raise KeyboardInterrupt

        @reducer
        def spin(ctx: Any) -> None:
            ctx.db.row.insert(Row(id=2))
            while True:
                pass

    h = ModuleHost(ModuleDef.build(found))
    result = h.call_reducer("stop", (), caller=ME, args_format="python")
    assert not result.committed and "KeyboardInterrupt() raised by module code" in (result.error or "")
    assert h.db.count(h.module.table("row").schema.table_id) == 0
    assert not h.db.in_transaction
    # With a time limit, a runaway reducer is interrupted (here on the calling thread) and rolled back.
    h = ModuleHost(ModuleDef.build(found), time_limit=0.2)
    result = h.call_reducer("spin", (), caller=ME, args_format="python")
    assert not result.committed and "reducer time limit of 0.2 s" in (result.error or ""), result.error
    assert h.db.count(h.module.table("row").schema.table_id) == 0
    assert h.call_reducer("stop", (), caller=ME, args_format="python").error  # the host still works


def test_sender_error_message_is_text() -> None:
    from spacetimedb.module import SenderError

    assert SenderError(42).message == "42"



def test_a_runaway_lifecycle_reducer_is_interrupted_and_refuses_the_client() -> None:
    from spacetimedb.module import client_connected
    from spacetimedb.sats.special import ConnectionId

    with collecting() as found:

        @table
        class Seen:
            id: Annotated[u32, primary_key]

        @client_connected
        def hello(ctx: Any) -> None:
            ctx.db.seen.insert(Seen(id=1))
            while True:
                pass

    h = ModuleHost(ModuleDef.build(found), time_limit=0.2)
    result = h.client_connected(ME, ConnectionId(1))
    assert not result.committed and "reducer 'hello' ran longer than the reducer time limit of 0.2 s" in (result.error or "")
    assert h.db.count(h.module.table("seen").schema.table_id) == 0


def test_bad_bsatn_arguments_are_explained_and_change_nothing(host: ModuleHost) -> None:
    """The host calls the compiled decoder directly and only on failure the explaining one: the
    caller still gets a ReducerArgumentsError naming the reducer, never a bare ConversionError."""
    for data in (b"", b"\x01\x00\x00\x00", b"\x01\x00\x00\x00\x05\x06"):
        with pytest.raises(ReducerArgumentsError, match="reducer 'put': cannot decode BSATN arguments"):
            host.call_reducer("put", data, caller=ME)
    with pytest.raises(ReducerArgumentsError, match="put_wrong_class"):
        host.call_reducer("put_wrong_class", b"\x00", caller=ME)  # takes none: extra bytes do not fit
    assert items(host) == []
    assert host.call_reducer("put", b"\x01\x00\x00\x00\x05", caller=ME).committed
    assert items(host) == [(1, 5)]


def test_commit_observers_follow_registration(host: ModuleHost) -> None:
    """What `_run` does after a commit is precomputed from the registered log, check and listeners:
    it must follow every change of them."""
    seen: list[str] = []
    logged: list[int | None] = []

    def listener(r: Any) -> None:
        seen.append(r.reducer)

    host.add_commit_listener(listener)
    host.call_reducer("put", (1, 1), caller=ME, args_format="python")
    host.set_commit_log(lambda r: logged.append(r.tx_offset))
    host.call_reducer("put", (2, 1), caller=ME, args_format="python")
    host.set_commit_check(lambda r: "refused" if r.reducer == "put" else None)
    refused = host.call_reducer("put", (3, 1), caller=ME, args_format="python")
    assert refused.status is ReducerStatus.INTERNAL_ERROR and refused.error == "refused"
    host.set_commit_check(None)
    host.remove_commit_listener(listener)
    host.call_reducer("put", (4, 1), caller=ME, args_format="python")
    host.set_commit_log(None)
    host.call_reducer("put", (5, 1), caller=ME, args_format="python")
    assert seen == ["put", "put"]
    assert len(logged) == 2 and logged[1] == logged[0] + 1  # (4, 1) reused the refused call's offset
    assert sorted(r[0] for r in items(host)) == [1, 2, 4, 5]
