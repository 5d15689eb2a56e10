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
from spacetimedb.module.raw_def import LifecycleName
from spacetimedb.module.reducer import ReducerDecl, ScheduleSugar, reducer_decl
from spacetimedb.module.schema import TableSchema
from spacetimedb.module.table import TABLE_ATTR, TableDecl
from spacetimedb.sats.algebraic_type import ProductType, Typespace
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
    #: The import name the module's code runs under (its loggers are named after it).
    python_name: str | None = None
    _builder: TypespaceBuilder | None = None

    @property
    def table_schemas(self) -> tuple[TableSchema, ...]:
        return tuple(t.schema for t in self.tables)

    def table(self, name_or_class: str | type) -> TableDef:
        for t in self.tables:
            if t.name == name_or_class or t.decl.cls is name_or_class:
                return t
        raise SchemaError(f"no table {getattr(name_or_class, '__name__', name_or_class)!r} in module {self.name!r}")

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
        """Assemble declarations (TableDecls, ReducerDecls, or decorated classes/functions)."""
        tables: list[TableDecl] = []
        reducers: list[ReducerDecl] = []
        for d in decls:
            if isinstance(d, type) and isinstance(getattr(d, TABLE_ATTR, None), TableDecl):
                d = getattr(d, TABLE_ATTR)
            elif callable(d) and not isinstance(d, (TableDecl, ReducerDecl)) and hasattr(d, "__spacetimedb_reducer__"):
                d = reducer_decl(d)
            if isinstance(d, TableDecl) and all(t is not d for t in tables):
                tables.append(d)
            elif isinstance(d, ReducerDecl) and all(r is not d for r in reducers):
                reducers.append(d)
        from spacetimedb.module.assemble import Assembler

        return Assembler(name, tables, reducers).run()

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any], name: str = "module") -> ModuleDef:
        """Assemble from the tables and reducers found in a namespace (e.g. `vars(module)`)."""
        found = [
            v
            for v in namespace.values()
            if (isinstance(v, type) and isinstance(getattr(v, TABLE_ATTR, None), TableDecl))
            or (callable(v) and hasattr(v, "__spacetimedb_reducer__"))
        ]
        return cls.build(found, name)
