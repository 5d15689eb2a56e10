"""RawModuleDefV10 and RawModuleDefV9 (wire spec section 4) declared as Python classes.

The sats codec encodes them from their annotations: `Sum` subclasses for the enums, `X | None`
for Option, and the SATS meta-types (`AlgebraicType`, `ProductType`, `Typespace`) as values.
Field and variant order is the upstream declaration order (`crates/lib/src/db/raw_def/v9.rs`, `v10.rs`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from spacetimedb.sats.algebraic_type import AlgebraicType, ProductType, Typespace
from spacetimedb.sats.sums import Sum
from spacetimedb.sats.widths import i128, u16, u32


class RawIndexAlgorithm(Sum):
    BTree: list[u16]
    Hash: list[u16]
    Direct: u16


@dataclass(frozen=True, slots=True)
class RawUniqueConstraintDataV9:
    columns: list[u16]


class RawConstraintDataV9(Sum):
    Unique: RawUniqueConstraintDataV9


class TableType(Sum):
    System: None
    User: None


class TableAccess(Sum):
    Public: None
    Private: None


class Lifecycle(Sum):
    Init: None
    OnConnect: None
    OnDisconnect: None


#: A lifecycle reducer's kind as a module author writes it (`@reducer(lifecycle="init")`); the
#: `Lifecycle` variant each is exported as is `LIFECYCLE_VARIANT[name]`.
LifecycleName = Literal["init", "client_connected", "client_disconnected"]
LIFECYCLES: tuple[LifecycleName, ...] = ("init", "client_connected", "client_disconnected")
LIFECYCLE_VARIANT: dict[LifecycleName, str] = {
    "init": "Init",
    "client_connected": "OnConnect",
    "client_disconnected": "OnDisconnect",
}


class FunctionVisibility(Sum):
    Private: None
    ClientCallable: None


# "None" cannot be a class attribute name, so this unit-only sum is an Enum.
CaseConversionPolicy = enum.Enum("CaseConversionPolicy", ["None", "SnakeCase"])


# ---- V10 --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawScopedTypeNameV10:
    scope: list[str]
    source_name: str


@dataclass(frozen=True, slots=True)
class RawTypeDefV10:
    source_name: RawScopedTypeNameV10
    ty: u32
    custom_ordering: bool


@dataclass(frozen=True, slots=True)
class RawIndexDefV10:
    source_name: str | None
    accessor_name: str | None
    algorithm: RawIndexAlgorithm


@dataclass(frozen=True, slots=True)
class RawConstraintDefV10:
    source_name: str | None
    data: RawConstraintDataV9


@dataclass(frozen=True, slots=True)
class RawSequenceDefV10:
    source_name: str | None
    column: u16
    start: i128 | None
    min_value: i128 | None
    max_value: i128 | None
    increment: i128


@dataclass(frozen=True, slots=True)
class RawColumnDefaultValueV10:
    col_id: u16
    value: bytes


@dataclass(frozen=True, slots=True)
class RawTableDefV10:
    source_name: str
    product_type_ref: u32
    primary_key: list[u16]
    indexes: list[RawIndexDefV10]
    constraints: list[RawConstraintDefV10]
    sequences: list[RawSequenceDefV10]
    table_type: TableType
    table_access: TableAccess
    default_values: list[RawColumnDefaultValueV10]
    is_event: bool


@dataclass(frozen=True, slots=True)
class RawReducerDefV10:
    source_name: str
    params: ProductType
    visibility: FunctionVisibility
    ok_return_type: AlgebraicType
    err_return_type: AlgebraicType


@dataclass(frozen=True, slots=True)
class RawScheduleDefV10:
    source_name: str | None
    table_name: str
    schedule_at_col: u16
    function_name: str


@dataclass(frozen=True, slots=True)
class RawLifeCycleReducerDefV10:
    lifecycle_spec: Lifecycle
    function_name: str


class RawModuleDefV10Section(Sum):
    """Only the sections this module library emits are declared with payloads we build;
    the later ones keep their tags by position."""

    Typespace: Typespace
    Types: list[RawTypeDefV10]
    Tables: list[RawTableDefV10]
    Reducers: list[RawReducerDefV10]
    Procedures: list[RawProcedureDefV10]
    Views: list[RawViewDefV10]
    Schedules: list[RawScheduleDefV10]
    LifeCycleReducers: list[RawLifeCycleReducerDefV10]
    RowLevelSecurity: list[RawRowLevelSecurityDefV9]
    CaseConversionPolicy: CaseConversionPolicy
    ExplicitNames: ExplicitNames
    HttpHandlers: list[RawHttpHandlerDefV10]
    HttpRoutes: list[RawHttpRouteDefV10]
    ViewPrimaryKeys: list[RawViewPrimaryKeyDefV10]
    Submodules: list[RawSubmoduleV10]


@dataclass(frozen=True, slots=True)
class RawProcedureDefV10:
    source_name: str
    params: ProductType
    return_type: AlgebraicType
    visibility: FunctionVisibility


@dataclass(frozen=True, slots=True)
class RawViewDefV10:
    source_name: str
    index: u32
    is_public: bool
    is_anonymous: bool
    params: ProductType
    return_type: AlgebraicType


@dataclass(frozen=True, slots=True)
class RawViewPrimaryKeyDefV10:
    view_source_name: str
    #: Column names (upstream allows one; a list for future composite keys).
    columns: list[str]


@dataclass(frozen=True, slots=True)
class NameMapping:
    source_name: str
    canonical_name: str


class ExplicitNameEntry(Sum):
    Table: NameMapping
    Function: NameMapping
    Index: NameMapping


@dataclass(frozen=True, slots=True)
class ExplicitNames:
    entries: list[ExplicitNameEntry]


@dataclass(frozen=True, slots=True)
class RawHttpHandlerDefV10:
    source_name: str


class HttpMethod(Sum):
    Get: None
    Head: None
    Post: None
    Put: None
    Delete: None
    Connect: None
    Options: None
    Trace: None
    Patch: None
    Extension: str


class MethodOrAny(Sum):
    Any: None
    Method: HttpMethod


@dataclass(frozen=True, slots=True)
class RawHttpRouteDefV10:
    handler_function: str
    method: MethodOrAny
    path: str


@dataclass(frozen=True, slots=True)
class RawRowLevelSecurityDefV9:
    sql: str


@dataclass(frozen=True, slots=True)
class RawModuleDefV10:
    sections: list[RawModuleDefV10Section]


@dataclass(frozen=True, slots=True)
class RawSubmoduleV10:
    """A library's module definition nested under a namespace (npm `spacetimedb` 2.10 emits the
    section, empty for a module without submodules; this library never emits it)."""

    namespace: str
    module: RawModuleDefV10


# ---- V9 ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawIndexDefV9:
    name: str | None
    accessor_name: str | None
    algorithm: RawIndexAlgorithm


@dataclass(frozen=True, slots=True)
class RawConstraintDefV9:
    name: str | None
    data: RawConstraintDataV9


@dataclass(frozen=True, slots=True)
class RawSequenceDefV9:
    name: str | None
    column: u16
    start: i128 | None
    min_value: i128 | None
    max_value: i128 | None
    increment: i128


@dataclass(frozen=True, slots=True)
class RawScheduleDefV9:
    name: str | None
    reducer_name: str
    scheduled_at_column: u16


@dataclass(frozen=True, slots=True)
class RawTableDefV9:
    name: str
    product_type_ref: u32
    primary_key: list[u16]
    indexes: list[RawIndexDefV9]
    constraints: list[RawConstraintDefV9]
    sequences: list[RawSequenceDefV9]
    schedule: RawScheduleDefV9 | None
    table_type: TableType
    table_access: TableAccess


@dataclass(frozen=True, slots=True)
class RawReducerDefV9:
    name: str
    params: ProductType
    lifecycle: Lifecycle | None


@dataclass(frozen=True, slots=True)
class RawScopedTypeNameV9:
    scope: list[str]
    name: str


@dataclass(frozen=True, slots=True)
class RawTypeDefV9:
    name: RawScopedTypeNameV9
    ty: u32
    custom_ordering: bool


@dataclass(frozen=True, slots=True)
class RawColumnDefaultValueV9:
    table: str
    col_id: u16
    value: bytes


@dataclass(frozen=True, slots=True)
class RawProcedureDefV9:
    name: str
    params: ProductType
    return_type: AlgebraicType


@dataclass(frozen=True, slots=True)
class RawViewDefV9:
    name: str
    index: u32
    is_public: bool
    is_anonymous: bool
    params: ProductType
    return_type: AlgebraicType


class RawMiscModuleExportV9(Sum):
    ColumnDefaultValue: RawColumnDefaultValueV9
    Procedure: RawProcedureDefV9
    View: RawViewDefV9


@dataclass(frozen=True, slots=True)
class RawModuleDefV9:
    typespace: Typespace
    tables: list[RawTableDefV9]
    reducers: list[RawReducerDefV9]
    types: list[RawTypeDefV9]
    misc_exports: list[RawMiscModuleExportV9]
    row_level_security: list[RawRowLevelSecurityDefV9]


class RawModuleDef(Sum):
    """The versioned wrapper (`spacetime generate --module-def` reads its SATS-JSON)."""

    V8BackCompat: None
    V9: RawModuleDefV9
    V10: RawModuleDefV10
