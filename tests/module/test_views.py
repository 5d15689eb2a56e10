"""`@view`: declaration, assembly, RawModuleDefV10 export (as upstream), and `ModuleRunner.run_view`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from tests.module.test_runner import DictStore

from spacetimedb import AnonymousViewContext, ProcedureContext, ViewContext, procedure, view
from spacetimedb.module import ModuleDef, ReducerContext, SenderError, primary_key, reducer, table
from spacetimedb.module import raw_def as r
from spacetimedb.module.declarations import collecting
from spacetimedb.module.export import decode_module_def_bsatn, module_def_bsatn, to_raw_v10
from spacetimedb.module.runner import FailureKind, ModuleRunner, ViewError
from spacetimedb.sats.algebraic_type import ArrayType, ProductType, RefType, SumType
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.special import Identity, Timestamp
from spacetimedb.sats.widths import u32, u64

ALICE = Identity(2)
BOB = Identity(3)


@dataclass
class Total:
    accounts: u64
    balance: u64


def _module() -> ModuleDef:
    with collecting() as found:

        @table
        class Account:
            owner: Annotated[Identity, primary_key]
            balance: u32

        @reducer
        def open_account(ctx: ReducerContext, balance: u32) -> None:
            ctx.db.account.insert(Account(owner=ctx.sender, balance=balance))

        @view(public=True)
        def my_account(ctx: ViewContext) -> Account | None:
            return ctx.db.account.owner.find(ctx.sender)

        @view(name="everyone", public=True)
        def all_accounts(ctx: AnonymousViewContext) -> list[Account]:
            return sorted(ctx.db.account.iter(), key=lambda a: a.balance)

        @view(public=True)
        def total(ctx: AnonymousViewContext) -> list[Total]:
            rows = list(ctx.db.account.iter())
            return [Total(len(rows), sum(a.balance for a in rows))]

        @view(public=True)
        def writes(ctx: ViewContext) -> list[Account]:
            ctx.db.account.insert(Account(owner=ctx.sender, balance=1))
            return []

        @view(public=True)
        def refuses(ctx: ViewContext) -> list[Account]:
            raise SenderError("not for you")

        @view(public=True)
        def wrong_type(ctx: ViewContext) -> Account | None:
            return 42  # type: ignore[return-value]

    return ModuleDef.build(found, "bank")


def _store(m: ModuleDef, rows: list[tuple[Any, ...]]) -> DictStore:
    pk = {t.schema.primary_index.index_id: t.schema.table_id for t in m.tables if t.schema.primary_index}
    return DictStore({0: {row[0]: row for row in rows}}, pk)


def test_views_are_assembled_in_declaration_order() -> None:
    m = _module()
    assert [v.name for v in m.views] == ["my_account", "everyone", "total", "writes", "refuses", "wrong_type"]
    assert [v.view_id for v in m.views] == [0, 1, 2, 3, 4, 5]
    # RawViewDefV10.index counts within each kind, as upstream's libraries number them.
    assert [(v.anonymous, v.index) for v in m.views] == [
        (False, 0), (True, 0), (True, 1), (False, 1), (False, 2), (False, 3),
    ]  # fmt: skip
    mine = m.view("my_account")
    assert not mine.returns_list and mine.row_type is m.table("account").row_class
    assert mine.product_type_ref == m.table("account").schema.product_type_ref
    assert [c.name for c in mine.columns] == ["owner", "balance"]
    assert mine.primary_key == 0
    total = m.view("total")
    assert total.returns_list and total.primary_key is None and total.row_type is Total
    assert [c.name for c in total.columns] == ["accounts", "balance"]
    schema = total.table_schema(4096)
    assert schema.table_id == 4096 and schema.name == "total" and schema.columns == total.columns


def test_raw_module_def_v10_views_section_round_trips() -> None:
    m = _module()
    raw = to_raw_v10(m)
    tags = [s.tag for s in raw.sections]
    assert tags == [
        "Typespace", "Types", "Tables", "Reducers", "Views", "Schedules", "LifeCycleReducers",
        "CaseConversionPolicy", "ViewPrimaryKeys",
    ]  # fmt: skip
    views = next(s.value for s in raw.sections if s.tag == "Views")
    assert views[0] == r.RawViewDefV10(
        "my_account", 0, True, False, ProductType(()), SumType(m.view("my_account").return_type.variants)  # type: ignore[attr-defined]
    )
    ref = m.table("account").schema.product_type_ref
    assert isinstance(views[0].return_type, SumType)
    assert views[0].return_type.variants[0].name == "some" and views[0].return_type.variants[0].algebraic_type == RefType(ref or 0)
    assert views[1] == r.RawViewDefV10("everyone", 0, True, True, ProductType(()), ArrayType(RefType(ref or 0)))
    pks = next(s.value for s in raw.sections if s.tag == "ViewPrimaryKeys")
    assert [(p.view_source_name, p.columns) for p in pks] == [
        ("my_account", ["owner"]), ("everyone", ["owner"]), ("writes", ["owner"]), ("refuses", ["owner"]),
        ("wrong_type", ["owner"]),
    ]  # fmt: skip
    data = module_def_bsatn(m)
    assert decode_module_def_bsatn(data) == raw
    assert module_def_bsatn(m, wrapped=True)[0] == 2  # RawModuleDef::V10
    doc = m.raw_module_def_json()
    assert doc["sections"][4]["Views"][2]["source_name"] == "total"
    assert doc["sections"][4]["Views"][2]["return_type"] == {"Array": {"Ref": m.view("total").product_type_ref}}


def test_a_module_without_views_exports_no_views_section() -> None:
    with collecting() as found:

        @table
        class Plain:
            id: Annotated[u32, primary_key]

    tags = [s.tag for s in to_raw_v10(ModuleDef.build(found)).sections]
    assert "Views" not in tags and "ViewPrimaryKeys" not in tags


def test_run_view_returns_rows_as_tuples() -> None:
    m = _module()
    runner = ModuleRunner(m, identity=Identity(1), log=lambda *a: None)
    store = _store(m, [(ALICE, 10), (BOB, 5)])
    assert runner.run_view(m.view("my_account"), store, sender=ALICE) == [(ALICE, 10)]
    assert runner.run_view(m.view("my_account"), store, sender=Identity(9)) == []
    assert runner.run_view(m.view("everyone"), store, sender=None) == [(BOB, 5), (ALICE, 10)]
    assert runner.run_view(m.view("total"), store, sender=None) == [(2, 15)]
    with pytest.raises(ValueError, match="per caller"):
        runner.run_view(m.view("my_account"), store, sender=None)


def test_a_view_cannot_write() -> None:
    m = _module()
    logs: list[tuple[Any, ...]] = []
    runner = ModuleRunner(m, identity=Identity(1), log=lambda *a: logs.append(a))
    store = _store(m, [])
    with pytest.raises(ViewError) as e:
        runner.run_view(m.view("writes"), store, sender=ALICE, timestamp=Timestamp(5))
    assert e.value.failure.kind is FailureKind.INTERNAL_ERROR
    assert "ViewReadOnlyError" in e.value.failure.message and "'writes'" in e.value.failure.message
    assert store.tables[0] == {}
    assert logs and logs[0][2] == "writes" and logs[0][3] == Timestamp(5)


def test_view_errors_carry_the_failure_kind() -> None:
    m = _module()
    runner = ModuleRunner(m, identity=Identity(1), log=lambda *a: None)
    store = _store(m, [(ALICE, 10)])
    with pytest.raises(ViewError) as e:
        runner.run_view(m.view("refuses"), store, sender=ALICE)
    assert e.value.failure.kind is FailureKind.SENDER_ERROR and e.value.failure.message == "not for you"
    with pytest.raises(ViewError, match="must return a Account or None, not int"):
        runner.run_view(m.view("wrong_type"), store, sender=ALICE)
    # The runner is usable again after a failure, and tables outside a call still refuse.
    assert runner.run_view(m.view("my_account"), store, sender=ALICE) == [(ALICE, 10)]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("@view\ndef v(ctx: ViewContext) -> list[Row]: return []", "must be public"),
        ("@view(public=True)\ndef v(ctx: ViewContext, n: u32) -> list[Row]: return []", "no parameters"),
        ("@view(public=True)\ndef v(ctx) -> list[Row]: return []", "ViewContext"),
        ("@view(public=True)\ndef v(ctx: ViewContext) -> Row: return []", "T | None"),
        ("@view(public=True)\ndef v(ctx: ViewContext) -> list[int]: return []", "annotated fields"),
        ("@view(public=True)\ndef row(ctx: ViewContext) -> list[Row]: return []", "name of a table"),
        (
            "@reducer\ndef twice(ctx): pass\n@view(public=True, name='twice')\ndef v(ctx: ViewContext) -> list[Row]: return []",
            "name of a reducer",
        ),
        (
            "@procedure\ndef twice(ctx: ProcedureContext) -> None: pass\n"
            "@view(public=True, name='twice')\ndef v(ctx: ViewContext) -> list[Row]: return []",
            "name of a procedure",
        ),
        ("@view(public=True, primary_key='nope')\ndef v(ctx: ViewContext) -> list[Row]: return []", "not a column"),
        ("@view(public=True)\nasync def v(ctx: ViewContext) -> list[Row]: return []", "plain function"),
    ],
)
def test_bad_views_are_rejected_with_a_clear_error(source: str, message: str) -> None:
    with collecting() as found:

        @table
        class Row:
            id: Annotated[u32, primary_key]

        ns: dict[str, Any] = {
            "view": view, "ViewContext": ViewContext, "u32": u32, "Row": Row, "reducer": reducer,
            "procedure": procedure, "ProcedureContext": ProcedureContext,
        }  # fmt: skip
        with pytest.raises(SchemaError, match=message):
            exec(source, ns)
            ModuleDef.build(found)


def test_explicit_primary_key_on_a_product_type() -> None:
    with collecting() as found:

        @view(public=True, primary_key="accounts")
        def stats(ctx: AnonymousViewContext) -> list[Total]:
            return []

    m = ModuleDef.build(found)
    assert m.view("stats").primary_key == 0
    pks = next(s.value for s in to_raw_v10(m).sections if s.tag == "ViewPrimaryKeys")
    assert pks == [r.RawViewPrimaryKeyDefV10("stats", ["accounts"])]


def test_v9_lists_views_among_the_misc_exports() -> None:
    m = _module()
    raw = decode_module_def_bsatn(module_def_bsatn(m, 9), 9)
    assert isinstance(raw, r.RawModuleDefV9)
    views = [e.value for e in raw.misc_exports if e.tag == "View"]
    assert [(v.name, v.index, v.is_anonymous) for v in views] == [
        ("my_account", 0, False), ("everyone", 0, True), ("total", 1, True), ("writes", 1, False),
        ("refuses", 2, False), ("wrong_type", 3, False),
    ]  # fmt: skip
    assert m.raw_module_def_json(9)["misc_exports"][1]["View"]["return_type"] == {
        "Array": {"Ref": m.table("account").schema.product_type_ref}
    }


def test_a_view_cannot_stop_the_host_and_leaves_no_store_behind() -> None:
    from spacetimedb.module import NoTransactionError

    with collecting() as found:

        @table
        class Cell:
            id: Annotated[u32, primary_key]

        @view(public=True)
        def exits(ctx: AnonymousViewContext) -> list[Cell]:
            raise SystemExit(3)

        @view(public=True)
        def leaks(ctx: AnonymousViewContext) -> list[Cell]:
            kept.append(ctx)
            return list(ctx.db.cell.iter())

    kept: list[Any] = []
    m = ModuleDef.build(found)
    runner = ModuleRunner(m, identity=Identity(1), log=lambda *a: None)
    store = _store(m, [(1,)])
    with pytest.raises(ViewError, match="SystemExit") as e:
        runner.run_view(m.view("exits"), store, sender=None)
    assert e.value.failure.kind is FailureKind.INTERNAL_ERROR
    assert runner.run_view(m.view("leaks"), store, sender=None) == [(1,)]
    assert runner.running is None
    # A context kept past its evaluation reaches no data.
    with pytest.raises(NoTransactionError):
        list(kept[0].db.cell.iter())
