"""A read-only view of a module definition (RawModuleDefV10 in SATS-JSON) for codegen and `describe`.

Codegen works from the JSON form so that it serves both a local module (`--module-path`, whose
definition we export ourselves) and a published database (`GET /v1/database/:name/schema?version=10`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spacetimedb.sats.algebraic_type import (
    AlgebraicType,
    ArrayType,
    ProductType,
    RefType,
    SumType,
)
from spacetimedb.sats.type_json import TypeJsonError, algebraic_type_from_json
from spacetimedb.sats.type_json import option_value as _opt


class ModuleDefFormatError(ValueError):
    """The module definition JSON is not a RawModuleDefV10 this tool understands."""


def _variant(obj: Any, what: str) -> tuple[str, Any]:
    """A SATS-JSON sum value `{"Name": payload}` as (name, payload)."""
    if isinstance(obj, dict) and len(obj) == 1:
        ((k, v),) = obj.items()
        return str(k), v
    raise ModuleDefFormatError(f"expected a one-key object for {what}, got {obj!r:.80}")


def type_from_json(obj: Any) -> AlgebraicType:
    try:
        return algebraic_type_from_json(obj)
    except TypeJsonError as e:
        raise ModuleDefFormatError(str(e)) from None


@dataclass
class ColumnView:
    name: str
    type: AlgebraicType


@dataclass
class IndexView:
    name: str | None
    accessor: str | None
    algorithm: str  # "btree" | "hash" | "direct"
    columns: list[int]


@dataclass
class TableView:
    name: str
    row_ref: int
    columns: list[ColumnView]
    primary_key: list[int]
    indexes: list[IndexView]
    unique_constraints: list[tuple[str | None, list[int]]]
    sequences: list[int]
    public: bool
    is_event: bool
    schedule_reducer: str | None = None


@dataclass
class ReducerView:
    name: str
    params: list[ColumnView]
    lifecycle: str | None = None
    client_callable: bool = True


@dataclass
class ProcedureView:
    """A `@procedure`: called like a reducer, returns a value of `return_type`."""

    name: str
    params: list[ColumnView]
    return_type: AlgebraicType
    client_callable: bool = True


@dataclass
class ViewView:
    """A `@view`: clients read it as a read-only table named `name` with rows of `row_ref`."""

    name: str
    row_ref: int
    columns: list[ColumnView]
    anonymous: bool
    returns_list: bool
    primary_key: list[int] = field(default_factory=list)
    public: bool = True

    def as_table(self) -> TableView:
        """The table clients see (as upstream's `TableDef::from(ViewDef)`: no indexes, no constraints)."""
        return TableView(
            name=self.name,
            row_ref=self.row_ref,
            columns=self.columns,
            primary_key=list(self.primary_key),
            indexes=[],
            unique_constraints=[],
            sequences=[],
            public=self.public,
            is_event=False,
        )


@dataclass
class ModuleView:
    types: list[AlgebraicType]
    #: typespace index -> declared type name (PascalCase as the module defines it)
    type_names: dict[int, str]
    tables: list[TableView] = field(default_factory=list)
    reducers: list[ReducerView] = field(default_factory=list)
    views: list[ViewView] = field(default_factory=list)
    procedures: list[ProcedureView] = field(default_factory=list)

    def resolve(self, ty: AlgebraicType) -> AlgebraicType:
        while isinstance(ty, RefType):
            ty = self.types[ty.idx]
        return ty

    @property
    def callable_reducers(self) -> list[ReducerView]:
        return [r for r in self.reducers if r.lifecycle is None and r.client_callable]

    def reducers_for_bindings(self, *, include_private: bool = False) -> list[ReducerView]:
        """The reducers the official generator writes a file for: never `init`; private ones
        (scheduled and lifecycle reducers) only with `--include-private`."""
        return [r for r in self.reducers if r.lifecycle != "Init" and (include_private or r.client_callable)]


def _columns(product: AlgebraicType, what: str) -> list[ColumnView]:
    if not isinstance(product, ProductType):
        raise ModuleDefFormatError(f"{what} is not a product type")
    return [ColumnView(e.name or f"_{i}", e.algebraic_type) for i, e in enumerate(product.elements)]


def snake_case(name: str) -> str:
    """`PlayerScore` / `playerScore` -> `player_score` (already snake_case names are unchanged)."""
    out: list[str] = []
    for i, ch in enumerate(name):
        if ch.isupper():
            prev = name[i - 1] if i else ""
            nxt = name[i + 1] if i + 1 < len(name) else ""
            if i and prev != "_" and (prev.islower() or prev.isdigit() or (nxt.islower() and prev.isupper())):
                out.append("_")
            out.append(ch.lower())
        else:
            out.append(ch)
    return "".join(out)


def load_module_view(raw: dict[str, Any]) -> ModuleView:
    """Parse RawModuleDefV10 JSON (also accepts the `{"V10": {...}}` wrapper)."""
    if "V10" in raw and len(raw) == 1:
        raw = raw["V10"]
    if "sections" not in raw:
        raise ModuleDefFormatError(
            "not a RawModuleDefV10: no 'sections' (only V10 definitions are supported)"
        )
    sections: dict[str, Any] = {}
    for sec in raw["sections"]:
        tag, payload = _variant(sec, "RawModuleDefV10Section")
        sections[tag] = payload
    types = [type_from_json(t) for t in sections.get("Typespace", {}).get("types", [])]
    type_names: dict[int, str] = {}
    for td in sections.get("Types", []):
        name = td["source_name"]
        type_names[int(td["ty"])] = name["source_name"] if isinstance(name, dict) else str(name)
    view = ModuleView(types, type_names)
    policy, _ = _variant(sections.get("CaseConversionPolicy", {"SnakeCase": []}), "CaseConversionPolicy")
    explicit: dict[tuple[str, str], str] = {}
    for entry in sections.get("ExplicitNames", {}).get("entries", []):
        kind, mapping = _variant(entry, "ExplicitNameEntry")
        explicit[(kind, mapping["source_name"])] = mapping["canonical_name"]

    def canonical(kind: str, source: str) -> str:
        if (kind, source) in explicit:
            return explicit[(kind, source)]
        return snake_case(source) if policy == "SnakeCase" else source

    schedules = {
        canonical("Table", s["table_name"]): canonical("Function", s["function_name"])
        for s in sections.get("Schedules", [])
    }
    for t in sections.get("Tables", []):
        ref = int(t["product_type_ref"])
        indexes = []
        for ix in t.get("indexes", []):
            alg, cols = _variant(ix["algorithm"], "RawIndexAlgorithm")
            cols = cols if isinstance(cols, list) else [cols]
            indexes.append(
                IndexView(_opt(ix.get("source_name")), _opt(ix.get("accessor_name")), alg.lower(), cols)
            )
        uniques = []
        for c in t.get("constraints", []):
            kind, data = _variant(c["data"], "RawConstraintData")
            if kind == "Unique":
                uniques.append((_opt(c.get("source_name")), list(data["columns"])))
        access, _ = _variant(t["table_access"], "TableAccess")
        view.tables.append(
            TableView(
                name=canonical("Table", t["source_name"]),
                row_ref=ref,
                columns=_columns(view.resolve(RefType(ref)), f"table {t['source_name']}"),
                primary_key=list(t.get("primary_key", [])),
                indexes=indexes,
                unique_constraints=uniques,
                sequences=[int(s["column"]) for s in t.get("sequences", [])],
                public=access == "Public",
                is_event=bool(t.get("is_event", False)),
                schedule_reducer=schedules.get(canonical("Table", t["source_name"])),
            )
        )
    lifecycles = {}
    for lc in sections.get("LifeCycleReducers", []):
        kind, _ = _variant(lc["lifecycle_spec"], "Lifecycle")
        lifecycles[canonical("Function", lc["function_name"])] = kind
    scheduled = set(schedules.values())
    for r in sections.get("Reducers", []):
        vis, _ = _variant(r.get("visibility", {"ClientCallable": []}), "FunctionVisibility")
        params = type_from_json({"Product": r["params"]})
        name = canonical("Function", r["source_name"])
        # Upstream's validation makes scheduled and lifecycle reducers private whatever the raw
        # definition says (Rust and TypeScript module libraries export them as ClientCallable).
        private = vis != "ClientCallable" or name in scheduled or name in lifecycles
        view.reducers.append(
            ReducerView(
                name=name,
                params=_columns(params, f"reducer {r['source_name']}"),
                lifecycle=lifecycles.get(name),
                client_callable=not private,
            )
        )
    for p in sections.get("Procedures", []):
        vis, _ = _variant(p.get("visibility", {"ClientCallable": []}), "FunctionVisibility")
        name = canonical("Function", p["source_name"])
        view.procedures.append(
            ProcedureView(
                name=name,
                params=_columns(type_from_json({"Product": p["params"]}), f"procedure {p['source_name']}"),
                return_type=type_from_json(p["return_type"]),
                client_callable=vis == "ClientCallable" and name not in scheduled,
            )
        )
    _load_views(view, sections, canonical)
    return view


def _load_views(view: ModuleView, sections: dict[str, Any], canonical: Callable[[str, str], str]) -> None:
    pks: dict[str, list[str]] = {
        canonical("Function", p["view_source_name"]): list(p["columns"]) for p in sections.get("ViewPrimaryKeys", [])
    }
    for v in sections.get("Views", []):
        name = canonical("Function", v["source_name"])
        ret = type_from_json(v["return_type"])
        if isinstance(ret, ArrayType):
            inner, returns_list = ret.elem_ty, True
        elif isinstance(ret, SumType) and len(ret.variants) == 2 and ret.variants[0].name == "some":
            inner, returns_list = ret.variants[0].algebraic_type, False
        else:
            raise ModuleDefFormatError(f"view {name}: return type must be Option<T> or Vec<T>")
        if not isinstance(inner, RefType):
            raise ModuleDefFormatError(f"view {name}: the row type must be a named product type (a Ref)")
        columns = _columns(view.resolve(inner), f"view {name}")
        col = {c.name: i for i, c in enumerate(columns)}
        view.views.append(
            ViewView(
                name=name,
                row_ref=inner.idx,
                columns=columns,
                anonymous=bool(v.get("is_anonymous", False)),
                returns_list=returns_list,
                primary_key=[col[c] for c in pks.get(name, []) if c in col],
                public=bool(v.get("is_public", True)),
            )
        )
