"""`ModuleDef`: a whole module assembled from its declarations, with ids, schemas and a typespace.

Table ids follow declaration order, index ids are module-wide (as `IndexSchema` requires), and the
typespace holds every table's row type and every named type the module uses. Export to
RawModuleDefV10/V9 lives in `export.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spacetimedb.module.handles import RowConverter
from spacetimedb.module.http_handler import HttpHandlerDecl, handler_decl
from spacetimedb.module.procedure import PROCEDURE_ATTR, ProcedureDecl, procedure_decl
from spacetimedb.module.raw_def import LifecycleName
from spacetimedb.module.reducer import ReducerDecl, ScheduleSugar, reducer_decl
from spacetimedb.module.router import Router
from spacetimedb.module.schema import ColumnSchema, TableSchema
from spacetimedb.module.table import TABLE_ATTR, TableDecl
from spacetimedb.module.view import VIEW_ATTR, ViewDecl, view_decl
from spacetimedb.sats.algebraic_type import AlgebraicType, ProductType, ProductTypeElement, Typespace
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.infer import TypespaceBuilder
from spacetimedb.sats.nodes import Node


@dataclass(slots=True)
class TableDef:
    decl: TableDecl
    schema: TableSchema
    column_nodes: list[Node]
    converter: RowConverter

    @property
    def name(self) -> str:
        return self.schema.name

    @property
    def row_class(self) -> type:
        return self.decl.cls


@dataclass(slots=True)
class ReducerDef:
    decl: ReducerDecl
    name: str
    fn: Callable[..., Any]
    lifecycle: LifecycleName | None
    #: Parameter types with named types as refs into the module typespace.
    params: ProductType
    param_annotations: list[Any]
    #: False for `@scheduled` reducers: the schedule row is not passed to the function.
    takes_args: bool = True
    #: The schedule table firing this reducer, if any.
    schedule_table: str | None = None


@dataclass(frozen=True, slots=True)
class ViewDef:
    """A `@view`, assembled: what the host needs to run it and to serve its rows like a table's.

    Rows are tuples in `columns` order (the row product type's fields), encoded as the table
    rows of `product_type_ref` are; `converter.to_row` turns a returned row object into one.
    """

    decl: ViewDecl
    #: Canonical name: what clients subscribe to (`SELECT * FROM my_account`).
    name: str
    func: Callable[..., Any]
    #: Module-wide position in declaration order (0, 1, ...), over both kinds.
    view_id: int
    #: Position among the views of the same kind (anonymous or not): RawViewDefV10.index, as upstream.
    index: int
    #: True for `AnonymousViewContext` views (the same rows for every caller).
    anonymous: bool
    #: True for `-> list[T]`, False for `-> T | None` (zero or one row).
    returns_list: bool
    public: bool
    #: The Python class of the returned rows (a table's row class or any product type).
    row_type: type
    #: Index of the row product type in the module typespace.
    product_type_ref: int
    #: The exported return type: `Option<Ref>` or `Array<Ref>` (RawViewDefV10.return_type).
    return_type: AlgebraicType
    columns: tuple[ColumnSchema, ...]
    #: The primary-key column (upstream's RawViewPrimaryKeyDefV10), if the rows have one.
    primary_key: int | None
    converter: RowConverter

    @property
    def row_product(self) -> ProductType:
        return ProductType(tuple(ProductTypeElement(c.name, c.algebraic_type) for c in self.columns))

    def table_schema(self, table_id: int) -> TableSchema:
        """A TableSchema for the view's rows under `table_id` (no indexes, no sequences), for
        code that treats a view like a table (row lists, subscriptions with WHERE, `/sql`)."""
        return TableSchema(
            table_id=table_id,
            name=self.name,
            columns=self.columns,
            primary_key=self.primary_key,
            public=self.public,
            product_type_ref=self.product_type_ref,
        )


@dataclass(slots=True)
class ProcedureDef:
    decl: ProcedureDecl
    name: str
    fn: Callable[..., Any]
    params: ProductType
    param_annotations: list[Any]
    return_type: AlgebraicType
    return_annotation: Any
    #: The schedule table firing this procedure, if any (then it is private, as a scheduled reducer).
    schedule_table: str | None = None


@dataclass(slots=True)
class InitSchedule:
    """A job row that `@scheduled` asks the host to insert at init."""

    table: str
    sugar: ScheduleSugar


@dataclass(slots=True)
class ModuleDef:
    name: str
    tables: list[TableDef]
    reducers: dict[str, ReducerDef]
    typespace: Typespace
    #: (type name, typespace index) for the RawTypeDefs.
    named_types: list[tuple[str, int]]
    init_schedules: list[InitSchedule] = field(default_factory=list)
    #: The `@view`s in declaration order (`views[i].view_id == i`).
    views: list[ViewDef] = field(default_factory=list)
    #: The import name the module's code runs under (its loggers are named after it).
    python_name: str | None = None
    procedures: dict[str, ProcedureDef] = field(default_factory=dict)
    #: `@http_handler` functions by name, in declaration order.
    http_handlers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    #: Every route of the module's routers (merged), in declaration order.
    router: Router = field(default_factory=Router)
    _builder: TypespaceBuilder | None = None

    @property
    def table_schemas(self) -> tuple[TableSchema, ...]:
        return tuple(t.schema for t in self.tables)

    def table(self, name_or_class: str | type) -> TableDef:
        for t in self.tables:
            if t.name == name_or_class or t.decl.cls is name_or_class:
                return t
        raise SchemaError(f"no table {getattr(name_or_class, '__name__', name_or_class)!r} in module {self.name!r}")

    def view(self, name: str) -> ViewDef:
        for v in self.views:
            if v.name == name:
                return v
        raise SchemaError(f"no view {name!r} in module {self.name!r}; views are {[v.name for v in self.views]}")

    def lifecycle(self, kind: LifecycleName) -> ReducerDef | None:
        for r in self.reducers.values():
            if r.lifecycle == kind:
                return r
        return None

    def raw_module_def_bsatn(self, version: int = 10, *, wrapped: bool = False) -> bytes:
        """BSATN of RawModuleDefV10 (or V9); `wrapped` adds the versioned RawModuleDef tag."""
        from spacetimedb.module.export import module_def_bsatn

        return module_def_bsatn(self, version, wrapped=wrapped)

    def raw_module_def_json(self, version: int = 10, *, wrapped: bool = False) -> dict[str, Any]:
        """SATS-JSON of RawModuleDefV10 (or V9), as `/schema?version=` serves it (unwrapped by
        default; `wrapped` gives `{"V10": {...}}` for `spacetime generate --module-def`)."""
        from spacetimedb.module.export import module_def_json

        return module_def_json(self, version, wrapped=wrapped)

    def node_of(self, annotation: Any) -> Node:
        """The codec node graph of an annotation, sharing this module's named types."""
        assert self._builder is not None
        return self._builder.node_of(annotation)

    # ---- building ------------------------------------------------------------------------

    @classmethod
    def build(cls, decls: Iterable[object], name: str = "module") -> ModuleDef:
        """Assemble declarations (TableDecls, ReducerDecls, ViewDecls, or decorated classes/functions)."""
        tables: list[TableDecl] = []
        reducers: list[ReducerDecl] = []
        views: list[ViewDecl] = []
        procedures: list[ProcedureDecl] = []
        handlers: list[HttpHandlerDecl] = []
        routers: list[Router] = []
        for d in decls:
            if isinstance(d, Router):
                routers.append(d)
                continue
            hd = d if isinstance(d, HttpHandlerDecl) else handler_decl(d) if callable(d) else None
            if hd is not None:
                if all(h is not hd for h in handlers):
                    handlers.append(hd)
                continue
            if isinstance(d, type) and isinstance(getattr(d, TABLE_ATTR, None), TableDecl):
                d = getattr(d, TABLE_ATTR)
            elif callable(d) and not isinstance(d, (TableDecl, ReducerDecl, ViewDecl, ProcedureDecl)):
                if hasattr(d, "__spacetimedb_reducer__"):
                    d = reducer_decl(d)
                elif hasattr(d, VIEW_ATTR):
                    d = view_decl(d)
                elif hasattr(d, PROCEDURE_ATTR):
                    d = procedure_decl(d)
            if isinstance(d, TableDecl) and all(t is not d for t in tables):
                tables.append(d)
            elif isinstance(d, ReducerDecl) and all(r is not d for r in reducers):
                reducers.append(d)
            elif isinstance(d, ViewDecl) and all(v is not d for v in views):
                views.append(d)
            elif isinstance(d, ProcedureDecl) and all(p is not d for p in procedures):
                procedures.append(d)
        from spacetimedb.module.assemble import Assembler

        module = Assembler(name, tables, reducers, views, procedures).run()
        _add_http(module, handlers, routers)
        return module

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any], name: str = "module") -> ModuleDef:
        """Assemble from the tables, reducers and HTTP handlers found in a namespace (e.g.
        `vars(module)`), with the routes of its `router`."""
        found = [
            v
            for v in namespace.values()
            if (isinstance(v, type) and isinstance(getattr(v, TABLE_ATTR, None), TableDecl))
            or (callable(v) and any(hasattr(v, a) for a in ("__spacetimedb_reducer__", VIEW_ATTR, PROCEDURE_ATTR)))
            or (callable(v) and handler_decl(v) is not None)
        ]
        if isinstance(namespace.get("router"), Router):
            found.append(namespace["router"])
        return cls.build(found, name)


def _add_http(module: ModuleDef, handlers: list[HttpHandlerDecl], routers: list[Router]) -> None:
    """The module's HTTP handlers and the routes of all its routers (merged: a conflict is an error)."""
    for h in handlers:
        if h.name in module.http_handlers:
            raise SchemaError(f"two HTTP handlers are named {h.name!r}")
        if h.name in module.reducers or h.name in module.procedures or any(v.name == h.name for v in module.views):
            raise SchemaError(f"{h.name!r} names an HTTP handler and another function; functions need distinct names")
        module.http_handlers[h.name] = h.fn
    merged = Router()
    for r in routers:
        merged = merged.merge(r)
    declared = {id(fn) for fn in module.http_handlers.values()}
    for route in merged.routes:
        if id(route.handler) not in declared:
            raise SchemaError(
                f"route {route.method or 'ANY'} {route.path!r}: {getattr(route.handler, '__name__', route.handler)!r} "
                f"is not an @http_handler function of this module"
            )
    module.router = merged


def handler_name(module: ModuleDef, fn: Callable[..., Any]) -> str:
    """The registered name of the `@http_handler` function `fn`."""
    decl = handler_decl(fn)
    assert decl is not None  # _add_http checked every routed function
    return decl.name
