"""The table-per-type core of upstream's sdk-test module, in Python.

Upstream (`modules/sdk-test-ts`, `modules/sdk-test`) declares one small table per SATS type and a
reducer per operation so a client SDK can round-trip every type through insert, update and delete.
This port keeps the same names: tables `one_<t>` (column `n`/`b`/`f`/`s`/`i`/`a`/`t`/`u`/`e`,
named as upstream), `vec_<t>`, `option_<t>`, `unique_<t>` (unique key + `data: i32`), `pk_<t>`
(primary key + `data: i32`), and reducers `insert_one_<t>`, `insert_vec_<t>`, `insert_option_<t>`,
`insert|update|delete_unique_<t>`, `insert|update|delete_pk_<t>`.

The declarations are generated in loops (as upstream's `tbl` helper / `define_tables!` macro do):
each table class and reducer function is built with real annotations, so the module layer sees
exactly what a hand-written declaration would give it.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from spacetimedb import (
    ConnectionId,
    Identity,
    ReducerContext,
    TimeDuration,
    Timestamp,
    Uuid,
    f32,
    f64,
    i8,
    i16,
    i32,
    i64,
    i128,
    i256,
    primary_key,
    reducer,
    table,
    u8,
    u16,
    u32,
    u64,
    u128,
    u256,
    unique,
)


class SimpleEnum(enum.Enum):
    Zero = 0
    One = 1
    Two = 2


@dataclass
class UnitStruct:
    """An empty product (a plain class without fields is not a type; a dataclass is)."""


class EveryPrimitiveStruct:
    a: u8
    b: u16
    c: u32
    d: u64
    e: u128
    f: u256
    g: i8
    h: i16
    i: i32
    j: i64
    k: i128
    l: i256  # noqa: E741 (upstream's field names are a..u)
    m: bool
    n: f32
    o: f64
    p: str
    q: Identity
    r: ConnectionId
    s: Timestamp
    t: TimeDuration
    u: Uuid


# suffix -> (column name as upstream names it, annotation)
INTEGER_TYPES: dict[str, Any] = {
    "u8": u8, "u16": u16, "u32": u32, "u64": u64, "u128": u128, "u256": u256,
    "i8": i8, "i16": i16, "i32": i32, "i64": i64, "i128": i128, "i256": i256,
}  # fmt: skip
KEY_TYPES: dict[str, tuple[str, Any]] = {
    **{name: ("n", ann) for name, ann in INTEGER_TYPES.items()},
    "bool": ("b", bool),
    "string": ("s", str),
    "identity": ("i", Identity),
    "connection_id": ("a", ConnectionId),
    "uuid": ("u", Uuid),
}
#: Every type with a `one_` table: the key types plus those that cannot be keys upstream.
ONE_TYPES: dict[str, tuple[str, Any]] = {
    **KEY_TYPES,
    "f32": ("f", f32),
    "f64": ("f", f64),
    "timestamp": ("t", Timestamp),
    "simple_enum": ("e", SimpleEnum),
    "unit_struct": ("s", UnitStruct),
    "every_primitive_struct": ("s", EveryPrimitiveStruct),
}
VEC_TYPES = [
    "u8", "u32", "u256", "i64", "i256", "bool", "f32", "f64", "string", "identity", "connection_id", "uuid",
    "timestamp", "simple_enum", "every_primitive_struct",
]  # fmt: skip
OPTION_TYPES = [
    "u8", "i32", "i64", "f64", "string", "identity", "uuid", "timestamp", "simple_enum", "every_primitive_struct",
]  # fmt: skip
#: upstream also has pk_simple_enum (an enum primary key).
PK_TYPES: dict[str, tuple[str, Any]] = {**KEY_TYPES, "simple_enum": ("e", SimpleEnum)}
UNIQUE_TYPES: dict[str, tuple[str, Any]] = dict(KEY_TYPES)


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _row_class(table_name: str, columns: dict[str, Any]) -> type:
    cls = type(_pascal(table_name), (), {"__annotations__": columns, "__module__": __name__})
    return table(public=True)(cls)


def _reducer(name: str, params: dict[str, Any], body: Callable[..., None]) -> None:
    """Declare reducer `name(ctx, **params)` running `body(ctx, *args)`."""

    def fn(ctx: ReducerContext, *args: Any) -> None:
        body(ctx, *args)

    fn.__name__ = fn.__qualname__ = name
    fn.__annotations__ = {"ctx": ReducerContext, **params, "return": None}
    ctx_param = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=ReducerContext)
    fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [ctx_param]
        + [
            inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=a)
            for p, a in params.items()
        ]
    )
    globals()[name] = reducer(fn)


def _single_value_table(table_name: str, col: str, ann: Any) -> None:
    row = _row_class(table_name, {col: ann})
    _reducer(f"insert_{table_name}", {col: ann}, lambda ctx, v: getattr(ctx.db, table_name).insert(row(v)))


def _keyed_table(table_name: str, col: str, ann: Any, *, pk: bool) -> None:
    marker = primary_key if pk else unique
    row = _row_class(table_name, {col: Annotated[ann, marker], "data": i32})
    params = {col: ann, "data": i32}

    def insert(ctx: ReducerContext, key: Any, data: int) -> None:
        getattr(ctx.db, table_name).insert(row(key, data))

    def update(ctx: ReducerContext, key: Any, data: int) -> None:
        index = getattr(getattr(ctx.db, table_name), col)
        if pk:
            index.update(row(key, data))
        else:  # upstream's update_non_pk_by: delete by the unique key, insert the new row
            index.delete(key)
            getattr(ctx.db, table_name).insert(row(key, data))

    def delete(ctx: ReducerContext, key: Any) -> None:
        getattr(getattr(ctx.db, table_name), col).delete(key)

    _reducer(f"insert_{table_name}", params, insert)
    _reducer(f"update_{table_name}", params, update)
    _reducer(f"delete_{table_name}", {col: ann}, delete)


for _name, (_col, _ann) in ONE_TYPES.items():
    _single_value_table(f"one_{_name}", _col, _ann)
for _name in VEC_TYPES:
    _col, _ann = ONE_TYPES[_name]
    _single_value_table(f"vec_{_name}", _col, list[_ann])  # type: ignore[valid-type]
for _name in OPTION_TYPES:
    _col, _ann = ONE_TYPES[_name]
    _single_value_table(f"option_{_name}", _col, _ann | None)
for _name, (_col, _ann) in UNIQUE_TYPES.items():
    _keyed_table(f"unique_{_name}", _col, _ann, pk=False)
for _name, (_col, _ann) in PK_TYPES.items():
    _keyed_table(f"pk_{_name}", _col, _ann, pk=True)
