"""A ModuleDef as RawModuleDefV10 (what 2.x modules publish) and RawModuleDefV9 (`/schema?version=9`).

Names are canonical (snake_case tables, columns and reducers, as SpacetimeDB's default
`SnakeCase` policy derives them from Python's names); index source names are the generated
`{table}_{cols}_idx_{algorithm}`; types keep their declared order (`custom_ordering = true`).
"""

from __future__ import annotations

from typing import Any

from spacetimedb.bsatn import compile as compile_codec
from spacetimedb.module import raw_def as r
from spacetimedb.module.module_def import ModuleDef, TableDef
from spacetimedb.sats import algebraic_type as at
from spacetimedb.sats.infer import node_of
from spacetimedb.sats.json import to_json


def _algorithm(ix_kind: str, cols: tuple[int, ...]) -> r.RawIndexAlgorithm:
    return r.RawIndexAlgorithm("Hash", list(cols)) if ix_kind == "hash" else r.RawIndexAlgorithm("BTree", list(cols))


def _unique_constraints(t: TableDef) -> list[tuple[int, ...]]:
    return [ix.columns for ix in t.schema.indexes if ix.unique]


def _default_values(t: TableDef) -> list[tuple[int, bytes]]:
    # Column defaults are a Python-side convenience (they fill in constructors); SpacetimeDB's
    # default values exist for schema migration, which this server does not do. None exported.
    return []


def _table_v10(t: TableDef) -> r.RawTableDefV10:
    s = t.schema
    return r.RawTableDefV10(
        source_name=s.name,
        product_type_ref=s.product_type_ref or 0,
        primary_key=[] if s.primary_key is None else [s.primary_key],
        indexes=[r.RawIndexDefV10(ix.name, ix.accessor, _algorithm(ix.kind, ix.columns)) for ix in s.indexes],
        constraints=[
            r.RawConstraintDefV10(None, r.RawConstraintDataV9("Unique", r.RawUniqueConstraintDataV9(list(cols))))
            for cols in _unique_constraints(t)
        ],
        sequences=[
            r.RawSequenceDefV10(None, q.column, None, None, None, q.increment) for q in s.sequences
        ],
        table_type=r.TableType("User"),
        table_access=r.TableAccess("Public") if s.public else r.TableAccess("Private"),
        default_values=[r.RawColumnDefaultValueV10(c, v) for c, v in _default_values(t)],
        is_event=s.is_event,
    )


def to_raw_v10(m: ModuleDef) -> r.RawModuleDefV10:
    types = [r.RawTypeDefV10(r.RawScopedTypeNameV10([], name), idx, True) for name, idx in m.named_types]
    # Lifecycle and scheduled reducers are Private, as upstream's C++ module library exports them
    # and as upstream's validation makes them for every library (the form `/schema` serves and
    # `spacetime generate` reads): clients get no bindings for them.
    scheduled = {t.schema.schedule_reducer for t in m.tables if t.schema.schedule_reducer is not None}
    reducers = [
        r.RawReducerDefV10(
            source_name=rd.name,
            params=rd.params,
            visibility=r.FunctionVisibility("Private")
            if rd.lifecycle or rd.name in scheduled
            else r.FunctionVisibility("ClientCallable"),
            ok_return_type=at.UNIT,
            err_return_type=at.STRING,
        )
        for rd in m.reducers.values()
    ]
    schedules = [
        r.RawScheduleDefV10(None, t.name, t.schema.schedule_at_column or 0, t.schema.schedule_reducer or "")
        for t in m.tables
        if t.schema.schedule_reducer is not None
    ]
    lifecycles = [
        r.RawLifeCycleReducerDefV10(r.Lifecycle(r.LIFECYCLE_VARIANT[rd.lifecycle]), rd.name)
        for rd in m.reducers.values()
        if rd.lifecycle is not None
    ]
    # Views as upstream's module libraries export them: `index` counts within each kind (the
    # host keeps per-caller and anonymous views in two lists), no parameters, and the declared
    # return type (`Option<T>` or `Vec<T>` of the row type's ref).
    views = [
        r.RawViewDefV10(v.name, v.index, v.public, v.anonymous, at.ProductType(()), v.return_type) for v in m.views
    ]
    # A view's primary key: the returned table's (as the TypeScript library derives it from the
    # row's primaryKey() column) or `@view(primary_key=)` (as Rust's `#[view(primary_key = ..)]`).
    view_pks = [
        r.RawViewPrimaryKeyDefV10(v.name, [v.columns[v.primary_key].name]) for v in m.views if v.primary_key is not None
    ]
    procedures = [
        r.RawProcedureDefV10(
            pd.name,
            pd.params,
            pd.return_type,
            r.FunctionVisibility("Private" if pd.schedule_table is not None else "ClientCallable"),
        )
        for pd in m.procedures.values()
    ]
    S = r.RawModuleDefV10Section
    sections = [
        S("Typespace", at.Typespace(list(m.typespace.types))),
        S("Types", types),
        S("Tables", [_table_v10(t) for t in m.tables]),
        S("Reducers", reducers),
    ]
    if procedures:
        sections.append(S("Procedures", procedures))
    if views:
        sections.append(S("Views", views))
    sections += [
        S("Schedules", schedules),
        S("LifeCycleReducers", lifecycles),
        S("CaseConversionPolicy", r.CaseConversionPolicy["SnakeCase"]),
    ]
    if view_pks:
        sections.append(S("ViewPrimaryKeys", view_pks))
    sections.extend(_http_sections(m))
    return r.RawModuleDefV10(sections)


def _http_sections(m: ModuleDef) -> list[r.RawModuleDefV10Section]:
    """HttpHandlers and HttpRoutes, present only when the module has handlers (as upstream's builder)."""
    if not m.http_handlers and not m.router.routes:
        return []
    names = {id(fn): name for name, fn in m.http_handlers.items()}
    routes = [
        r.RawHttpRouteDefV10(
            names[id(route.handler)],
            r.MethodOrAny("Any") if route.method is None else r.MethodOrAny("Method", _method(route.method)),
            route.path,
        )
        for route in m.router.routes
    ]
    S = r.RawModuleDefV10Section
    return [S("HttpHandlers", [r.RawHttpHandlerDefV10(name) for name in m.http_handlers]), S("HttpRoutes", routes)]


def _method(name: str) -> r.HttpMethod:
    variant = name.capitalize()
    return r.HttpMethod(variant) if variant in _STANDARD_METHODS else r.HttpMethod("Extension", name)


_STANDARD_METHODS = frozenset(("Get", "Head", "Post", "Put", "Delete", "Connect", "Options", "Trace", "Patch"))


def to_raw_v9(m: ModuleDef) -> r.RawModuleDefV9:
    tables = []
    for t in m.tables:
        s = t.schema
        sched = (
            r.RawScheduleDefV9(f"{s.name}_sched", s.schedule_reducer, s.schedule_at_column or 0)
            if s.schedule_reducer is not None
            else None
        )
        tables.append(
            r.RawTableDefV9(
                name=s.name,
                product_type_ref=s.product_type_ref or 0,
                primary_key=[] if s.primary_key is None else [s.primary_key],
                indexes=[r.RawIndexDefV9(ix.name, ix.accessor, _algorithm(ix.kind, ix.columns)) for ix in s.indexes],
                constraints=[
                    r.RawConstraintDefV9(
                        f"{s.name}_{'_'.join(s.columns[c].name for c in cols)}_key",
                        r.RawConstraintDataV9("Unique", r.RawUniqueConstraintDataV9(list(cols))),
                    )
                    for cols in _unique_constraints(t)
                ],
                sequences=[
                    r.RawSequenceDefV9(f"{s.name}_{s.columns[q.column].name}_seq", q.column, None, None, None, q.increment)
                    for q in s.sequences
                ],
                schedule=sched,
                table_type=r.TableType("User"),
                table_access=r.TableAccess("Public") if s.public else r.TableAccess("Private"),
            )
        )
    reducers = [
        r.RawReducerDefV9(rd.name, rd.params, r.Lifecycle(r.LIFECYCLE_VARIANT[rd.lifecycle]) if rd.lifecycle else None)
        for rd in m.reducers.values()
    ]
    types = [r.RawTypeDefV9(r.RawScopedTypeNameV9([], name), idx, True) for name, idx in m.named_types]
    # V9 has no views section: upstream lists views among the misc exports.
    misc = [
        r.RawMiscModuleExportV9(
            "View", r.RawViewDefV9(v.name, v.index, v.public, v.anonymous, at.ProductType(()), v.return_type)
        )
        for v in m.views
    ]
    # Procedures too, after the views, as upstream's V9 lists them (the Python client's schema).
    misc += [
        r.RawMiscModuleExportV9("Procedure", r.RawProcedureDefV9(pd.name, pd.params, pd.return_type))
        for pd in m.procedures.values()
    ]
    return r.RawModuleDefV9(at.Typespace(list(m.typespace.types)), tables, reducers, types, misc, [])


def module_def_bsatn(m: ModuleDef, version: int = 10, *, wrapped: bool = False) -> bytes:
    """BSATN of RawModuleDefV10 (or V9); `wrapped=True` encodes the versioned `RawModuleDef` sum."""
    if version not in (9, 10):
        raise ValueError(f"module definitions are exported as version 9 or 10, not {version}")
    raw: r.RawModuleDefV10 | r.RawModuleDefV9 = to_raw_v10(m) if version == 10 else to_raw_v9(m)
    if wrapped:
        return compile_codec(r.RawModuleDef).encode(r.RawModuleDef("V10" if version == 10 else "V9", raw))
    return compile_codec(type(raw)).encode(raw)


def module_def_json(m: ModuleDef, version: int = 10, *, wrapped: bool = False) -> dict[str, Any]:
    """SATS-JSON of RawModuleDefV10 (or V9); `wrapped=True` gives `{"V10": {...}}`."""
    if version not in (9, 10):
        raise ValueError(f"module definitions are exported as version 9 or 10, not {version}")
    raw: r.RawModuleDefV10 | r.RawModuleDefV9 = to_raw_v10(m) if version == 10 else to_raw_v9(m)
    doc: dict[str, Any] = to_json(raw, node_of(type(raw)))
    return {"V10" if version == 10 else "V9": doc} if wrapped else doc


def decode_module_def_bsatn(data: bytes, version: int = 10) -> r.RawModuleDefV10 | r.RawModuleDefV9:
    """The RawModuleDefV10/V9 object encoded in `data` (for round-trip checks and tools)."""
    return compile_codec(r.RawModuleDefV10 if version == 10 else r.RawModuleDefV9).decode(data)
