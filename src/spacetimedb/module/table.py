"""`@table`: declare a table from a plain annotated class (or a dataclass).

    @table(public=True)
    class Player:
        id: Annotated[u64, primary_key, auto_inc]
        name: Annotated[str, unique]
        score: int = 0

Constraints can also be given as keywords: `@table(primary_key="id", unique=["name"],
auto_inc=["id"], indexes=["score", index("by_team_score", ["team", "score"])])`.
The declaration is checked here (a bad annotation is a SchemaError naming the field); table
and index ids are assigned later, when the whole module is assembled (`ModuleDef`).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from spacetimedb.module import declarations
from spacetimedb.module.markers import ColumnMarker, IndexDecl, auto_inc, index, primary_key, unique
from spacetimedb.module.naming import check_identifier, snake_case
from spacetimedb.module.rowclass import MISSING, install_dataclass_methods
from spacetimedb.module.types import column_type
from spacetimedb.sats.algebraic_type import AlgebraicType
from spacetimedb.sats.errors import SchemaError

T = TypeVar("T", bound=type)

TABLE_ATTR = "__spacetimedb_table__"


@dataclass(slots=True)
class ColumnDecl:
    name: str
    #: The annotation with our constraint markers stripped (width aliases etc. kept).
    annotation: Any
    algebraic_type: AlgebraicType
    default: Any = MISSING


@dataclass(slots=True)
class TableDecl:
    """Everything `@table` learned about one class, before module-wide ids exist."""

    cls: type
    name: str
    public: bool
    columns: list[ColumnDecl]
    primary_key: str | None = None
    #: Unique constraints, each a tuple of column names (the primary key is not listed here).
    unique: list[tuple[str, ...]] = field(default_factory=list)
    auto_inc: list[str] = field(default_factory=list)
    indexes: list[IndexDecl] = field(default_factory=list)
    #: The reducer scheduled rows fire: a reducer function or its name.
    scheduled: Callable[..., Any] | str | None = None
    is_event: bool = False

    def column(self, name: str) -> ColumnDecl:
        for c in self.columns:
            if c.name == name:
                return c
        raise SchemaError(
            f"table {self.name!r} has no column {name!r}; columns are {[c.name for c in self.columns]}"
        )


@overload
def table(cls: T, /) -> T: ...
@overload
def table(
    *,
    name: str | None = None,
    public: bool = False,
    primary_key: str | None = None,
    unique: Iterable[str | Sequence[str]] = (),
    auto_inc: Iterable[str] = (),
    indexes: Iterable[str | IndexDecl] = (),
    scheduled: Callable[..., Any] | str | None = None,
    event: bool = False,
) -> Callable[[T], T]: ...


def table(
    cls: Any = None,
    /,
    *,
    name: str | None = None,
    public: bool = False,
    primary_key: str | None = None,
    unique: Iterable[str | Sequence[str]] = (),
    auto_inc: Iterable[str] = (),
    indexes: Iterable[str | IndexDecl] = (),
    scheduled: Callable[..., Any] | str | None = None,
    event: bool = False,
) -> Any:
    """Declare a table. Private unless `public=True`; named the snake_case of the class unless `name=`.

    `scheduled=reducer` makes it a schedule table: it needs a `ScheduleAt` column and a u64
    auto-increment primary key (conventionally `scheduled_id`); each row fires `reducer(ctx, row)`.
    """

    def wrap(c: T) -> T:
        decl = _declare(
            c,
            name=name,
            public=public,
            pk=primary_key,
            uniques=list(unique),
            autos=list(auto_inc),
            idxs=list(indexes),
            scheduled=scheduled,
            event=event,
        )
        setattr(c, TABLE_ATTR, decl)
        declarations.record(decl)
        return c

    if cls is not None:
        if not isinstance(cls, type):
            raise SchemaError("@table decorates a class; use @table or @table(...) above `class Name:`")
        return wrap(cls)
    return wrap


def table_decl(cls: type) -> TableDecl:
    """The declaration of a `@table` class (SchemaError if it is not one)."""
    decl = getattr(cls, TABLE_ATTR, None)
    if not isinstance(decl, TableDecl) or decl.cls is not cls:
        raise SchemaError(f"{getattr(cls, '__name__', cls)!r} is not a @table class")
    return decl


def _declare(
    cls: type,
    *,
    name: str | None,
    public: bool,
    pk: str | None,
    uniques: list[str | Sequence[str]],
    autos: list[str],
    idxs: list[str | IndexDecl],
    scheduled: Callable[..., Any] | str | None,
    event: bool,
) -> TableDecl:
    table_name = check_identifier(name if name is not None else snake_case(cls.__name__), "table")
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except NameError as e:
        raise SchemaError(
            f"table {table_name!r}: cannot resolve an annotation ({e}); define referenced types before the table"
        ) from e
    if not hints:
        raise SchemaError(f"table {table_name!r} declares no columns; annotate fields like `id: u32`")
    decl = TableDecl(cls=cls, name=table_name, public=public, columns=[], scheduled=scheduled, is_event=event)
    dc_fields = getattr(cls, "__dataclass_fields__", None)
    for fname, ann in hints.items():
        if typing.get_origin(ann) is typing.ClassVar:
            continue
        base, markers = _split_markers(ann)
        where = f"{cls.__name__}.{fname}"
        ty = column_type(base, where)
        default = _default_of(cls, fname, dc_fields)
        decl.columns.append(ColumnDecl(fname, base, ty, default))
        for m in markers:
            if m is primary_key:
                _set_pk(decl, fname)
            elif m is unique:
                decl.unique.append((fname,))
            elif m is auto_inc:
                decl.auto_inc.append(fname)
            elif m is index:
                decl.indexes.append(IndexDecl(fname, (fname,)))
    if pk is not None:
        _set_pk(decl, pk)
    decl.unique.extend((u,) if isinstance(u, str) else tuple(u) for u in uniques)
    decl.auto_inc.extend(autos)
    for ix in idxs:
        decl.indexes.append(IndexDecl(ix, (ix,)) if isinstance(ix, str) else ix)
    _check(decl)
    for a in decl.auto_inc:
        col = decl.column(a)
        if col.default is MISSING:
            col.default = 0  # 0 means "take the next value", so auto-inc fields may be omitted
    if dc_fields is None:
        install_dataclass_methods(cls, [(c.name, c.default) for c in decl.columns])
    return decl


def _split_markers(ann: Any) -> tuple[Any, list[ColumnMarker]]:
    """Separate our constraint markers from an `Annotated[...]`, keeping any other metadata."""
    if typing.get_origin(ann) is not typing.Annotated:
        return ann, []
    base, *meta = typing.get_args(ann)
    mine = [m for m in meta if isinstance(m, ColumnMarker)]
    if isinstance(base, type) is False and typing.get_origin(base) is typing.Annotated:
        base, inner = _split_markers(base)
        mine = inner + mine
    others = [m for m in meta if not isinstance(m, ColumnMarker)]
    if others:
        base = typing.Annotated[(base, *others)]
    return base, mine


def _default_of(cls: type, fname: str, dc_fields: dict[str, Any] | None) -> Any:
    if dc_fields is not None and fname in dc_fields:
        import dataclasses

        f = dc_fields[fname]
        if f.default is not dataclasses.MISSING:
            return f.default
        return MISSING
    return cls.__dict__.get(fname, MISSING)


def _set_pk(decl: TableDecl, col: str) -> None:
    if decl.primary_key is not None and decl.primary_key != col:
        raise SchemaError(
            f"table {decl.name!r} has two primary keys ({decl.primary_key!r} and {col!r}); only one column may be the primary key"
        )
    decl.primary_key = col


def _check(decl: TableDecl) -> None:
    names = [c.name for c in decl.columns]
    for col in [decl.primary_key, *decl.auto_inc] if decl.primary_key else decl.auto_inc:
        decl.column(col)  # raises SchemaError for an unknown column
    for u in decl.unique:
        for c in u:
            decl.column(c)
    accessors: set[str] = set()
    for ix in decl.indexes:
        for c in ix.columns:
            decl.column(c)
        check_identifier(ix.accessor, f"table {decl.name!r}: index accessor")
        if ix.accessor in accessors:
            raise SchemaError(f"table {decl.name!r} declares index accessor {ix.accessor!r} twice")
        accessors.add(ix.accessor)
    if len(set(names)) != len(names):
        raise SchemaError(f"table {decl.name!r} has duplicate column names")
    for a in decl.auto_inc:
        from spacetimedb.sats.algebraic_type import INT_KINDS, PrimitiveType

        ty = decl.column(a).algebraic_type
        if not (isinstance(ty, PrimitiveType) and ty.kind in INT_KINDS):
            raise SchemaError(
                f"table {decl.name!r}: auto_inc column {a!r} must be an integer type (u64, u32, i64, ...), not {ty!r}"
            )
