"""Python client bindings: a package (`<out-dir>/__init__.py`) a client imports as `import chat_bindings`.

What it holds (docs/client.md, "Generated bindings"):

- one class per named type of the module: a dataclass per product (rows and nested types, fields in
  column order, so `spacetimedb.bsatn.decode(row_bytes, User)` decodes a row), an `enum.Enum` per
  sum of unit variants, a `spacetimedb.Sum` subclass (`Variant[T]` / `UnitVariant`) per other sum;
- `<Reducer>Args` / `<Procedure>Args` dataclasses: `bsatn.encode(args, SetNameArgs)` is what
  `CallReducer.args` carries;
- `TABLES`, `REDUCERS`, `PROCEDURES`: canonical name -> `TableInfo` / `ReducerInfo` / `ProcedureInfo`;
- `RemoteReducers(call)` / `RemoteProcedures(call)`: one typed method per reducer / procedure.

Python spellings: keywords get a trailing underscore (`from` -> `from_`); the wire keeps the
canonical names, and BSATN is positional, so nothing else changes.
"""

from __future__ import annotations

import json
import keyword
import re

from spacetimedb.codegen.module_view import ColumnView, ModuleView, TableView, snake_case
from spacetimedb.codegen.python_names import RESERVED_MEMBERS, py_ident
from spacetimedb.codegen.typescript import CodegenError, pascal_case
from spacetimedb.sats.algebraic_type import (
    BYTES,
    UNIT,
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    RefType,
    SumType,
    is_option,
    special_name,
)


def q(text: str) -> str:
    """A double-quoted Python string literal (JSON's escapes are Python's too)."""
    return json.dumps(text)


PRIMITIVE_NAMES = {"String": "str", "Bool": "bool", "F64": "float"}

#: Public members of the runtime's `spacetimedb.client.TableHandle` / `PrimaryKeyTableHandle` (codegen
#: may not import the client layer; tests/codegen checks these against it). A unique column of such
#: a name still gets its accessor (an instance attribute wins over the method, as a Rust SDK accessor
#: wins over the `Table` trait's method); its annotation then overrides the method's, which mypy
#: flags, hence a `# type: ignore[assignment]` on that line.
EVENT_HANDLE_MEMBERS = frozenset({"count", "index", "iter", "on_insert", "remove_on_insert"})
HANDLE_MEMBERS = EVENT_HANDLE_MEMBERS | {"on_delete", "remove_on_delete"}
PK_HANDLE_MEMBERS = HANDLE_MEMBERS | {"on_update", "remove_on_update"}


def accessor_name(name: str) -> str | None:
    """The attribute the runtime gives a unique column or a table (`client.table.accessor_names`):
    the name, `from_` for a keyword; None for a dunder or the handles' mangled state."""
    if (name.startswith("__") and name.endswith("__")) or name.startswith(("_TableBase__", "_Tables__")):
        return None
    if keyword.iskeyword(name):
        return name + "_"
    return name if name.isidentifier() else None


#: What the generated file itself defines or imports; a module type may not take these names.
GENERATED_NAMES = {
    "annotations", "enum", "dataclass", "Any", "Callable", "Sum", "Variant", "UnitVariant",
    "TableInfo", "ReducerInfo", "ProcedureInfo", "ModuleInfo", "TABLES", "REDUCERS", "PROCEDURES",
    "RemoteReducers", "RemoteProcedures", "RemoteTables", "DbConnection", "PendingCall",
    "TableHandle", "PrimaryKeyTableHandle", "EventTableHandle", "Tables", "UniqueIndex", "EventContext", "TypeAlias",
    "Identity", "ConnectionId", "Timestamp", "TimeDuration", "Uuid", "ScheduleAt",
    "u8", "u16", "u32", "u64", "u128", "u256", "i8", "i16", "i32", "i64", "i128", "i256", "f32", "f64",
}  # fmt: skip


class PythonGenerator:
    def __init__(self, module: ModuleView, *, include_private: bool = False) -> None:
        self.m = module
        self.include_private = include_private
        self.type_names = {i: pascal_case(n) for i, n in module.type_names.items()}
        self.imports: set[str] = set()
        for name in self.type_names.values():
            if name in GENERATED_NAMES:
                raise CodegenError(f"type {name}: the Python bindings define that name themselves; rename the type")

    # ---- types -----------------------------------------------------------------------------

    def annotation(self, ty: AlgebraicType, where: str) -> str:
        if isinstance(ty, RefType):
            if ty.idx in self.type_names:
                return self.type_names[ty.idx]
            return self.annotation(self.m.types[ty.idx], where)
        special = special_name(ty)
        if special:
            self.imports.add(special)
            return special
        if isinstance(ty, PrimitiveType):
            name = PRIMITIVE_NAMES.get(ty.kind.name)
            if name:
                return name
            width = ty.kind.name.lower()
            self.imports.add(width)
            return width
        if ty == BYTES:
            return "bytes"
        if isinstance(ty, ArrayType):
            return f"list[{self.annotation(ty.elem_ty, where + '[]')}]"
        if isinstance(ty, SumType) and is_option(ty):
            inner = self.m.resolve(ty.variants[0].algebraic_type)
            if isinstance(inner, SumType) and is_option(inner):
                raise CodegenError(f"{where}: an option of an option cannot be expressed in the Python bindings")
            return f"{self.annotation(ty.variants[0].algebraic_type, where)} | None"
        raise CodegenError(
            f"{where}: an anonymous {type(ty).__name__} cannot appear in client bindings; name it"
        )

    def dataclass(self, name: str, fields: list[ColumnView], doc: str) -> str:
        lines = ["@dataclass(slots=True)", f"class {name}:", f'    """{doc}"""', ""]
        if not fields:
            lines.append("    pass")
        for f in fields:
            ident = py_ident(f.name)
            noqa = "  # noqa: E741" if ident in ("l", "I", "O") else ""  # upstream's sdk-test names fields a..u
            lines.append(f"    {ident}: {self.annotation(f.type, f'{name}.{f.name}')}{noqa}")
        return "\n".join(lines) + "\n"

    def named_type(self, idx: int, name: str) -> str:
        ty = self.m.types[idx]
        if isinstance(ty, ProductType):
            cols = [ColumnView(e.name or f"_{i}", e.algebraic_type) for i, e in enumerate(ty.elements)]
            return self.dataclass(name, cols, f"The module type `{name}`.")
        if isinstance(ty, SumType) and all(v.algebraic_type == UNIT for v in ty.variants):
            members = "\n".join(f"    {py_ident(v.name or f'_{i}')} = {i}" for i, v in enumerate(ty.variants))
            self.imports.add("enum")
            return f'class {name}(enum.Enum):\n    """The module enum `{name}`."""\n\n{members}\n'
        if isinstance(ty, SumType):
            lines = [f"class {name}(Sum):", f'    """The module sum type `{name}`: `{name}.<Variant>(payload)`."""', ""]
            for i, v in enumerate(ty.variants):
                vname = py_ident(v.name or f"_{i}")
                if vname in RESERVED_MEMBERS or vname.startswith("_"):
                    raise CodegenError(f"type {name}: variant name {v.name!r} cannot be a Python Sum variant")
                if v.algebraic_type == UNIT:
                    self.imports.add("UnitVariant")
                    lines.append(f"    {vname}: UnitVariant")
                else:
                    self.imports.add("Variant")
                    lines.append(f"    {vname}: Variant[{self.annotation(v.algebraic_type, f'{name}.{vname}')}]")
            self.imports.add("Sum")
            return "\n".join(lines) + "\n"
        raise CodegenError(f"type {name}: a {type(ty).__name__} cannot be a named client type")

    # ---- what the client sees --------------------------------------------------------------

    def tables(self) -> list[TableView]:
        """Public tables (all with --include-private), then views: read-only tables to clients."""
        tables = [t for t in self.m.tables if t.public or self.include_private]
        return tables + [v.as_table() for v in self.m.views if v.public or self.include_private]

    def row_name(self, t: TableView) -> str:
        return self.type_names.get(t.row_ref) or pascal_case(t.name)

    @staticmethod
    def handle_kind(t: TableView) -> tuple[str, frozenset[str]]:
        """The runtime handle class a table's handle is (or subclasses), and that class's members."""
        if t.is_event:
            return "EventTableHandle", EVENT_HANDLE_MEMBERS
        if t.primary_key:
            return "PrimaryKeyTableHandle", PK_HANDLE_MEMBERS
        return "TableHandle", HANDLE_MEMBERS

    def table_handle(self, t: TableView, is_view: bool) -> tuple[str, str]:
        """(the handle's annotation, its class definition or "") for table `t`."""
        row = self.row_name(t)
        kind_cls, members = self.handle_kind(t)
        base = f"{kind_cls}[{row}, EventContext]"
        uniques = list(t.primary_key[:1]) + [cols[0] for _, cols in t.unique_constraints if len(cols) == 1]
        columns = list(dict.fromkeys(t.columns[c].name for c in uniques))
        typed = [(c, a) for c in columns if (a := accessor_name(c)) is not None]
        if not typed:
            return base, ""
        cls = f"{pascal_case(t.name)}Table"
        kind = "view" if is_view else "table"
        lines = [
            f"class {cls}({base}):",
            f'    """`conn.db.{t.name}`: the cached rows of {kind} `{t.name}`; `find` on its unique columns."""',
            "",
        ]
        col_types = {c.name: c.type for c in t.columns}
        for c, attr in typed:
            self.imports.add("UniqueIndex")
            ignore = "  # type: ignore[assignment]" if attr in members else ""  # the column wins over the method
            lines.append(f"    {attr}: UniqueIndex[{row}, {self.annotation(col_types[c], f'{t.name}.{c}')}]{ignore}")
        return cls, "\n".join(lines) + "\n"

    def table_info(self, t: TableView, is_view: bool, handle: str) -> str:
        uniques = list(t.primary_key[:1]) + [cols[0] for _, cols in t.unique_constraints if len(cols) == 1]
        unique_names = tuple(dict.fromkeys(t.columns[c].name for c in uniques))
        pk = t.columns[t.primary_key[0]].name if t.primary_key else None
        parts = [f"name={q(t.name)}", f"row_type={self.row_name(t)}", f"primary_key={q(pk) if pk else None}"]
        parts.append(f"unique_columns=({''.join(q(c) + ', ' for c in unique_names).rstrip(' ')})")
        if is_view:
            parts.append("is_view=True")
        if t.is_event:
            parts.append("is_event=True")
        if not handle.endswith(", EventContext]"):
            parts.append(f"handle_type={handle}")
        return f"    {q(t.name)}: TableInfo({', '.join(parts)}),"

    def call_method(self, kind: str, name: str, params: list[ColumnView], returns: str) -> str:
        # The class keeps `call` name-mangled (`self.__call`), so a reducer named `_call` is a method
        # like any other; a parameter named `self` becomes `self_` (the arguments are positional).
        idents = [py_ident(p.name) if p.name != "self" else "self_" for p in params]
        sig = "".join(f", {i}: {self.annotation(p.type, f'{kind} {name}')}" for i, p in zip(idents, params, strict=True))
        return (
            f"    def {py_ident(snake_case(name))}(self{sig}) -> PendingCall[{returns}]:\n"
            f"        return self.__call({q(name)}, {pascal_case(name)}Args({', '.join(idents)}))\n"
        )

    def generate(self) -> dict[str, str]:
        body: list[str] = []
        for idx, name in sorted(self.type_names.items(), key=lambda kv: kv[1]):
            if not special_name(self.m.types[idx]):
                body.append(self.named_type(idx, name))
        reducers = self.m.callable_reducers
        for r in reducers:
            body.append(
                self.dataclass(f"{pascal_case(r.name)}Args", r.params, f"Arguments of reducer `{r.name}`.")
            )
        procedures = [p for p in self.m.procedures if p.client_callable or self.include_private]
        for p in procedures:
            body.append(
                self.dataclass(f"{pascal_case(p.name)}Args", p.params, f"Arguments of procedure `{p.name}`.")
            )
        tables = [(t, False) for t in self.m.tables if t.public or self.include_private]
        tables += [(v.as_table(), True) for v in self.m.views if v.public or self.include_private]
        table_entries, table_attrs = [], []
        for t, is_view in tables:
            handle, cls = self.table_handle(t, is_view)
            if cls:
                body.append(cls)
            table_entries.append(self.table_info(t, is_view, handle))
            attr = accessor_name(t.name)
            if attr is not None:
                table_attrs.append(f"    {attr}: {handle}")
        reducer_entries = [
            f"    {q(r.name)}: ReducerInfo(name={q(r.name)}, args_type={pascal_case(r.name)}Args),"
            for r in reducers
        ]
        methods = [self.call_method("reducer", r.name, r.params, "None") for r in reducers]
        procedure_entries = []
        procedure_methods = []
        for p in procedures:
            if p.return_type == UNIT:
                returns, return_type = "tuple[()]", "type(None)"  # the runtime decodes unit as ()
            else:
                returns = return_type = self.annotation(p.return_type, f"{p.name} return type")
            procedure_entries.append(
                f"    {q(p.name)}: ProcedureInfo(name={q(p.name)}, args_type={pascal_case(p.name)}Args, "
                f"return_type={return_type}),"
            )
            procedure_methods.append(self.call_method("procedure", p.name, p.params, returns))
        handles = {self.handle_kind(t)[0] for t, _ in tables}
        runtime = sorted({"ModuleInfo", "ProcedureInfo", "ReducerInfo", "TableInfo", "Tables"}
                         | handles | (self.imports & {"UniqueIndex"}))
        header = [
            '"""Client bindings generated by `spacetimedb generate --lang python`. Do not edit.',
            "",
            "    async with DbConnection.builder().with_uri(URI).with_database_name(NAME).build() as conn:",
            "        ...   # conn.db.<table>, conn.reducers.<name>(...), conn.procedures.<name>(...)",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            *(["import enum"] if "enum" in self.imports else []),
            "from collections.abc import Callable",
            "from dataclasses import dataclass",
            "from typing import Any, TypeAlias",
            "",
            "from spacetimedb.client import DbConnection as _DbConnection",
            "from spacetimedb.client import EventContext as _EventContext",
            _from_import("spacetimedb.client", runtime),
            "from spacetimedb.client.pending import PendingCall",
        ]
        sats = sorted(self.imports - {"UniqueIndex", "enum"})
        if sats:
            header.append(_from_import("spacetimedb.sats", sats))
        text = "\n".join(header) + "\n\n"
        text += (
            "#: The `ctx` every callback gets: `ctx.db`, `ctx.reducers`, `ctx.procedures` typed for this module,\n"
            "#: `ctx.event` one of spacetimedb.client's Event classes (narrow it: `isinstance(ctx.event, ReducerEvent)`).\n"
            'EventContext: TypeAlias = _EventContext["RemoteTables", "RemoteReducers", "RemoteProcedures"]\n\n\n'
        )
        text += "\n\n".join(body)
        text += (
            "\n\nclass RemoteTables(Tables):\n"
            '    """`conn.db`: one handle per table and view, named as the table."""\n\n'
            + ("\n".join(table_attrs) if table_attrs else "    pass")
            + "\n"
        )
        text += "\n\n" + _dict("TABLES", "TableInfo", table_entries)
        text += "\n" + _dict("REDUCERS", "ReducerInfo", reducer_entries)
        text += "\n" + _dict("PROCEDURES", "ProcedureInfo", procedure_entries)
        text += (
            "\n\nclass RemoteReducers:\n"
            '    """`conn.reducers`: one method per reducer; `await` it (async connections) or use the\n'
            '    `concurrent.futures.Future` it returns (`build_sync()` connections)."""\n\n'
            "    def __init__(self, call: Callable[[str, Any], PendingCall[Any]]) -> None:\n"
            "        self.__call = call\n" + "".join("\n" + m for m in methods)
        )
        text += (
            "\n\nclass RemoteProcedures:\n"
            '    """`conn.procedures`: one method per procedure, resolving to its return value."""\n\n'
            "    def __init__(self, call: Callable[[str, Any], PendingCall[Any]]) -> None:\n"
            "        self.__call = call\n" + "".join("\n" + m for m in procedure_methods)
        )
        text += (
            "\n\nclass DbConnection(_DbConnection[RemoteTables, RemoteReducers, RemoteProcedures]):\n"
            '    """A connection to a database running this module: `DbConnection.builder()...build()`."""\n\n'
            "    MODULE = ModuleInfo(\n"
            "        tables=TABLES,\n"
            "        reducers=REDUCERS,\n"
            "        procedures=PROCEDURES,\n"
            "        db_type=RemoteTables,\n"
            "        reducers_type=RemoteReducers,\n"
            "        procedures_type=RemoteProcedures,\n"
            "    )\n"
        )
        return {"__init__.py": text}


def _from_import(module: str, names: list[str]) -> str:
    """One `from module import ...`, wrapped as isort (ruff) wraps it past 110 columns."""
    names = sorted(names, key=_natural)
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= 110:
        return line
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"


def _natural(name: str) -> tuple[bool, list[int | str]]:
    """isort's order: classes before functions and variables, digits by value (i8 before i16)."""
    return (not name[:1].isupper(), [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)])


def _dict(name: str, info: str, entries: list[str]) -> str:
    if not entries:
        return f"{name}: dict[str, {info}] = {{}}\n"
    return f"{name}: dict[str, {info}] = {{\n" + "\n".join(entries) + "\n}\n"


def generate_python(module: ModuleView, *, include_private: bool = False) -> dict[str, str]:
    return PythonGenerator(module, include_private=include_private).generate()
