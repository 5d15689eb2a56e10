"""A module description from the server's schema (`GET /v1/database/:name/schema?version=9`).

Without generated bindings the client learns the tables, their row types and keys, and the
reducers from the RawModuleDefV9 SATS-JSON, which both our server and SpacetimeDB serve. Rows are
handed out as named tuples (one class per table, fields named as the columns): `row.text`,
`row[0]`, equality and hashing by value.
"""

from __future__ import annotations

import collections
import keyword
from collections.abc import Callable
from typing import Any

from spacetimedb.client.bindings import ModuleInfo, ProcedureInfo, ReducerInfo, TableInfo
from spacetimedb.client.errors import ClientError
from spacetimedb.sats.algebraic_type import (
    AlgebraicType,
    ArrayType,
    ProductType,
    RefType,
    SumType,
    Typespace,
)
from spacetimedb.sats.type_json import TypeJsonError, algebraic_type_from_json
from spacetimedb.sats.type_json import option_value as _opt


class SchemaError(ClientError):
    """The server's schema is not a module definition this client understands."""


def _one(obj: Any, what: str) -> tuple[str, Any]:
    if isinstance(obj, dict) and len(obj) == 1:
        ((k, v),) = obj.items()
        return str(k), v
    raise SchemaError(f"expected a one-key object for {what}, got {obj!r:.80}")


def type_from_json(obj: Any) -> AlgebraicType:
    try:
        return algebraic_type_from_json(obj)
    except TypeJsonError as e:
        raise SchemaError(str(e)) from None


def _row_class(table: str, product: ProductType) -> Callable[[Any], Any]:
    names = []
    for i, e in enumerate(product.elements):
        n = e.name or f"_{i}"
        names.append(n if n.isidentifier() and not keyword.iskeyword(n) and not n.startswith("_") else f"col{i}")
    cls = collections.namedtuple(f"{table}_row", names)  # type: ignore[misc]
    make: Callable[[Any], Any] = cls._make
    return make


def module_info_from_schema(doc: dict[str, Any]) -> ModuleInfo:
    """The ModuleInfo of a RawModuleDefV9 document (also accepts `{"V9": {...}}`)."""
    if "V9" in doc and len(doc) == 1:
        doc = doc["V9"]
    try:
        types = [type_from_json(t) for t in doc["typespace"]["types"]]
        typespace = Typespace(types)

        def resolve(t: AlgebraicType) -> AlgebraicType:
            seen = 0
            while isinstance(t, RefType) and seen < 64:
                t, seen = types[t.idx], seen + 1
            return t

        tables: dict[str, TableInfo] = {}
        for t in doc.get("tables", []):
            ref = RefType(int(t["product_type_ref"]))
            product = resolve(ref)
            if not isinstance(product, ProductType):
                raise SchemaError(f"table {t['name']}: row type is not a product")
            cols = [e.name or f"_{i}" for i, e in enumerate(product.elements)]
            pk = t.get("primary_key") or []
            unique = []
            for c in t.get("constraints", []):
                kind, data = _one(c["data"], "constraint")
                if kind == "Unique" and len(data["columns"]) == 1:
                    unique.append(cols[int(data["columns"][0])])
            pk_name = cols[int(pk[0])] if len(pk) == 1 else None
            if pk_name is not None and pk_name not in unique:
                unique.insert(0, pk_name)
            name = str(t["name"])
            tables[name] = TableInfo(
                name=name,
                row_type=ref,
                primary_key=pk_name,
                unique_columns=tuple(unique),
                make_row=_row_class(name, product),
            )
        for m in doc.get("misc_exports", []):
            kind, v = _one(m, "misc export")
            if kind != "View":
                continue
            ret = v["return_type"]
            inner = type_from_json(ret)
            if isinstance(inner, ArrayType):
                inner = inner.elem_ty
            elif isinstance(inner, SumType) and inner.variants and inner.variants[0].name == "some":
                inner = inner.variants[0].algebraic_type
            product = resolve(inner)
            if isinstance(product, ProductType):
                name = str(v["name"])
                tables[name] = TableInfo(name=name, row_type=inner, is_view=True, make_row=_row_class(name, product))
        reducers: dict[str, ReducerInfo] = {}
        for r in doc.get("reducers", []):
            if _opt(r.get("lifecycle")) is not None:
                continue
            params = type_from_json({"Product": r["params"]})
            reducers[str(r["name"])] = ReducerInfo(name=str(r["name"]), args_type=params)
        procedures: dict[str, ProcedureInfo] = {}
        for m in doc.get("misc_exports", []):
            kind, p = _one(m, "misc export")
            if kind == "Procedure":
                procedures[str(p["name"])] = ProcedureInfo(
                    name=str(p["name"]),
                    args_type=type_from_json({"Product": p["params"]}),
                    return_type=type_from_json(p["return_type"]),
                )
    except SchemaError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise SchemaError(f"cannot read the module schema: {type(e).__name__}: {e}") from None
    return ModuleInfo(tables=tables, reducers=reducers, procedures=procedures, typespace=typespace)
