"""Assembling a ModuleDef: ids, index names, the typespace, schedule links and checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from spacetimedb.module.handles import RowConverter
from spacetimedb.module.markers import auto_inc, primary_key
from spacetimedb.module.module_def import InitSchedule, ModuleDef, ProcedureDef, ReducerDef, TableDef, ViewDef
from spacetimedb.module.procedure import ProcedureDecl
from spacetimedb.module.raw_def import LIFECYCLES
from spacetimedb.module.reducer import ReducerDecl
from spacetimedb.module.row_converters import compile_row_converter, is_exact
from spacetimedb.module.schema import ColumnSchema, IndexSchema, SequenceSchema, TableSchema
from spacetimedb.module.table import TABLE_ATTR, TableDecl, _declare
from spacetimedb.module.view import ViewDecl
from spacetimedb.sats.algebraic_type import (
    SCHEDULE_AT,
    U64,
    ProductType,
    ProductTypeElement,
    RefType,
    array,
    option,
)
from spacetimedb.sats.errors import SchemaError
from spacetimedb.sats.infer import TypespaceBuilder
from spacetimedb.sats.nodes import ProductNode, RefNode
from spacetimedb.sats.special import ScheduleAt
from spacetimedb.sats.widths import u64


class Assembler:
    def __init__(
        self,
        name: str,
        tables: list[TableDecl],
        reducers: list[ReducerDecl],
        views: list[ViewDecl] | None = None,
        procedures: list[ProcedureDecl] | None = None,
    ) -> None:
        self.name = name
        self.tables = list(tables)
        self.reducers = list(reducers)
        self.views = list(views or [])
        self.procedures = list(procedures or [])
        self.builder = TypespaceBuilder()
        self.next_index_id = 0
        self.init_schedules: list[InitSchedule] = []

    def run(self) -> ModuleDef:
        self._add_schedule_sugar_tables()
        self._check_names()
        table_defs = [self._table(i, d) for i, d in enumerate(self.tables)]
        reducer_defs = {r.name: self._reducer(r) for r in self.reducers}
        procedure_defs = {p.name: self._procedure(p) for p in self.procedures}
        self._link_procedure_schedules(table_defs, procedure_defs)
        for pname in procedure_defs:
            if pname in reducer_defs:
                raise SchemaError(f"a reducer and a procedure are both named {pname!r}; rename one (or pass name=)")
        if len(procedure_defs) != len(self.procedures):
            raise SchemaError("two procedures share a name; rename one (or pass name=)")
        self._link_schedules(table_defs, reducer_defs)
        for kind in LIFECYCLES:
            found = [r.name for r in reducer_defs.values() if r.lifecycle == kind]
            if len(found) > 1:
                raise SchemaError(f"module declares {len(found)} {kind} reducers ({found}); at most one is allowed")
        view_defs = self._views(table_defs, reducer_defs, set(procedure_defs))
        return ModuleDef(
            name=self.name,
            tables=table_defs,
            reducers=reducer_defs,
            typespace=self.builder.typespace,
            named_types=self.builder.named_types,
            init_schedules=self.init_schedules,
            views=view_defs,
            procedures=procedure_defs,
            _builder=self.builder,
        )

    def _add_schedule_sugar_tables(self) -> None:
        for r in self.reducers:
            if r.schedule is None:
                continue
            tname = f"{r.name}_schedule"
            row_cls = type(
                "".join(p.capitalize() for p in tname.split("_")),
                (),
                {
                    "__annotations__": {
                        "scheduled_id": Annotated[u64, primary_key, auto_inc],
                        "scheduled_at": ScheduleAt,
                    },
                    "__module__": r.fn.__module__,
                },
            )
            decl = _declare(
                row_cls, name=tname, public=False, pk=None, uniques=[], autos=[], idxs=[], scheduled=r.fn, event=False
            )
            setattr(row_cls, TABLE_ATTR, decl)
            self.tables.append(decl)
            self.init_schedules.append(InitSchedule(tname, r.schedule))

    def _check_names(self) -> None:
        seen: dict[str, str] = {}
        for t in self.tables:
            if t.name in seen:
                raise SchemaError(f"two tables are named {t.name!r}; pass name= to @table to rename one")
            seen[t.name] = "table"
        rnames: set[str] = set()
        for r in self.reducers:
            if r.name in rnames:
                raise SchemaError(f"two reducers are named {r.name!r}; rename one (or pass name=)")
            rnames.add(r.name)

    def _table(self, table_id: int, d: TableDecl) -> TableDef:
        ref = self.builder.type_of(d.cls)
        assert isinstance(ref, RefType)
        product = self.builder.typespace.types[ref.idx]
        assert isinstance(product, ProductType)
        node = self.builder.node_of(d.cls)
        pnode = node.resolved() if isinstance(node, RefNode) else node
        assert isinstance(pnode, ProductNode)
        col_names = [c.name for c in d.columns]
        columns = tuple(ColumnSchema(e.name or "", e.algebraic_type) for e in product.elements)
        if [c.name for c in columns] != col_names:
            raise SchemaError(f"table {d.name!r}: column order mismatch {col_names} vs {[c.name for c in columns]}")
        col = {n: i for i, n in enumerate(col_names)}
        indexes = self._indexes(d, col)
        sequences = tuple(SequenceSchema(column=col[a]) for a in dict.fromkeys(d.auto_inc))
        schedule_col = None
        if d.scheduled is not None:
            schedule_col = self._check_schedule_table(d, product, col)
        schema = TableSchema(
            table_id=table_id,
            name=d.name,
            columns=columns,
            primary_key=None if d.primary_key is None else col[d.primary_key],
            indexes=tuple(indexes),
            sequences=sequences,
            public=d.public,
            schedule_reducer=_reducer_name(d.scheduled),
            schedule_at_column=schedule_col,
            is_event=d.is_event,
            product_type_ref=ref.idx,
        )
        nodes = [f.node for f in pnode.fields]
        cols = list(zip(col_names, nodes, strict=True))
        to_row, from_row, keys = compile_row_converter(d.cls, cols)
        converter = RowConverter(
            cls=d.cls, to_row=to_row, from_row=from_row, key_converters=keys, exact=is_exact(cols)
        )
        return TableDef(decl=d, schema=schema, column_nodes=nodes, converter=converter)

    def _indexes(self, d: TableDecl, col: dict[str, int]) -> list[IndexSchema]:
        uniques = {tuple(u) for u in d.unique}
        if d.primary_key is not None:
            uniques.add((d.primary_key,))
        out: list[IndexSchema] = []
        covered: set[tuple[str, ...]] = set()
        explicit = {ix.accessor: ix for ix in d.indexes}

        def add(accessor: str, cols: tuple[str, ...], algorithm: str) -> None:
            ids = tuple(col[c] for c in cols)
            ix_name = f"{d.name}_{'_'.join(cols)}_idx_{algorithm}"
            out.append(
                IndexSchema(
                    index_id=self.next_index_id,
                    name=ix_name,
                    accessor=accessor,
                    columns=ids,
                    unique=cols in uniques,
                    kind=algorithm,  # type: ignore[arg-type]
                )
            )
            self.next_index_id += 1
            covered.add(cols)

        # Column-level indexes first, in column order (as the upstream module libraries emit them).
        for c in col:
            single = explicit.get(c)
            if single is not None and single.columns == (c,):
                add(c, (c,), single.algorithm)
            elif (c,) in uniques:
                add(c, (c,), "btree")
        for ix in d.indexes:
            if ix.columns == (ix.accessor,) and ix.columns in covered:
                continue
            add(ix.accessor, ix.columns, ix.algorithm)
        for u in d.unique:
            if tuple(u) not in covered:
                add("_".join(u), tuple(u), "btree")
        return out

    def _check_schedule_table(self, d: TableDecl, product: ProductType, col: dict[str, int]) -> int:
        at_cols = [i for i, c in enumerate(d.columns) if c.algebraic_type == SCHEDULE_AT]
        if len(at_cols) != 1:
            raise SchemaError(
                f"schedule table {d.name!r} needs exactly one ScheduleAt column (e.g. `scheduled_at: ScheduleAt`)"
            )
        pk = d.primary_key
        if pk is None or product.elements[col[pk]].algebraic_type != U64 or pk not in d.auto_inc:
            raise SchemaError(
                f"schedule table {d.name!r} needs a u64 auto-increment primary key, e.g. "
                "`scheduled_id: Annotated[u64, primary_key, auto_inc]`"
            )
        return at_cols[0]

    def _reducer(self, r: ReducerDecl) -> ReducerDef:
        params = r.resolve_params({t.cls.__name__: t.cls for t in self.tables})
        elements = tuple(ProductTypeElement(p.name, self.builder.type_of(p.annotation)) for p in params)
        return ReducerDef(
            decl=r,
            name=r.name,
            fn=r.fn,
            lifecycle=r.lifecycle,
            params=ProductType(elements),
            param_annotations=[p.annotation for p in params],
        )

    def _views(self, tables: list[TableDef], reducers: dict[str, ReducerDef], procedures: set[str]) -> list[ViewDef]:
        taken = {t.name: "table" for t in tables} | {r: "reducer" for r in reducers} | {p: "procedure" for p in procedures}
        by_class = {t.decl.cls: t for t in tables}
        names = {t.cls.__name__: t.cls for t in self.tables}
        out: list[ViewDef] = []
        per_kind = {True: 0, False: 0}
        for d in self.views:
            # Views share the namespace of tables (clients query both by name) and of functions.
            if d.name in taken:
                raise SchemaError(f"view {d.name!r} has the name of a {taken[d.name]}; pass name= to @view")
            taken[d.name] = "view"
            anonymous, returns_list, row_cls = d.resolve(names)
            ref = self.builder.type_of(row_cls)
            product = self.builder.typespace.types[ref.idx] if isinstance(ref, RefType) else None
            if not isinstance(ref, RefType) or not isinstance(product, ProductType):
                raise SchemaError(f"view {d.name!r} returns {row_cls.__name__}, which is not a product type")
            columns = tuple(ColumnSchema(e.name or "", e.algebraic_type) for e in product.elements)
            table = by_class.get(row_cls)
            if table is not None:
                converter = table.converter
            else:
                node = self.builder.node_of(row_cls)
                pnode = node.resolved() if isinstance(node, RefNode) else node
                assert isinstance(pnode, ProductNode)
                cols = list(zip([c.name for c in columns], [f.node for f in pnode.fields], strict=True))
                to_row, from_row, keys = compile_row_converter(row_cls, cols)
                converter = RowConverter(row_cls, to_row, from_row, keys, is_exact(cols))
            primary_key = table.schema.primary_key if table is not None else None
            if d.primary_key is not None:
                col = {c.name: i for i, c in enumerate(columns)}
                if d.primary_key not in col:
                    raise SchemaError(
                        f"view {d.name!r}: primary_key={d.primary_key!r} is not a column of {row_cls.__name__} "
                        f"(columns: {list(col)})"
                    )
                primary_key = col[d.primary_key]
            out.append(
                ViewDef(
                    decl=d,
                    name=d.name,
                    func=d.fn,
                    view_id=len(out),
                    index=per_kind[anonymous],
                    anonymous=anonymous,
                    returns_list=returns_list,
                    public=d.public,
                    row_type=row_cls,
                    product_type_ref=ref.idx,
                    return_type=array(ref) if returns_list else option(ref),
                    columns=columns,
                    primary_key=primary_key,
                    converter=converter,
                )
            )
            per_kind[anonymous] += 1
        return out

    def _procedure(self, p: ProcedureDecl) -> ProcedureDef:
        params, returns = p.resolve({t.cls.__name__: t.cls for t in self.tables})
        elements = tuple(ProductTypeElement(q.name, self.builder.type_of(q.annotation)) for q in params)
        return ProcedureDef(
            decl=p,
            name=p.name,
            fn=p.fn,
            params=ProductType(elements),
            param_annotations=[q.annotation for q in params],
            return_type=self.builder.type_of(returns),
            return_annotation=returns,
        )

    def _link_procedure_schedules(self, tables: list[TableDef], procedures: dict[str, ProcedureDef]) -> None:
        """Schedule tables firing a procedure (as upstream allows): it takes the row, like a reducer."""
        for t in tables:
            pd = procedures.get(_reducer_name(t.decl.scheduled) or "")
            if pd is None:
                continue
            pd.schedule_table = t.name
            ref = RefType(t.schema.product_type_ref or 0)
            if len(pd.params.elements) != 1 or pd.params.elements[0].algebraic_type != ref:
                raise SchemaError(
                    f"procedure {pd.name!r} is fired by schedule table {t.name!r}, so it must take exactly one "
                    f"argument after ctx, annotated with the row class {t.decl.cls.__name__}"
                )

    def _link_schedules(self, tables: list[TableDef], reducers: dict[str, ReducerDef]) -> None:
        for t in tables:
            target = t.decl.scheduled
            if target is None:
                continue
            rname = _reducer_name(target)
            if any(p.name == rname for p in self.procedures):
                continue  # `_link_procedure_schedules`
            rd = reducers.get(rname or "")
            if rd is None:
                raise SchemaError(
                    f"schedule table {t.name!r} fires reducer {rname!r}, which this module does not declare"
                )
            rd.schedule_table = t.name
            ref = RefType(t.schema.product_type_ref or 0)
            if rd.decl.schedule is not None:
                # @scheduled sugar: the function takes only ctx; the def still lists the row.
                rd.params = ProductType((ProductTypeElement("timer", ref),))
                rd.param_annotations = [t.decl.cls]
                rd.takes_args = False
                continue
            if len(rd.params.elements) != 1 or rd.params.elements[0].algebraic_type != ref:
                raise SchemaError(
                    f"reducer {rname!r} is fired by schedule table {t.name!r}, so it must take exactly one "
                    f"argument after ctx, annotated with the row class {t.decl.cls.__name__}"
                )


def _reducer_name(target: Callable[..., Any] | str | None) -> str | None:
    if target is None or isinstance(target, str):
        return target
    decl = getattr(target, "__spacetimedb_reducer__", None) or getattr(target, "__spacetimedb_procedure__", None)
    if decl is None:
        raise SchemaError(f"scheduled={getattr(target, '__name__', target)!r} is not a @reducer or @procedure function")
    return str(decl.name)
