"""Python client bindings: typed row classes, reducer argument classes and call helpers, table info.

The output is one file, `module_bindings.py`. Row and argument classes are plain annotated
dataclasses, so `spacetimedb.bsatn.decode(row_bytes, User)` decodes a row of table `user`.
The shape (documented in docs/cli.md) is what the Python client SDK builds on:

- one dataclass per named type of the module (rows and nested types), fields in column order;
- `<Reducer>Args` dataclasses, one per client-callable reducer;
- `TABLES`: canonical table name -> `TableInfo(name, row_type, primary_key)`;
- `REDUCERS`: canonical reducer name -> `ReducerInfo(name, args_type)`;
- `RemoteReducers(call)`: one method per reducer, `call(name, args_object)` does the sending;
- `<Procedure>Args`, `PROCEDURES` (name -> `ProcedureInfo(name, args_type, return_type)`) and
  `RemoteProcedures(call)` the same for procedures.
"""

from __future__ import annotations

from spacetimedb.codegen.module_view import ColumnView, ModuleView, snake_case
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


class PythonGenerator:
    def __init__(self, module: ModuleView) -> None:
        self.m = module
        self.type_names = {i: pascal_case(n) for i, n in module.type_names.items()}
        self.imports: set[str] = set()

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
            return f"{self.annotation(ty.variants[0].algebraic_type, where)} | None"
        raise CodegenError(
            f"{where}: an anonymous {type(ty).__name__} cannot appear in client bindings; name it"
        )

    def dataclass(self, name: str, fields: list[ColumnView], doc: str) -> str:
        lines = ["@dataclass", f"class {name}:", f'    """{doc}"""', ""]
        if not fields:
            lines.append("    pass")
        lines += [f"    {f.name}: {self.annotation(f.type, f'{name}.{f.name}')}" for f in fields]
        return "\n".join(lines) + "\n"

    def named_type(self, idx: int, name: str) -> str:
        ty = self.m.types[idx]
        if isinstance(ty, ProductType):
            cols = [ColumnView(e.name or f"_{i}", e.algebraic_type) for i, e in enumerate(ty.elements)]
            return self.dataclass(name, cols, f"The module type `{name}`.")
        if isinstance(ty, SumType) and all(v.algebraic_type == UNIT for v in ty.variants):
            members = "\n".join(f"    {v.name} = {i}" for i, v in enumerate(ty.variants))
            return f'class {name}(enum.Enum):\n    """The module enum `{name}`."""\n\n{members}\n'
        raise CodegenError(f"type {name}: sums with payloads are not supported by the Python bindings yet")

    def generate(self, *, include_private: bool = False) -> dict[str, str]:
        # Views are read-only tables to clients, after the tables.
        tables = [t for t in self.m.tables if t.public or include_private] + [v.as_table() for v in self.m.views]
        body: list[str] = []
        for idx, name in sorted(self.type_names.items(), key=lambda kv: kv[1]):
            if not special_name(self.m.types[idx]):
                body.append(self.named_type(idx, name))
        reducers = self.m.callable_reducers
        for r in reducers:
            body.append(
                self.dataclass(f"{pascal_case(r.name)}Args", r.params, f"Arguments of reducer `{r.name}`.")
            )
        procedures = [p for p in self.m.procedures if p.client_callable or include_private]
        for p in procedures:
            body.append(
                self.dataclass(f"{pascal_case(p.name)}Args", p.params, f"Arguments of procedure `{p.name}`.")
            )
        table_entries = []
        for t in tables:
            row = self.type_names.get(t.row_ref) or pascal_case(t.name)
            pk = repr(t.columns[t.primary_key[0]].name) if t.primary_key else "None"
            table_entries.append(
                f"    {t.name!r}: TableInfo(name={t.name!r}, row_type={row}, primary_key={pk}),"
            )
        reducer_entries = [
            f"    {r.name!r}: ReducerInfo(name={r.name!r}, args_type={pascal_case(r.name)}Args),"
            for r in reducers
        ]
        methods = []
        for r in reducers:
            params = "".join(f", {p.name}: {self.annotation(p.type, r.name)}" for p in r.params)
            args = ", ".join(p.name for p in r.params)
            methods.append(
                f"    def {snake_case(r.name)}(self{params}) -> Any:\n"
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
            params = "".join(f", {c.name}: {self.annotation(c.type, p.name)}" for c in p.params)
            args = ", ".join(c.name for c in p.params)
            procedure_methods.append(
                f"    def {snake_case(p.name)}(self{params}) -> Any:\n"
                f"        return self._call({p.name!r}, {pascal_case(p.name)}Args({args}))\n"
            )
        sats_imports = ", ".join(sorted(self.imports))
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
        if sats_imports:
            header.append(f"from spacetimedb import {sats_imports}")
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
        return {"module_bindings.py": text}


def generate_python(module: ModuleView, *, include_private: bool = False) -> dict[str, str]:
    return PythonGenerator(module).generate(include_private=include_private)
