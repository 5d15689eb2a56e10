"""Hashable, ordered forms of column values, for index keys and row identity.

Columns of primitive type (integers, floats, bool, string) hold plain Python values that are
already hashable and totally ordered within one column, and the special types (Identity,
Timestamp, ...) are ordered hashable classes: both are used as keys unchanged, the fast path.
Every other column type (arrays, products, sums, options) goes through `key_form`, which builds
a form that is hashable and ordered:

* any value `v` other than None becomes `(1, form)` and `None` (an Option's none) becomes `(2,)`,
  so none sorts after every some, as upstream orders sums by tag (some = 0, none = 1).
* lists and tuples become tuples of the forms of their elements (so `[1, 2]` and `(1, 2)` are the
  same key: a column's values all have one type, so this never merges distinct values);
* dataclass instances that do not order themselves (`SumValue`, `ScheduleAt`, `Some`) become
  `(class name, forms of fields)`, so sums order by tag, then payload;
* other hashable values are kept as they are (their own `__eq__`/`__hash__`/`__lt__` decide);
* unhashable dataclass instances are treated like unordered ones, dicts and sets become sorted
  tuples of item forms, bytearrays bytes.

Row identity is byte-for-byte, as upstream compares rows (`crates/table/src/eq.rs`: floats by bit
pattern, so -0.0 and 0.0 are two rows and two NaNs with the same bits one). Python's float
equality is not that (-0.0 == 0.0, NaN != NaN, and a NaN hashes by object), so the identity is
chosen per table from its column types, once (`row_identity_fn`): rows of primitive, non-float
columns are their own identity (the fast path: Python equality is byte equality there); rows
whose only non-plain columns are primitive floats are a tuple with each float column replaced
by its IEEE bits; any other row is the tuple of `exact_form`s of its values (`key_form`, floats
as bits). Index keys compare floats by value instead, as upstream's `decorum::Total` keys: -0.0 and
0.0 are one key, and every NaN is the one `NAN_KEY`, ordered after +inf (float columns are
therefore not raw for keys: `is_key_raw_column`).
"""

from __future__ import annotations

import dataclasses
import operator
import struct
from collections.abc import Callable, Hashable
from typing import Any

from spacetimedb.engine.errors import UnindexableValue
from spacetimedb.module.datastore import Row
from spacetimedb.sats.algebraic_type import (
    SPECIAL_PRODUCTS,
    AlgebraicType,
    Primitive,
    PrimitiveType,
    ProductType,
)

KeyFn = Callable[[Row], Hashable]
NormFn = Callable[[Any], Hashable]

_NONE_FORM: tuple[int] = (2,)


_PLAIN = frozenset({int, str, bool, float, bytes})
_OBJECT_LT: Any = vars(object)["__lt__"]


class _NanKey:
    """The one index key of every NaN: equal only to itself, ordered after every float (+inf
    included), as upstream's `decorum::Total` float keys. A float compared with it defers here."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return 0x7FF8

    def __lt__(self, other: object) -> bool:
        return False

    def __le__(self, other: object) -> bool:
        return other is self

    def __gt__(self, other: object) -> bool:
        return other is not self

    def __ge__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "NaN"


NAN_KEY = _NanKey()


def key_form(value: Any) -> Hashable:
    """The hashable, ordered form of a value of a non-primitive column (see module doc)."""
    if value is None:
        return _NONE_FORM
    kind = type(value)
    if kind is float:
        # By value (-0.0 == 0.0), every NaN one key: upstream's float keys (decorum::Total).
        return (1, value if value == value else NAN_KEY)
    if kind in _PLAIN:
        return (1, value)
    if kind is list or kind is tuple:
        return (1, tuple(map(key_form, value)))
    if dataclasses.is_dataclass(kind) and getattr(kind, "__lt__") is _OBJECT_LT:  # noqa: B009
        # Not ordered by itself (SumValue, ScheduleAt, Some): order by class, then field forms.
        return (1, _fields_form(value))
    try:
        hash(value)
    except TypeError:
        return (1, _unhashable_form(value))
    return (1, value)


_F64_BITS = struct.Struct("<d").pack


def exact_form(value: Any) -> Hashable:
    """`key_form` with every float replaced by its IEEE-754 bits: equal exactly when the values'
    bytes are (for row identity; f32 values are stored widened, which keeps their bits distinct)."""
    if value is None:
        return _NONE_FORM
    kind = type(value)
    if kind is float:
        return (1, _F64_BITS(value))
    if kind in _PLAIN:
        return (1, value)
    if kind is list or kind is tuple:
        return (1, tuple(map(exact_form, value)))
    if dataclasses.is_dataclass(kind) and getattr(kind, "__lt__") is _OBJECT_LT:  # noqa: B009
        return (1, _fields_form(value, exact_form))
    try:
        hash(value)
    except TypeError:
        return (1, _unhashable_form(value, exact_form))
    return (1, value)


def _fields_form(value: Any, form: NormFn = key_form) -> Hashable:
    fields = tuple(form(getattr(value, f.name)) for f in dataclasses.fields(value))
    return (type(value).__qualname__, fields)


def _unhashable_form(value: Any, form: NormFn = key_form) -> Hashable:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields_form(value, form)
    if isinstance(value, dict):
        return tuple(sorted(((form(k), form(v)) for k, v in value.items()), key=repr))
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(map(form, value), key=repr))
    if isinstance(value, bytearray):
        return bytes(value)
    raise UnindexableValue(
        f"cannot index a value of type {type(value).__name__} ({value!r}): it is not hashable; "
        "represent it as a tuple, list, frozen dataclass or other hashable value"
    )


def is_raw_column(ty: AlgebraicType) -> bool:
    """True when values of this type can be used as keys unchanged.

    Primitives are plain Python values; Identity, ConnectionId, Timestamp, TimeDuration and Uuid
    are `spacetimedb.sats.special` classes that are hashable, ordered and never None.
    """
    return isinstance(ty, PrimitiveType) or (isinstance(ty, ProductType) and ty in SPECIAL_PRODUCTS)


def row_form(row: Row) -> Hashable:
    """The tuple of the key forms of a row's values (floats by value, not an identity)."""
    return tuple(map(key_form, row))


def exact_row_form(row: Row) -> Hashable:
    """The byte-exact identity of a row that may hold unhashable values or nested floats."""
    return tuple(map(exact_form, row))


def is_key_raw_column(ty: AlgebraicType) -> bool:
    """Like `is_raw_column` for index keys: float columns go through `key_form`, which makes every
    NaN one key (Python floats as keys would make each NaN object its own key)."""
    return is_raw_column(ty) and not is_float_column(ty)


def is_float_column(ty: AlgebraicType) -> bool:
    return isinstance(ty, PrimitiveType) and ty.kind in (Primitive.F32, Primitive.F64)


def row_identity_fn(raw: tuple[bool, ...], floats: tuple[bool, ...]) -> KeyFn | None:
    """Row -> its byte-exact identity, for a table whose columns are `raw` (usable as keys as
    they are) and primitive `floats`; None when the row itself is its identity (no floats, all raw)."""
    if not all(raw):
        return exact_row_form
    if not any(floats):
        return None
    # Generated once per table: a tuple display with the float columns packed, no per-column loop.
    items = "".join(f"_bits(r[{i}]), " if f else f"r[{i}], " for i, f in enumerate(floats))
    env: dict[str, Any] = {"_bits": _F64_BITS}
    exec(f"def identity(r):\n    return ({items})", env)
    fn: KeyFn = env["identity"]
    return fn


def make_key_fn(columns: tuple[int, ...], raw: tuple[bool, ...]) -> KeyFn:
    """Row -> index key: the column value for one column, a tuple of values for several."""
    if all(raw):
        # itemgetter runs in C: a bare value for one column, a tuple for several.
        return operator.itemgetter(*columns)
    if len(columns) == 1:
        col = columns[0]
        return lambda row: key_form(row[col])
    forms: tuple[tuple[int, bool], ...] = tuple(zip(columns, raw, strict=True))
    return lambda row: tuple(row[c] if r else key_form(row[c]) for c, r in forms)


def make_norm_fn(raw: tuple[bool, ...]) -> NormFn | None:
    """User key -> index key (None when keys are used unchanged)."""
    if all(raw):
        return None
    if len(raw) == 1:
        return key_form
    return lambda key: tuple(v if r else key_form(v) for v, r in zip(key, raw, strict=False))


def norm_prefix(prefix: tuple[Any, ...], raw: tuple[bool, ...]) -> tuple[Any, ...]:
    """Normalise the first len(prefix) values of a multi-column key."""
    return tuple(v if r else key_form(v) for v, r in zip(prefix, raw, strict=False))


def norm_value(value: Any, raw: bool) -> Any:
    return value if raw else key_form(value)
