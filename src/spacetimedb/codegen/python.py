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

PRIMITIVE_NAMES = {"String": "str", "Bool": "bool", "F64": "float"}

#: What the generated file itself defines or imports; a module type may not take these names.
GENERATED_NAMES = {
    "annotations", "enum", "dataclass", "Any", "Callable", "Sum", "Variant", "UnitVariant",
    "TableInfo", "ReducerInfo", "ProcedureInfo", "TABLES", "REDUCERS", "PROCEDURES",
    "RemoteReducers", "RemoteProcedures", "RemoteTables", "DbConnection", "DbConnectionBuilder",
    "EventContext", "SubscriptionBuilder", "SubscriptionHandle",
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
        lines += [f"    {py_ident(f.name)}: {self.annotation(f.type, f'{name}.{f.name}')}" for f in fields]
        return "\n".join(lines) + "\n"

    def named_type(self, idx: int, name: str) -> str:
        ty = self.m.types[idx]
        if isinstance(ty, ProductType):
            cols = [ColumnView(e.name or f"_{i}", e.algebraic_type) for i, e in enumerate(ty.elements)]
            return self.dataclass(name, cols, f"The module type `{name}`.")
        if isinstance(ty, SumType) and all(v.algebraic_type == UNIT for v in ty.variants):
            members = "\n".join(f"    {py_ident(v.name or f'_{i}')} = {i}" for i, v in enumerate(ty.variants))
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
        table_entries = []
        for t in self.tables():
            pk = repr(t.columns[t.primary_key[0]].name) if t.primary_key else "None"
            table_entries.append(
                f"    {t.name!r}: TableInfo(name={t.name!r}, row_type={self.row_name(t)}, primary_key={pk}),"
            )
        reducer_entries = [
            f"    {r.name!r}: ReducerInfo(name={r.name!r}, args_type={pascal_case(r.name)}Args),"
            for r in reducers
        ]
        methods = []
        for r in reducers:
            params = "".join(f", {py_ident(p.name)}: {self.annotation(p.type, r.name)}" for p in r.params)
            args = ", ".join(py_ident(p.name) for p in r.params)
            methods.append(
                f"    def {py_ident(snake_case(r.name))}(self{params}) -> Any:\n"
                f"        return self._call({r.name!r}, {pascal_case(r.name)}Args({args}))\n"
            )
        procedure_entries = []
        procedure_methods = []
        for p in procedures:
            returns = "type(None)" if p.return_type == UNIT else self.annotation(p.return_type, f"{p.name} return type")
            procedure_entries.append(
                f"    {p.name!r}: ProcedureInfo(name={p.name!r}, args_type={pascal_case(p.name)}Args, "
                f"return_type={returns}),"
            )
            params = "".join(f", {py_ident(c.name)}: {self.annotation(c.type, p.name)}" for c in p.params)
            args = ", ".join(py_ident(c.name) for c in p.params)
            procedure_methods.append(
                f"    def {py_ident(snake_case(p.name))}(self{params}) -> Any:\n"
                f"        return self._call({p.name!r}, {pascal_case(p.name)}Args({args}))\n"
            )
        header = [
            '"""Client bindings generated by `spacetimedb generate --lang python`. Do not edit."""',
            "",
            "from __future__ import annotations",
            "",
            "import enum",
            "from collections.abc import Callable",
            "from dataclasses import dataclass",
            "from typing import Any",
            "",
            "from spacetimedb.client.bindings import ProcedureInfo, ReducerInfo, TableInfo",
        ]
        if self.imports:
            header.append(f"from spacetimedb.sats import {', '.join(sorted(self.imports))}")
        text = "\n".join(header) + "\n\n\n" + "\n\n".join(body)
        text += "\n\nTABLES: dict[str, TableInfo] = {\n" + "\n".join(table_entries) + "\n}\n"
        text += "\nREDUCERS: dict[str, ReducerInfo] = {\n" + "\n".join(reducer_entries) + "\n}\n"
        text += (
            "\n\nclass RemoteReducers:\n"
            '    """One method per reducer; `call(name, args)` sends the call and returns what it returns."""\n\n'
            "    def __init__(self, call: Callable[[str, Any], Any]) -> None:\n"
            "        self._call = call\n\n" + "\n".join(methods)
        )
        text += "\n\nPROCEDURES: dict[str, ProcedureInfo] = {\n" + "\n".join(procedure_entries) + "\n}\n"
        text += (
            "\n\nclass RemoteProcedures:\n"
            '    """One method per procedure; `call(name, args)` sends the call and returns what it returns."""\n\n'
            "    def __init__(self, call: Callable[[str, Any], Any]) -> None:\n"
            "        self._call = call\n\n" + "\n".join(procedure_methods)
        )
        return {"__init__.py": text}


def generate_python(module: ModuleView, *, include_private: bool = False) -> dict[str, str]:
    return PythonGenerator(module, include_private=include_private).generate()
